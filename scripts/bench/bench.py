#!/usr/bin/env python3
"""api-cannon's benchmark: itself beside wrk and oha (when installed), interleaved.

Every client runs pinned to CPU 1 (servers run on CPU 0, started by bench.sh). CPU time
comes from the kernel's rusage of the child (os.wait4). Peak RSS is the process's VmHWM,
polled from /proc: rusage's ru_maxrss would carry the forking Python's own RSS over exec.

Sections (all by default; pick with --sections):
  closed    50 keep-alive connections, closed loop: req/s, client CPU per request, peak RSS
  conns     peak RSS at 2000 connections
  overhead  concurrency 1 against a fixed 10 ms server delay: p50 / p99 above 10 ms
  rate      --rate 10000 for 10 s: requests sent vs due, schedule-lag p99
  flat      peak RSS of a 100,000-request run vs a 10,000,000-request run
  metrics   client CPU per request of a closed loop (50 connections) with --metrics-listen
            scraped every second, against the same run without it
  endpoints peak RSS and client CPU of 10, 100, 500 and 1,000 endpoints at -c 1 -n 20 --sleep 10ms with as
            many worker threads as this machine has cores (the default, unpinned), and of
            500 endpoints with --threads 32 (a 32-core load machine's default); all on CPU 1
  h2        HTTP/2 (h2c, prior knowledge) against nginx, closed loop, 50 connections with one
            request at a time each: api-cannon --http2 beside oha --http2 (wrk has no HTTP/2)
  shapes    client CPU per HTTP request of a plain target, a templated one, a two-step
            flow with a capture, a response with Server-Timing and a request ID (read into
            server_ms), the same with --log-requests, and a target signed with AWS SigV4
            (api-cannon only; 50 connections, closed loop)
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import socket
import tempfile
import threading
import time
import urllib.request


def measure(argv):
    """Runs argv pinned to CPU 1; returns (stdout, cpu seconds, peak RSS MiB)."""
    with tempfile.TemporaryFile(mode="w+") as out_file:
        proc = subprocess.Popen(["taskset", "-c", "1", *argv], stdout=out_file, stderr=subprocess.DEVNULL)
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        out_file.seek(0)
        out = out_file.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    return out, usage.ru_utime + usage.ru_stime, peak_kib / 1024


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cannon(args, url, connections, seconds, extra=()):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        _, cpu, rss = measure([args.cannon, "run", url, "-c", str(connections), "-z", f"{seconds}s",
                               "--threads", "1", "-q", "-o", f.name, *extra])
        r = json.load(open(f.name))
    e = r["endpoints"][0]
    return dict(requests=r["totals"]["requests"], seconds=r["run"]["elapsed_s"], cpu=cpu, rss=rss,
                p50=e["latency_ms"]["p50"], p99=e["latency_ms"]["p99"], results=r)


def to_ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(args, url, connections, seconds, extra=()):
    out, cpu, rss = measure(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url])
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    pct = dict((p, to_ms(v, u)) for p, v, u in re.findall(r"^\s+(50|99)\.000%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    if not pct:
        pct = dict((p, to_ms(v, u)) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    return dict(requests=int(m.group(1)), seconds=float(m.group(2)) / (1000 if m.group(3) == "ms" else 1),
                cpu=cpu, rss=rss, p50=pct.get("50"), p99=pct.get("99"))


def oha(args, url, connections, seconds, extra=()):
    out, cpu, rss = measure(["oha", "-c", str(connections), "-z", f"{seconds}s", "--no-tui",
                             "--output-format", "json", *extra, url])
    r = json.loads(out)
    s = r["summary"]
    pct = r.get("latencyPercentiles", {})
    ms = lambda v: None if v is None else v * 1e3
    total = sum(r.get("statusCodeDistribution", {}).values())
    return dict(requests=total, seconds=s["total"], cpu=cpu, rss=rss, p50=ms(pct.get("p50")), p99=ms(pct.get("p99")))


def median(samples, key):
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def closed(args, tools):
    samples = {n: [] for n in tools}
    for r in range(args.rounds):
        for name, fn in tools.items():
            s = fn(args, args.url, 50, args.seconds)
            s["rps"], s["us"] = s["requests"] / s["seconds"], s["cpu"] / s["requests"] * 1e6
            samples[name].append(s)
            print(f"  closed round {r + 1} {name:<10} {s['rps']:>9.0f} req/s {s['us']:>6.2f} µs/req {s['rss']:>6.1f} MiB", flush=True)
    return {n: {k: median(v, k) for k in ("rps", "us", "rss")} for n, v in samples.items()}


def conns(args, tools):
    samples = {n: [] for n in tools}
    for _ in range(args.rounds):
        for name, fn in tools.items():
            samples[name].append(fn(args, args.url, 2000, min(args.seconds, 5)))
    return {n: {"rss2000": median(v, "rss")} for n, v in samples.items()}


def overhead(args, tools):
    samples = {n: [] for n in tools}
    for _ in range(args.rounds):
        for name, fn in tools.items():
            s = fn(args, args.delay_url, 1, args.seconds)
            samples[name].append({"p50": s["p50"] and s["p50"] * 1e3 - 10_000, "p99": s["p99"] and s["p99"] * 1e3 - 10_000})
    return {n: {"over_p50": median(v, "p50"), "over_p99": median(v, "p99")} for n, v in samples.items()}


def rate(args):
    s = cannon(args, args.url, 1, 10, extra=("--rate", "10000"))
    r = s["results"]
    lag = r["run"]["health"]["schedule_lag_ms"]
    return s["requests"], lag["p99"], r["run"]["health"]["late_requests"]


TIMED = '[[target]]\nname = "timed"\nurl = "TIMED"\nserver_time = "server-timing:app"\n'

# name: (targets file, extra arguments; LOG stands for a log file in the run's folder)
SHAPES = {
    "plain target": ('[[target]]\nname = "hello"\nurl = "URL"\n', ()),
    "templated target": ('[[target]]\nname = "hello"\nurl = "URL?trace={{uuid}}&n={{seq}}"\n', ()),
    "2-step flow, capture": (
        '[[flow]]\nname = "pair"\n'
        '[[flow.step]]\nname = "first"\nurl = "URL"\ncapture = { m = "/message" }\n'
        '[[flow.step]]\nname = "second"\nurl = "URL?m={{m}}"\n',
        (),
    ),
    "Server-Timing": (TIMED, ()),
    "Server-Timing + log": (TIMED, ("--log-requests", "LOG")),
    "SigV4 signed": (
        '[[target]]\nname = "hello"\nurl = "URL"\n'
        'aws_sigv4 = { region = "us-east-1", service = "execute-api" }\n',
        (),
    ),
}

# The AWS documentation's example credentials: the benchmark's server checks nothing.
SIGV4_ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def shapes(args):
    """Median client CPU µs per HTTP request of each shape, and req/s, interleaved."""
    samples = {name: [] for name in SHAPES}
    # Read only by targets that sign: the others run exactly as without them.
    os.environ.update(SIGV4_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        timed = args.url.replace("/hello", "/timed")
        for r in range(args.rounds):
            for name, (toml, extra) in SHAPES.items():
                path = os.path.join(tmp, "targets.toml")
                with open(path, "w") as f:
                    f.write(toml.replace("TIMED", timed).replace("URL", args.url))
                out = os.path.join(tmp, "results.json")
                extra = [os.path.join(tmp, "requests.ndjson") if a == "LOG" else a for a in extra]
                _, cpu, _ = measure([args.cannon, "run", "--targets", path, "-c", "50", "-z", f"{args.seconds}s",
                                     "--threads", "1", "-q", "-o", out, *extra])
                res = json.load(open(out))
                requests = res["totals"]["requests"]
                if res["totals"]["errors"]:
                    raise SystemExit(f"bench: the {name} run had {res['totals']['errors']} errors")
                log = res["run"].get("request_log")
                if log and log["lines"] + log["dropped"] != requests:
                    raise SystemExit(f"bench: the {name} run logged {log} of {requests} requests")
                if log and log["dropped"]:
                    print(f"  shapes: {log['dropped']} log lines dropped (the writer fell behind)", flush=True)
                s = {"us": cpu / requests * 1e6, "rps": requests / res["run"]["elapsed_s"]}
                samples[name].append(s)
                print(f"  shapes round {r + 1} {name:<22} {s['rps']:>9.0f} req/s {s['us']:>6.2f} µs/req", flush=True)
    return {n: {k: median(v, k) for k in ("us", "rps")} for n, v in samples.items()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scraped(args, url, seconds):
    """A closed-loop run with --metrics-listen, scraped every second by a thread."""
    port = free_port()
    stop = threading.Event()
    scrapes = []

    def scrape():
        while not stop.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    scrapes.append(len(r.read()))
            except OSError:
                pass

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        s = cannon(args, url, 50, seconds, extra=("--metrics-listen", f"127.0.0.1:{port}"))
    finally:
        stop.set()
        scraper.join()
    if len(scrapes) < seconds - 2:
        raise SystemExit(f"bench: only {len(scrapes)} scrapes answered in a {seconds} s run")
    return s


def metrics(args):
    """Median client CPU µs per request without and with the metrics endpoint scraped."""
    samples = {"plain": [], "scraped": []}
    for r in range(args.rounds):
        for name, fn in (("plain", lambda: cannon(args, args.url, 50, args.seconds)),
                         ("scraped", lambda: scraped(args, args.url, args.seconds))):
            s = fn()
            us = s["cpu"] / s["requests"] * 1e6
            samples[name].append(us)
            print(f"  metrics round {r + 1} {name:<8} {s['requests'] / s['seconds']:>9.0f} req/s {us:>6.2f} µs/req", flush=True)
    return {n: statistics.median(v) for n, v in samples.items()}


def flat(args):
    out = {}
    for n in (100_000, 10_000_000):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            _, _, rss = measure([args.cannon, "run", args.url, "-c", "50", "-n", str(n // 50), "--threads", "1", "-q", "-o", f.name])
        out[n] = rss
    return out


def many_endpoints(args, count, threads):
    """Peak RSS (MiB) and CPU (s) of `count` endpoints fired at -c 1 -n 20 --sleep 10ms."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "targets.toml")
        with open(path, "w") as f:
            for i in range(count):
                f.write(f'[[target]]\nname = "route-{i}"\nurl = "{args.url}?route={i}"\n')
        out = os.path.join(tmp, "results.json")
        # --sleep: 20 iterations of ≥ 10 ms, so the run lasts long enough for VmHWM's polls.
        _, cpu, rss = measure([args.cannon, "run", "--targets", path, "-c", "1", "-n", "20", "--sleep", "10ms",
                               "--threads", str(threads), "-q", "-o", out])
        res = json.load(open(out))
    if res["totals"]["requests"] != count * 20 or res["totals"]["errors"]:
        raise SystemExit(f"bench: {count} endpoints sent {res['totals']['requests']} requests, {res['totals']['errors']} errors")
    return {"rss": rss, "cpu": cpu}


def endpoints(args):
    """Median peak RSS and CPU per endpoint count, interleaved."""
    cores = os.cpu_count() or 1
    cases = [(10, cores), (100, cores), (500, cores), (1000, cores), (500, 32)]
    samples = {c: [] for c in cases}
    for r in range(args.rounds):
        for count, threads in cases:
            s = many_endpoints(args, count, threads)
            samples[(count, threads)].append(s)
            label = f"{count} endpoints, --threads {threads}"
            print(f"  endpoints round {r + 1} {label:<28} {s['rss']:>7.1f} MiB {s['cpu']:>6.2f} s CPU", flush=True)
    return {c: {k: median(v, k) for k in ("rss", "cpu")} for c, v in samples.items()}


def h2(args):
    """Median req/s, CPU µs per request and peak RSS over HTTP/2, interleaved."""
    tools = {"api-cannon": cannon}
    if shutil.which("oha"):
        tools["oha"] = oha
    samples = {n: [] for n in tools}
    for r in range(args.rounds):
        for name, fn in tools.items():
            s = fn(args, args.h2_url, 50, args.seconds, extra=("--http2",))
            if name == "api-cannon" and s["results"]["endpoints"][0].get("http_version") != "HTTP/2":
                raise SystemExit(f"bench: the h2 run answered in {s['results']['endpoints'][0].get('http_version')}")
            s["rps"], s["us"] = s["requests"] / s["seconds"], s["cpu"] / s["requests"] * 1e6
            samples[name].append(s)
            print(f"  h2 round {r + 1} {name:<10} {s['rps']:>9.0f} req/s {s['us']:>6.2f} µs/req {s['rss']:>6.1f} MiB", flush=True)
    return {n: {k: median(v, k) for k in ("rps", "us", "rss")} for n, v in samples.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--url", required=True)
    p.add_argument("--delay-url", required=True)
    p.add_argument("--h2-url", required=True)
    p.add_argument("--cannon", required=True)
    p.add_argument("--sections", default="closed,conns,overhead,rate,flat,endpoints,h2,shapes,metrics")
    args = p.parse_args()
    sections = args.sections.split(",")

    tools = {"api-cannon": cannon}
    for name, fn in (("wrk", wrk), ("oha", oha)):
        if shutil.which(name):
            tools[name] = fn
    table = {n: {} for n in tools}
    if "closed" in sections:
        print("closed loop, 50 connections:", flush=True)
        for n, v in closed(args, tools).items():
            table[n].update(v)
    if "conns" in sections:
        print("2000 connections...", flush=True)
        for n, v in conns(args, tools).items():
            table[n].update(v)
    if "overhead" in sections:
        print("concurrency 1 over a 10 ms delay...", flush=True)
        for n, v in overhead(args, tools).items():
            table[n].update(v)

    print(f"\nmedians of {args.rounds} interleaved rounds; clients on CPU 1, servers on CPU 0; {args.seconds} s runs")
    print("| tool | req/s | client CPU µs/request | peak RSS at 50 conns | peak RSS at 2000 conns | p50 / p99 above a 10 ms delay, c=1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, v in table.items():
        print(f"| {n} | {fmt(v.get('rps'), ',.0f')} | {fmt(v.get('us'), '.2f')} | {fmt(v.get('rss'), '.1f')} MiB"
              f" | {fmt(v.get('rss2000'), '.1f')} MiB | +{fmt(v.get('over_p50'), '.0f')} / +{fmt(v.get('over_p99'), '.0f')} µs |")
    me = table["api-cannon"]
    for peer in ("wrk", "oha"):
        if peer not in table:
            continue
        v = table[peer]
        ratio = lambda a, b: "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"
        print(f"api-cannon ÷ {peer}: req/s ×{ratio(me.get('rps'), v.get('rps'))}, CPU/request ×{ratio(me.get('us'), v.get('us'))},"
              f" RSS@2000 ×{ratio(me.get('rss2000'), v.get('rss2000'))}, p50 overhead ×{ratio(me.get('over_p50'), v.get('over_p50'))},"
              f" p99 overhead ×{ratio(me.get('over_p99'), v.get('over_p99'))}")
    if "rate" in sections:
        sent, lag_p99, late = rate(args)
        print(f"rate: --rate 10000 -z 10s sent {sent} of 100000 due ({(sent - 100000) / 1000:+.2f}%), schedule-lag p99 {lag_p99} ms, {late} late (> 1 ms)")
    if "flat" in sections:
        rss = flat(args)
        small, big = rss[100_000], rss[10_000_000]
        print(f"flat: peak RSS {small:.1f} MiB at 100,000 requests, {big:.1f} MiB at 10,000,000 ({(big / small - 1) * 100:+.1f}%)")
    if "endpoints" in sections:
        print("many endpoints, -c 1 -n 20 --sleep 10ms each (api-cannon):", flush=True)
        for (count, threads), v in endpoints(args).items():
            label = f"{count:,} endpoints, --threads {threads}"
            print(f"endpoints: {label:<30} peak RSS {v['rss']:>7.1f} MiB, {v['cpu']:.2f} s CPU")
    if "h2" in sections:
        print("HTTP/2 (h2c), closed loop, 50 connections:", flush=True)
        result = h2(args)
        for n, v in result.items():
            print(f"h2: {n:<10} {v['rps']:>9,.0f} req/s {v['us']:>6.2f} µs CPU per request {v['rss']:>6.1f} MiB peak RSS")
        if "oha" in result:
            me, peer = result["api-cannon"], result["oha"]
            print(f"h2: api-cannon ÷ oha: req/s ×{me['rps'] / peer['rps']:.2f}, CPU/request ×{me['us'] / peer['us']:.2f}")
    if "metrics" in sections:
        print("metrics endpoint scraped every second vs none (api-cannon, 50 connections):", flush=True)
        m = metrics(args)
        print(f"metrics: {m['plain']:.2f} µs CPU per request without, {m['scraped']:.2f} with --metrics-listen scraped"
              f" every second (×{m['scraped'] / m['plain']:.3f})")
    if "shapes" in sections:
        print("request shapes (api-cannon, 50 connections):", flush=True)
        result = shapes(args)
        base = result["plain target"]["us"]
        for name, v in result.items():
            print(f"shapes: {name:<22} {v['rps']:>9,.0f} req/s {v['us']:>6.2f} µs CPU per HTTP request (×{v['us'] / base:.2f} of plain)")


if __name__ == "__main__":
    main()

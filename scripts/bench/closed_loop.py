#!/usr/bin/env python3
"""Runs api-cannon and its peers in turn against one URL and reports medians.

Each run is pinned to CPU 1. CPU time comes from the kernel's rusage of the child
(os.wait4). Peak RSS is the process's VmHWM, polled from /proc: rusage's ru_maxrss would
carry over the forking Python's own RSS across exec and report ~15 MiB for every tool.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time


def measure(argv):
    """Runs argv pinned to CPU 1; returns (stdout, cpu seconds, peak RSS MiB, wall seconds)."""
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out_file:
        proc = subprocess.Popen(["taskset", "-c", "1", *argv], stdout=out_file, stderr=subprocess.DEVNULL)
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        out = out_file.read()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed with status {status}")
    return out, usage.ru_utime + usage.ru_stime, peak_kib / 1024, wall


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_cannon(args):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        _, cpu, rss, _ = measure([args.cannon, "run", args.url, "-c", str(args.connections), "-z", f"{args.seconds}s",
                                  "--threads", "1", "-q", "-o", f.name])
        results = json.load(open(f.name))
    return results["totals"]["requests"], results["run"]["elapsed_s"], cpu, rss


def run_wrk(args):
    out, cpu, rss, _ = measure(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", args.url])
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    seconds = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    return int(m.group(1)), seconds, cpu, rss


def run_oha(args):
    out, cpu, rss, _ = measure(["oha", "-c", str(args.connections), "-z", f"{args.seconds}s", "--no-tui",
                                "--output-format", "json", args.url])
    summary = json.loads(out)["summary"]
    total = summary["total"]
    return round(summary["requestsPerSec"] * total), total, cpu, rss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--url", required=True)
    p.add_argument("--cannon", required=True)
    args = p.parse_args()

    tools = {"api-cannon": run_cannon}
    if shutil.which("wrk"):
        tools["wrk"] = run_wrk
    if shutil.which("oha"):
        tools["oha"] = run_oha
    samples = {name: [] for name in tools}
    for r in range(args.rounds):
        for name, fn in tools.items():
            requests, seconds, cpu, rss = fn(args)
            rps, us = requests / seconds, cpu / requests * 1e6
            samples[name].append((rps, us, rss))
            print(f"round {r + 1} {name:<10} {rps:>10.0f} req/s {us:>7.2f} µs CPU/req {rss:>7.1f} MiB", flush=True)

    med = {n: tuple(statistics.median(s[i] for s in v) for i in range(3)) for n, v in samples.items()}
    print(f"\nmedians of {args.rounds} interleaved rounds, {args.connections} connections, {args.seconds} s, client on CPU 1")
    print(f"| tool | req/s | client CPU µs/request | peak RSS MiB |")
    print(f"|---|---:|---:|---:|")
    for name, (rps, us, rss) in med.items():
        print(f"| {name} | {rps:,.0f} | {us:.2f} | {rss:.1f} |")
    cannon = med["api-cannon"]
    for peer in ("wrk", "oha"):
        if peer in med:
            rps, us, rss = med[peer]
            print(f"api-cannon / {peer}: req/s ×{cannon[0] / rps:.2f}, CPU per request ×{cannon[1] / us:.2f}, RSS ×{cannon[2] / rss:.2f}")


if __name__ == "__main__":
    main()

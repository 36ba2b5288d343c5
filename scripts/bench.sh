#!/usr/bin/env bash
# api-cannon's benchmark: against nginx (static JSON) and the demo API's fixed delay on
# 127.0.0.1, side by side with whichever of wrk and oha are installed, interleaved; servers
# pinned to CPU 0, clients to CPU 1. Prints the table of issue #3 with ratios.
#
#   scripts/bench.sh                                  # every section, 3 rounds of 10 s
#   ROUNDS=1 SECONDS_PER_RUN=5 SECTIONS=closed scripts/bench.sh
#
# Needs nginx (Debian: nginx-light); wrk (Debian: wrk) and oha (cargo install oha --locked)
# are optional peers. Only 127.0.0.1 is ever targeted; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
SECTIONS=${SECTIONS:-closed,conns,overhead,rate,flat,endpoints,h2,shapes,metrics}
NGINX_DIR=/tmp/bench-nginx

if ! command -v nginx >/dev/null; then
    echo "bench: nginx is not installed (Debian: apt-get install nginx-light)" >&2
    exit 2
fi
cargo build --release --locked --quiet

mkdir -p "$NGINX_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
taskset -c 0 nginx -c "$PWD/scripts/bench/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
taskset -c 0 target/release/api-cannon demo --serve --port 18081 2>/dev/null &
DEMO_PID=$!
trap 'kill $NGINX_PID $DEMO_PID 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -fs http://127.0.0.1:18080/hello >/dev/null 2>&1 && curl -fs http://127.0.0.1:18081/hello >/dev/null 2>&1 && break
    sleep 0.1
done

python3 scripts/bench/bench.py \
    --rounds "$ROUNDS" --seconds "$SECONDS_PER_RUN" --sections "$SECTIONS" \
    --url http://127.0.0.1:18080/hello --delay-url http://127.0.0.1:18081/delay/10ms \
    --h2-url http://127.0.0.1:18082/hello \
    --cannon target/release/api-cannon

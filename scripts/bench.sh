#!/usr/bin/env bash
# Closed-loop throughput benchmark: api-cannon against nginx on 127.0.0.1, side by side with
# whichever of wrk and oha are installed, interleaved, server pinned to CPU 0 and client to
# CPU 1. Prints req/s, client CPU per request and peak RSS (medians), and ratios.
#
#   scripts/bench.sh                       # 3 rounds of 10 s, 50 connections
#   ROUNDS=5 SECONDS_PER_RUN=20 CONNECTIONS=100 scripts/bench.sh
#
# Needs nginx (Debian: nginx-light); wrk (Debian: wrk) and oha (cargo install oha --locked)
# are optional peers. Only 127.0.0.1 is ever targeted.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
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
trap 'kill $NGINX_PID 2>/dev/null || true; wait $NGINX_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -fs http://127.0.0.1:18080/hello >/dev/null 2>&1 && break
    sleep 0.1
done

python3 scripts/bench/closed_loop.py \
    --rounds "$ROUNDS" --seconds "$SECONDS_PER_RUN" --connections "$CONNECTIONS" \
    --url http://127.0.0.1:18080/hello --cannon target/release/api-cannon

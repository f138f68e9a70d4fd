#!/usr/bin/env bash
# Benchmark of the registry at fleet scale: 1M devices × 2 apps against 1k devices × 2
# apps. Prints memory per token, lookups per second on one core and start-to-ready time
# (bench/fixtures/src/bin/registry_scale.rs), then provider-API throughput with each
# registry loaded (h2load, 4 connections × 100 streams, server and h2load on different
# cores), as Markdown for BENCHMARKS.md.
#
# Usage: bench/registry-scale.sh [devices, default 1000000] [seconds per run, default 5] [rounds, default 3]
source "$(dirname "$0")/common.sh"
N=${1:-1000000}
SECS=${2:-5}
ROUNDS=${3:-3}

cargo build --release -q -p bench-fixtures --bin registry_scale

taskset -c 0 target/release/registry_scale "$work/big" "$N"
echo
taskset -c 0 target/release/registry_scale "$work/small" 1000 >/dev/null

start() { # NAME -> sets URL_NAME TOKEN_NAME JWT_NAME (the data dir $work/NAME is filled already)
  local name=$1
  serve "$name"
  local ready; ready=$(cat "$work/$name.ready")
  local admin; admin=$(jq -r .admin <<<"$ready")
  eval "URL_$name=$(jq -r .sandbox <<<"$ready")"
  eval "TOKEN_$name=$(curl -sf "$admin/api/v1/devices?limit=1" | jq -r '.[0].apps[0].token')"
  eval "JWT_$name=$(jwt "$work/$name.ready")"
}
start big
start small
payload "$work/payload.json"

run() { # URL TOKEN JWT -> req/s
  taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" --warm-up-time 1 -d "$work/payload.json" \
    -H "authorization: bearer $3" -H "apns-topic: com.example.chat" -H "apns-push-type: alert" \
    "$1/3/device/$2" 2>&1 | grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1
}
: >"$work/big.runs"; : >"$work/small.runs"
for _ in $(seq "$ROUNDS"); do
  run "$URL_small" "$TOKEN_small" "$JWT_small" >>"$work/small.runs"
  run "$URL_big" "$TOKEN_big" "$JWT_big" >>"$work/big.runs"
done
small=$(median <"$work/small.runs"); big=$(median <"$work/big.runs")
echo "| registered | provider API req/s (4×100, median of $ROUNDS) |"
echo "|---|---|"
echo "| 1 000 devices × 2 apps | $small |"
echo "| $N devices × 2 apps | $big |"
echo
echo "throughput with $N devices: $(python3 -c "print(f'{$big/$small:.2f}')")× that with 1 000"

#!/usr/bin/env bash
# Benchmark of the registry at fleet scale: 1M devices × 2 apps against 1k devices × 2
# apps. Prints memory per token, lookups per second on one core and start-to-ready time
# (mock-apns/examples/registry_scale.rs), then provider-API throughput with each
# registry loaded (h2load, 4 connections × 100 streams, server and h2load on different
# cores), as Markdown for BENCHMARKS.md.
#
# Usage: bench/registry-scale.sh [devices, default 1000000] [seconds per run, default 5] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SECS=${2:-5}
ROUNDS=${3:-3}

if ! command -v h2load >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client
fi
cargo build --release -q --bin apns-lab
cargo build --release -q -p mock-apns --example registry_scale

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

taskset -c 0 target/release/examples/registry_scale "$work/big" "$N"
echo
taskset -c 0 target/release/examples/registry_scale "$work/small" 1000 >/dev/null

start() { # DIR NAME -> sets URL_NAME TOKEN_NAME JWT_NAME
  local dir=$1 name=$2
  taskset -c 0 target/release/apns-lab serve --data-dir "$dir" \
    --sandbox-addr 127.0.0.1:0 --production-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 >"$work/$name.ready" 2>/dev/null &
  pids+=($!)
  until [ -s "$work/$name.ready" ]; do kill -0 "${pids[-1]}" 2>/dev/null || { echo "serve failed" >&2; exit 1; }; sleep 0.1; done
  local ready; ready=$(cat "$work/$name.ready")
  local admin; admin=$(jq -r .admin <<<"$ready")
  eval "URL_$name=$(jq -r .sandbox <<<"$ready")"
  eval "TOKEN_$name=$(curl -sf "$admin/api/v1/devices?limit=1" | jq -r '.[0].apps[0].token')"
  eval "JWT_$name=$(target/release/apns-lab token --key-file "$(jq -r .key_file <<<"$ready")" --key-id "$(jq -r .key_id <<<"$ready")" --team-id "$(jq -r .team_id <<<"$ready")")"
}
start "$work/big" big
start "$work/small" small
printf '{"aps":{"alert":{"title":"Bench","body":"%s"},"sound":"default"},"id":1}' "$(printf 'x%.0s' $(seq 130))" >"$work/payload.json"

run() { # URL TOKEN JWT -> req/s
  taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" --warm-up-time 1 -d "$work/payload.json" \
    -H "authorization: bearer $3" -H "apns-topic: com.example.chat" -H "apns-push-type: alert" \
    "$1/3/device/$2" 2>&1 | grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
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

#!/usr/bin/env bash
# The provider's client against h2load, both sending 100k notifications to the same mock
# in the same run (mock on core 0, the sender on core 1), over 1 and 4 connections with
# 100 streams each. Prints a Markdown table for BENCHMARKS.md.
#
# Usage: bench/client.sh [notifications, default 100000] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
ROUNDS=${2:-3}
if ! command -v h2load >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client
fi
cargo build --release -q --bin apns-lab
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
taskset -c 0 target/release/apns-lab serve --data-dir "$work/state" --sandbox-addr 127.0.0.1:0 --production-addr 127.0.0.1:0 \
  --admin-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 >"$work/ready" 2>/dev/null &
pids+=($!)
until [ -s "$work/ready" ]; do sleep 0.1; done
READY=$(cat "$work/ready")
ADMIN=$(jq -r .admin <<<"$READY")
TOKEN=$(curl -sf -X POST "$ADMIN/api/v1/devices" -d '{"apps":[{"bundle_id":"com.example.bench"}]}' | jq -r '.apps[0].token')
JWT=$(target/release/apns-lab token --key-file "$(jq -r .key_file <<<"$READY")" --key-id "$(jq -r .key_id <<<"$READY")" --team-id "$(jq -r .team_id <<<"$READY")")
PAYLOAD=$(printf '{"aps":{"alert":{"title":"Bench","body":"%s"},"sound":"default"},"id":1}' "$(printf 'x%.0s' $(seq 130))")
printf '%s' "$PAYLOAD" >"$work/payload"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
h2load_rate() {
  taskset -c 1 h2load -c "$1" -m 100 -t 1 -n "$N" -d "$work/payload" -H "authorization: bearer $JWT" \
    -H "apns-topic: com.example.bench" -H "apns-push-type: alert" "$(jq -r .sandbox <<<"$READY")/3/device/$TOKEN" 2>&1 |
    grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1
}
client_rate() {
  taskset -c 1 target/release/apns-lab send --mock-ready "$work/ready" --topic com.example.bench --push-type alert \
    --payload "$PAYLOAD" --count "$N" --connections "$1" "$TOKEN" | grep -oE '[0-9]+/s' | tr -d '/s'
}
echo "| connections × streams | h2load req/s | apns-lab send req/s | ratio |"
echo "|---|---|---|---|"
for c in 1 4; do
  : >"$work/h.$c"; : >"$work/c.$c"
  for _ in $(seq "$ROUNDS"); do
    h2load_rate "$c" >>"$work/h.$c"
    client_rate "$c" >>"$work/c.$c"
  done
  h=$(median <"$work/h.$c"); k=$(median <"$work/c.$c")
  echo "| $c × 100 | $h | $k | $(python3 -c "print(f'{$k/$h:.2f}')")× |"
done

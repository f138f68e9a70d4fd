#!/usr/bin/env bash
# The provider's client against h2load, both sending 100k notifications to the same mock
# in the same run (mock on core 0, the sender on core 1), over 1 and 4 connections with
# 100 streams each. Prints a Markdown table for BENCHMARKS.md.
#
# Usage: bench/client.sh [notifications, default 100000] [rounds, default 3]
source "$(dirname "$0")/common.sh"
N=${1:-100000}
ROUNDS=${2:-3}
serve state
READY=$(cat "$work/state.ready")
ADMIN=$(jq -r .admin <<<"$READY")
TOKEN=$(curl -sf -X POST "$ADMIN/api/v1/devices" -d '{"apps":[{"bundle_id":"com.example.bench"}]}' | jq -r '.apps[0].token')
JWT=$(jwt "$work/state.ready")
payload "$work/payload"
PAYLOAD=$(cat "$work/payload")
h2load_rate() {
  taskset -c 1 h2load -c "$1" -m 100 -t 1 -n "$N" -d "$work/payload" -H "authorization: bearer $JWT" \
    -H "apns-topic: com.example.bench" -H "apns-push-type: alert" "$(jq -r .sandbox <<<"$READY")/3/device/$TOKEN" 2>&1 |
    grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1
}
client_rate() {
  taskset -c 1 target/release/apns-lab send --mock-ready "$work/state.ready" --topic com.example.bench --push-type alert \
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

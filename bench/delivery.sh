#!/usr/bin/env bash
# End-to-end benchmark: provider API → delivery engine → N connected simulated phones
# (one process, `apns-lab device fleet`) → present → ack, all on this machine. The mock
# is pinned to core 0; h2load and the fleet share core 1. Reports sustained deliveries per
# second at full load, and latency from APNs accepting a push to the phone presenting it
# at a fixed rate.
#
# Usage: bench/delivery.sh [phones, default 10000] [seconds, default 10] [rate for the latency run, default 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
SECS=${2:-10}
RATE=${3:-10000}

if ! command -v h2load >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client
fi
ulimit -n 65536 2>/dev/null || true
cargo build --release -q --bin apns-lab

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

taskset -c 0 target/release/apns-lab serve --data-dir "$work/state" --sandbox-addr 127.0.0.1:0 \
  --production-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 >"$work/ready" 2>"$work/mock.log" &
pids+=($!)
mock=$!
until [ -s "$work/ready" ]; do sleep 0.1; done
READY=$(cat "$work/ready")
taskset -c 1 target/release/apns-lab device fleet --gateway "$(jq -r .gateway <<<"$READY")" --ca "$(jq -r .ca_file <<<"$READY")" \
  --count "$N" --app com.example.chat --tokens-out "$work/tokens" >"$work/stats" 2>"$work/fleet.log" &
pids+=($!)
until [ -s "$work/tokens" ]; do sleep 0.2; done
cat "$work/fleet.log"
SANDBOX=$(jq -r .sandbox <<<"$READY")
awk -v s="$SANDBOX" '{print s "/3/device/" $3}' "$work/tokens" >"$work/uris"
JWT=$(target/release/apns-lab token --key-file "$(jq -r .key_file <<<"$READY")" --key-id "$(jq -r .key_id <<<"$READY")" --team-id "$(jq -r .team_id <<<"$READY")")
printf '{"aps":{"alert":{"title":"Bench","body":"%s"},"sound":"default"},"id":1}' "$(printf 'x%.0s' $(seq 130))" >"$work/payload"

cpu() { awk '{print $14+$15}' "/proc/$mock/stat"; }   # utime+stime in clock ticks
push() { # EXTRA_H2LOAD_ARGS...
  taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" -i "$work/uris" -d "$work/payload" \
    -H "authorization: bearer $JWT" -H "apns-topic: com.example.chat" "$@" 2>&1 | grep -E "finished in|status codes"
}
# Deliveries per second while h2load runs: the median of the fleet's per-second lines.
window() { # FROM_LINE
  tail -n +"$1" "$work/stats" | jq -r '.delivered_per_s' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "## full load ($N phones, 4×100 streams, ${SECS}s)"
from=$(( $(wc -l <"$work/stats") + 2 ))
c0=$(cpu)
push
sleep 2
c1=$(cpu)
sent=$(tail -n +"$from" "$work/stats" | jq -s 'map(.delivered_per_s) | add')
echo "delivered per second: $(python3 -c "print(round($sent/$SECS))") on average over the run, $(window "$from") median of the per-second counts"
echo "mock CPU per notification: $(python3 -c "print(f'{($c1-$c0)/100/$sent*1e6:.1f} µs')") ($sent delivered)"

if [ -n "${PROFILE:-}" ]; then perf record -F 300 -g -p "$mock" -o "$PROFILE" -- sleep 5 &>/dev/null & fi
echo "## latency at $RATE/s"
from=$(( $(wc -l <"$work/stats") + 2 ))
push --rps $((RATE / 4))
sleep 2
tail -n +"$from" "$work/stats" | jq -s -r 'map(select(.delivered_per_s > 0)) | "p50 ms per second: \(map(.p50_ms) | tostring)\np99 ms per second: \(map(.p99_ms) | tostring)\ndelivered per second: \(map(.delivered_per_s) | tostring)"'

#!/usr/bin/env bash
# End-to-end benchmark: provider API → delivery engine → N connected simulated phones
# (one process, `apns-lab device fleet`) → present → ack, all on this machine. The mock
# is pinned to core 0; h2load and the fleet share core 1. h2load offers pushes at a
# series of fixed rates, then as fast as it goes; each row says how many were accepted
# and delivered per second, the worst per-second p99 latency from APNs accepting a push
# to the phone presenting it, and the CPU each notification cost the mock and the
# fleet. The sustained rate is the highest offered rate that is delivered in full with
# bounded latency. Then latency at a fixed rate.
#
# Usage: bench/delivery.sh [phones, default 10000] [seconds, default 10] [rate for the latency run, default 10000]
# RATES="30000 40000 0" overrides the offered rates (0 = as fast as h2load goes).
# SERVE_BIN=PATH runs another apns-lab binary for the mock and the fleet both (for
# example one built from another commit, as bench/crypto-provider.sh does).
source "$(dirname "$0")/common.sh"
BIN=${SERVE_BIN:-target/release/apns-lab}
N=${1:-10000}
SECS=${2:-10}
RATE=${3:-10000}

ulimit -n 65536 2>/dev/null || true

serve state
mock=$SERVE_PID
READY=$(cat "$work/state.ready")
taskset -c 1 "$BIN" device fleet --gateway "$(jq -r .gateway <<<"$READY")" --ca "$(jq -r .ca_file <<<"$READY")" \
  --count "$N" --app com.example.chat --tokens-out "$work/tokens" >"$work/stats" 2>"$work/fleet.log" &
pids+=($!)
fleet=$!
until [ -s "$work/tokens" ]; do sleep 0.2; done
cat "$work/fleet.log"
SANDBOX=$(jq -r .sandbox <<<"$READY")
awk -v s="$SANDBOX" '{print s "/3/device/" $3}' "$work/tokens" >"$work/uris"
JWT=$(jwt "$work/state.ready")
payload "$work/payload"

push() { # EXTRA_H2LOAD_ARGS...
  taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" -i "$work/uris" -d "$work/payload" \
    -H "authorization: bearer $JWT" -H "apns-topic: com.example.chat" "$@" 2>&1 | grep -E "finished in|status codes"
}
total() { tail -1 "$work/stats" | jq .total; }

# A run at one offered rate (0: as fast as h2load goes): accepted/s, delivered/s over
# the run and the 2 s after it, the worst per-second p99 latency the phones saw, and
# CPU per delivered notification of the mock and of the fleet.
run_at() { # RATE
  local rate=$1 from n0 m0 f0 out accepted n1 m1 f1 delivered p99
  from=$(( $(wc -l <"$work/stats") + 2 ))
  n0=$(total); m0=$(cpu "$mock"); f0=$(cpu "$fleet")
  if [ "$rate" -eq 0 ]; then out=$(push); else out=$(push --rps $((rate / 4))); fi
  sleep 2
  n1=$(total); m1=$(cpu "$mock"); f1=$(cpu "$fleet")
  accepted=$(grep -oE '[0-9]+ 2xx' <<<"$out" | cut -d' ' -f1)
  delivered=$((n1 - n0))
  p99=$(tail -n +"$from" "$work/stats" | jq -s 'map(.p99_ms) | max')
  python3 - "$rate" "$SECS" "$accepted" "$delivered" "$p99" "$m0" "$m1" "$f0" "$f1" <<'PY'
import sys
rate, secs, acc, dlv, p99, m0, m1, f0, f1 = (float(x) for x in sys.argv[1:])
offered = "as fast as it goes" if rate == 0 else f"{rate:,.0f}/s"
print(f"| {offered} | {acc/secs:,.0f} | {dlv/secs:,.0f} | {dlv/acc*100:.1f} % | {p99:.0f} | {(m1-m0)/100/dlv*1e6:.1f} µs | {(f1-f0)/100/dlv*1e6:.1f} µs |")
PY
}

echo "## sustained delivery ($N phones, 4×100 streams, ${SECS}s per rate)"
echo
echo "| offered | accepted/s | delivered/s | delivered ÷ accepted | worst p99 ms | mock CPU / notification | fleet CPU / notification |"
echo "|---|---|---|---|---|---|---|"
for rate in ${RATES:-30000 35000 40000 45000 50000 0}; do
  run_at "$rate"
done

if [ -n "${PROFILE:-}" ]; then perf record -F 300 -g -p "$mock" -o "$PROFILE" -- sleep 5 &>/dev/null & fi
echo
echo "## latency at $RATE/s"
from=$(( $(wc -l <"$work/stats") + 2 ))
push --rps $((RATE / 4))
sleep 2
tail -n +"$from" "$work/stats" | jq -s -r 'map(select(.delivered_per_s > 0)) | "p50 ms per second: \(map(.p50_ms) | tostring)\np99 ms per second: \(map(.p99_ms) | tostring)\ndelivered per second: \(map(.delivered_per_s) | tostring)"'

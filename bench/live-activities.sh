#!/usr/bin/env bash
# Live Activity updates against plain alerts, end to end and in the same run: N phones in
# one process (`apns-lab device fleet --activity-type`), each connected to the gateway
# and running one Live Activity. h2load sends, as fast as it goes, alerts to the phones'
# device tokens and Live Activity updates to their activities' update tokens, in
# alternating rounds; each row says how many were accepted and delivered (applied or
# presented and acknowledged by the phone) per second, and the worst per-second p99 from
# APNs accepting to the phone applying. The mock is pinned to core 0; h2load and the
# fleet share core 1. Both kinds go at priority 10; past the phone's budget of 12 an hour
# an update is deferred (acknowledged as updated, applied when the hour ends) — the
# mock's work per push is the same either way.
#
# Usage: bench/live-activities.sh [phones, default 10000] [seconds, default 10] [rounds, default 3]
source "$(dirname "$0")/common.sh"
N=${1:-10000}
SECS=${2:-10}
ROUNDS=${3:-3}

ulimit -n 65536 2>/dev/null || true

serve state
READY=$(cat "$work/state.ready")
taskset -c 1 target/release/apns-lab device fleet --gateway "$(jq -r .gateway <<<"$READY")" --ca "$(jq -r .ca_file <<<"$READY")" \
  --count "$N" --app com.example.chat --activity-type com.example.chat:BenchAttributes \
  --tokens-out "$work/tokens" >"$work/stats" 2>"$work/fleet.log" &
pids+=($!)
until [ -s "$work/tokens" ]; do sleep 0.2; done
cat "$work/fleet.log"
SANDBOX=$(jq -r .sandbox <<<"$READY")
awk -v s="$SANDBOX" 'NF == 3 {print s "/3/device/" $3}' "$work/tokens" >"$work/uris-alert"
awk -v s="$SANDBOX" '$4 == "update" {print s "/3/device/" $3}' "$work/tokens" >"$work/uris-activity"
JWT=$(jwt "$work/state.ready")
payload "$work/payload-alert"
# A 200-byte update, as the alert is.
python3 - "$work/payload-activity" "$(date +%s)" <<'PY'
import json, sys
path, ts = sys.argv[1], int(sys.argv[2])
body = lambda pad: json.dumps({"aps": {"event": "update", "timestamp": ts,
    "content-state": {"status": "On its way", "eta_minutes": 12, "note": "x" * pad}}}, separators=(",", ":"))
pad = 200 - len(body(0))
open(path, "w").write(body(pad))
PY
[ "$(wc -c <"$work/payload-activity")" -eq 200 ] || { echo "the update is not 200 bytes" >&2; exit 1; }

total() { tail -1 "$work/stats" | jq .total; }
run() { # alert | activity
  local kind=$1 from n0 out accepted n1 p99 headers
  if [ "$kind" = activity ]; then
    headers=(-H "apns-topic: com.example.chat.push-type.liveactivity" -H "apns-push-type: liveactivity")
  else
    headers=(-H "apns-topic: com.example.chat" -H "apns-push-type: alert")
  fi
  from=$(( $(wc -l <"$work/stats") + 2 ))
  n0=$(total)
  out=$(taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" -i "$work/uris-$kind" -d "$work/payload-$kind" \
    -H "authorization: bearer $JWT" -H "apns-priority: 10" "${headers[@]}" 2>&1 | grep -E "status codes")
  sleep 2
  n1=$(total)
  accepted=$(grep -oE '[0-9]+ 2xx' <<<"$out" | cut -d' ' -f1)
  p99=$(tail -n +"$from" "$work/stats" | jq -s 'map(.p99_ms) | max')
  echo "$kind $((accepted / SECS)) $(((n1 - n0) / SECS)) $p99"
}

for round in $(seq "$ROUNDS"); do
  run alert
  run activity
done >"$work/rounds"
echo "## Live Activity updates against alerts ($N phones, one activity each, 4×100 streams, ${SECS}s per run, median of $ROUNDS)"
echo
echo "| kind | accepted/s | delivered/s | worst p99 ms |"
echo "|---|---|---|---|"
for kind in alert activity; do
  acc=$(awk -v k=$kind '$1 == k {print $2}' "$work/rounds" | median)
  dlv=$(awk -v k=$kind '$1 == k {print $3}' "$work/rounds" | median)
  p99=$(awk -v k=$kind '$1 == k {print $4}' "$work/rounds" | median)
  echo "| $kind | $acc | $dlv | $p99 |"
done
a=$(awk '$1 == "alert" {print $3}' "$work/rounds" | median)
l=$(awk '$1 == "activity" {print $3}' "$work/rounds" | median)
echo
python3 -c "print(f'delivered Live Activity updates per second: {$l / $a:.2f}× the alert rate')"
echo
echo "rounds (kind accepted/s delivered/s p99):"
cat "$work/rounds"

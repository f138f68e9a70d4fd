#!/usr/bin/env bash
# One broadcast against the same number of device pushes, end to end, in the same run.
# Phones in one process (`apns-lab device fleet`), each running one Live Activity that
# listens to a channel: 1 000 phones on one channel, 10 000 on another; then 90 000
# virtual devices' activities join the second (virtual: APNs fans out to them, nobody is
# connected to deliver to), for 100 000 subscribers. For each size: the time from APNs
# accepting the broadcast to the last connected phone applying it (the fleet's largest
# accept-to-apply latency), how long the broadcast's answer took (the fan-out happens
# before it), and the mock's CPU per subscriber — against h2load pushing one
# notification to each connected phone's device token. The mock is pinned to core 0;
# h2load, curl and the fleets to core 1.
#
# Usage: bench/broadcast.sh
source "$(dirname "$0")/common.sh"
ulimit -n 65536 2>/dev/null || true

serve state
mock=$SERVE_PID
READY=$(cat "$work/state.ready")
ADMIN=$(jq -r .admin <<<"$READY"); SANDBOX=$(jq -r .sandbox <<<"$READY"); CA=$(jq -r .ca_file <<<"$READY")
APP=com.example.score
channel() { target/release/apns-lab channels create --mock-ready "$work/state.ready" --bundle-id $APP --storage-policy 0; }
SMALL=$(channel); LARGE=$(channel)
fleet() { # NAME COUNT CHANNEL
  taskset -c 1 target/release/apns-lab device fleet --gateway "$(jq -r .gateway <<<"$READY")" --ca "$CA" --prefix "$1" \
    --count "$2" --app $APP --activity-type $APP:MatchAttributes --activity-channel "$3" \
    --tokens-out "$work/$1.tokens" >"$work/$1.stats" 2>"$work/$1.log" &
  pids+=($!)
  until [ -s "$work/$1.tokens" ]; do sleep 0.2; done
  cat "$work/$1.log"
}
fleet S 1000 "$SMALL"
fleet L 10000 "$LARGE"
JWT=$(jwt "$work/state.ready")
payload "$work/payload"

# broadcast NAME CHANNEL SUBSCRIBERS CONNECTED: one broadcast, its row.
broadcast() {
  local name=$1 channel=$2 subs=$3 connected=$4 from m0 m1 t0 t1 max
  from=$(( $(wc -l <"$work/$name.stats") + 1 ))
  m0=$(cpu "$mock")
  t0=$(date +%s%N)
  taskset -c 1 curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$CA" -H "authorization: bearer $JWT" \
    -H "apns-channel-id: $channel" -H "apns-push-type: liveactivity" -H "apns-expiration: 0" -H "apns-priority: 10" \
    --data "{\"aps\":{\"event\":\"update\",\"timestamp\":$(date +%s),\"content-state\":{\"score\":\"1-0\"}}}" \
    "$SANDBOX/4/broadcasts/apps/$APP" >"$work/code"
  t1=$(date +%s%N)
  sleep 2.5
  m1=$(cpu "$mock")
  [ "$(cat "$work/code")" = 200 ] || { echo "the broadcast was refused: $(cat "$work/code")" >&2; exit 1; }
  max=$(tail -n +"$from" "$work/$name.stats" | jq -s 'map(.max_ms) | max')
  python3 - "$subs" "$connected" "$t0" "$t1" "$max" "$m0" "$m1" <<'PY'
import sys
subs, conn, t0, t1, mx, m0, m1 = (float(x) for x in sys.argv[1:])
print(f"| broadcast | {subs:,.0f} ({conn:,.0f} connected) | {(t1-t0)/1e6:,.0f} ms | {mx:,.0f} ms | {(m1-m0)/100/subs*1e6:.1f} µs |")
PY
}

# pushes NAME COUNT: one push to each connected phone's device token, as fast as h2load goes.
pushes() {
  local name=$1 n=$2 m0 m1 out secs
  awk -v s="$SANDBOX" 'NF == 3 {print s "/3/device/" $3}' "$work/$name.tokens" >"$work/$name.uris"
  m0=$(cpu "$mock")
  out=$(taskset -c 1 h2load -c 4 -m 100 -t 1 -n "$n" -i "$work/$name.uris" -d "$work/payload" \
    -H "authorization: bearer $JWT" -H "apns-topic: $APP" -H "apns-push-type: alert" 2>&1)
  sleep 2.5
  m1=$(cpu "$mock")
  secs=$(grep -oE 'finished in [0-9.]+(ms|s)' <<<"$out" | awk '{v=$3; if (v ~ /ms$/) {sub(/ms/,"",v); v=v/1000} else sub(/s/,"",v); print v}')
  python3 - "$n" "$secs" "$m0" "$m1" <<'PY'
import sys
n, secs, m0, m1 = (float(x) for x in sys.argv[1:])
print(f"| {n:,.0f} device pushes | {n:,.0f} connected | {secs*1000:,.0f} ms (h2load, all answered) | — | {(m1-m0)/100/n*1e6:.1f} µs |")
PY
}

echo "## one broadcast against device pushes"
echo
echo "| what | subscribers | until answered | accept → last phone applied | mock CPU per subscriber |"
echo "|---|---|---|---|---|"
for round in 1 2 3; do
  broadcast S "$SMALL" 1000 1000
  pushes S 1000
  broadcast L "$LARGE" 10000 10000
  pushes L 10000
done

# 90 000 virtual devices whose activities join the large channel.
python3 - "$work/virtual.json" <<'PY'
import json, sys
json.dump({"devices": [{"udid": f"V-{i:06d}", "apps": [{"bundle_id": "com.example.score"}]} for i in range(90000)]}, open(sys.argv[1], "w"))
PY
curl -sf -X POST "$ADMIN/api/v1/devices/batch" --data-binary "@$work/virtual.json" >/dev/null
awk -v a="$ADMIN" 'BEGIN { for (i = 0; i < 90000; i++) printf "%s/api/v1/devices/V-%06d/activities\n", a, i }' >"$work/virtual.uris"
printf '{"bundle_id":"%s","attributes_type":"MatchAttributes","channel":"%s"}' "$APP" "$LARGE" >"$work/virtual.body"
taskset -c 1 h2load --h1 -c 8 -m 1 -t 1 -n 90000 -i "$work/virtual.uris" -d "$work/virtual.body" \
  -H "content-type: application/json" 2>&1 | grep -E "status codes"
for round in 1 2 3; do
  broadcast L "$LARGE" 100000 10000
done

#!/usr/bin/env bash
# Web pushes delivered against alerts delivered, end to end and in the same run: N phones
# in one process (`apns-lab device fleet --web-app`), each with an app and a web app
# subscribed to one VAPID key. Alternating rounds: h2load sends alerts to the apps' device
# tokens, and a Web Push sender (bench/fixtures web_push_load: one message encrypted for
# each subscription up front, then sent round-robin, the JWT signed once) sends web
# pushes to the subscriptions, both over 4 connections × 100 streams. Each row says how
# many were accepted per second while sending, and delivered (decrypted by the phone,
# shown and acknowledged) per second from the first send until the phones caught up,
# the worst per-second p99 from acceptance to the phone showing it, and the
# mock's CPU time per delivered message (it decrypts for the phone). Also
# printed: what encrypting costs the sender and decrypting costs the phone, per message.
# The mock is pinned to core 0; the senders and the fleet share core 1.
#
# Usage: bench/webpush-delivery.sh [phones, default 10000] [seconds, default 10] [rounds, default 3]
source "$(dirname "$0")/common.sh"
N=${1:-10000}
SECS=${2:-10}
ROUNDS=${3:-3}
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }
cargo build --release -q -p bench-fixtures --bin web_push_load

ulimit -n 65536 2>/dev/null || true

serve state --webpush-addr 127.0.0.1:0
READY=$(cat "$work/state.ready")
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/vapid.pem"
taskset -c 1 target/release/apns-lab device fleet --gateway "$(jq -r .gateway <<<"$READY")" --ca "$(jq -r .ca_file <<<"$READY")" \
  --count "$N" --app com.example.chat --web-app https://bench.example --vapid-key "$work/vapid.pem" \
  --tokens-out "$work/tokens" --subscriptions-out "$work/subscriptions" >"$work/stats" 2>"$work/fleet.log" &
pids+=($!)
until [ -s "$work/tokens" ] && [ -s "$work/subscriptions" ]; do sleep 0.2; done
cat "$work/fleet.log"
SANDBOX=$(jq -r .sandbox <<<"$READY")
awk -v s="$SANDBOX" 'NF == 3 {print s "/3/device/" $3}' "$work/tokens" >"$work/uris"
JWT=$(jwt "$work/state.ready")
payload "$work/payload"

total() { local n; n=$(tail -1 "$work/stats" | jq '.total // 0' 2>/dev/null); echo "${n:-0}"; }
run() { # alert | web
  local kind=$1 from n0 accepted n1 p99 out c0 c1 t0 t1 last now
  from=$(( $(wc -l <"$work/stats") + 2 ))
  n0=$(total)
  c0=$(cpu "$SERVE_PID")
  t0=$(date +%s.%N)
  if [ "$kind" = alert ]; then
    out=$(taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" -i "$work/uris" -d "$work/payload" \
      -H "authorization: bearer $JWT" -H "apns-priority: 10" -H "apns-topic: com.example.chat" \
      -H "apns-push-type: alert" 2>&1 | grep -E "status codes")
    accepted=$(grep -oE '[0-9]+ 2xx' <<<"$out" | cut -d' ' -f1)
  else
    out=$(taskset -c 1 target/release/web_push_load "$work/subscriptions" "$work/vapid.pem" \
      "$(jq -r .ca_file <<<"$READY")" "$SECS" 4 100)
    echo "$out" >>"$work/web.json"
    accepted=$(jq .accepted <<<"$out")
  fi
  # Delivered: until the phones have caught up (no new delivery for 2 s, at most 120 s),
  # over the time from the first send to the last delivery.
  last=$(total); t1=$(date +%s.%N)
  for _ in $(seq 120); do
    sleep 1; now=$(total)
    if [ "$now" = "$last" ]; then sleep 1; [ "$(total)" = "$now" ] && break; fi
    last=$now; t1=$(date +%s.%N)
  done
  n1=$(total)
  c1=$(cpu "$SERVE_PID")
  p99=$(tail -n +"$from" "$work/stats" | jq -s 'map(.p99_ms) | max')
  # The mock's CPU time per delivered message, µs (clock ticks are 10 ms).
  echo "$kind $((accepted / SECS)) $(python3 -c "print(int(($n1 - $n0) / ($t1 - $t0)))") $p99 $(( (c1 - c0) * 10000 / (n1 - n0 + 1) ))"
}

for round in $(seq "$ROUNDS"); do
  run alert
  run web
done >"$work/rounds"
echo "## Web pushes delivered against alerts ($N phones, one app and one web app each, 4×100 streams, ${SECS}s per run, median of $ROUNDS)"
echo
echo "| kind | accepted/s | delivered/s | worst p99 ms | mock CPU µs per delivery |"
echo "|---|---|---|---|---|"
for kind in alert web; do
  acc=$(awk -v k=$kind '$1 == k {print $2}' "$work/rounds" | median)
  dlv=$(awk -v k=$kind '$1 == k {print $3}' "$work/rounds" | median)
  p99=$(awk -v k=$kind '$1 == k {print $4}' "$work/rounds" | median)
  cost=$(awk -v k=$kind '$1 == k {print $5}' "$work/rounds" | median)
  echo "| $kind | $acc | $dlv | $p99 | $cost |"
done
a=$(awk '$1 == "alert" {print $3}' "$work/rounds" | median)
w=$(awk '$1 == "web" {print $3}' "$work/rounds" | median)
enc=$(jq -s 'map(.encrypt_us) | add / length | floor' "$work/web.json")
dec=$(jq -s 'map(.decrypt_us) | add / length | floor' "$work/web.json")
refused=$(jq -s 'map(.not_201) | add' "$work/web.json")
echo
python3 -c "print(f'web pushes delivered per second: {$w / $a:.2f}× the alert rate')"
echo "per message: encrypting (the sender) ${enc} µs, decrypting (the phone) ${dec} µs; web pushes not 201: ${refused}"
echo
echo "rounds (kind accepted/s delivered/s p99 mock-µs-per-delivery):"
cat "$work/rounds"

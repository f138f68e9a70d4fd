#!/usr/bin/env bash
# Benchmark of the mock's provider API against a bare HTTP/2 server, measured in the
# same run: h2load drives both with a valid provider token, a virtual device's token
# and a 200-byte payload, at 4 and 16 connections x 100 concurrent streams. Server and
# h2load are pinned to different cores. Prints a Markdown table for BENCHMARKS.md.
#
# With ALSO=PATH, a second apns-lab binary is measured in the same rounds (for example
# one built from another commit, as bench/crypto-provider.sh does).
#
# Usage: [ALSO=PATH] bench/provider-api.sh [seconds per run, default 5] [rounds, default 3]
source "$(dirname "$0")/common.sh"
SECS=${1:-5}
ROUNDS=${2:-3}

cargo build --release -q -p bench-fixtures --bin bare_h2

SERVER_CPU=0
CLIENT_CPU=1

# The mock, with validation and capture on (the defaults); again with the capture log
# off, to show what capture costs.
start_mock full
start_mock nocap --capture-limit 0
MOCK=$URL_full TOKEN=$TOKEN_full JWT=$JWT_full
NOCAP=$URL_nocap TOKEN2=$TOKEN_nocap JWT2=$JWT_nocap
whos="bare mock nocap"
if [ -n "${ALSO:-}" ]; then
  SERVE_BIN=$ALSO start_mock also
  whos="$whos also"
fi

# The baseline.
taskset -c $SERVER_CPU target/release/bare_h2 >"$work/bare" &
pids+=($!)
until [ -s "$work/bare" ]; do sleep 0.1; done
BARE=$(cat "$work/bare")

# A 200-byte alert payload.
payload "$work/payload.json"
# run URL CONNS TOKEN JWT -> "reqps p50_ms p99_ms failed non200"
run() {
  local url=$1 conns=$2 token=$3 jwt=$4 log="$work/h2load.log"
  rm -f "$log"
  local out
  out=$(taskset -c $CLIENT_CPU h2load -c "$conns" -m 100 -t 1 -D "$SECS" --warm-up-time 1 \
    -d "$work/payload.json" \
    -H "authorization: bearer $jwt" -H "apns-topic: com.example.bench" -H "apns-push-type: alert" \
    --log-file "$log" "$url/3/device/$token" 2>&1)
  local reqps failed
  reqps=$(grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' <<<"$out" | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1)
  failed=$(grep -oE '[0-9]+ failed' <<<"$out" | head -1 | cut -d' ' -f1)
  local non200
  non200=$(awk '$2 != 200' "$log" | wc -l)
  # Log columns: start (µs), status, duration (µs).
  local pct
  pct=$(awk '{print $3}' "$log" | sort -n | awk '{a[NR]=$1} END {p50=a[int(NR*0.50)]; p99=a[int(NR*0.99)]; printf "%.2f %.2f", p50/1000, p99/1000}')
  echo "$reqps $pct $failed $non200"
}


echo "| streams | server | req/s (median of $ROUNDS) | p50 ms | p99 ms | non-200 |"
echo "|---|---|---|---|---|---|"
for conns in 4 16; do
  : >"$work/mock.runs"; : >"$work/bare.runs"; : >"$work/nocap.runs"; : >"$work/also.runs"
  for _ in $(seq "$ROUNDS"); do
    run "$BARE" "$conns" "$TOKEN" "$JWT" >>"$work/bare.runs"
    run "$MOCK" "$conns" "$TOKEN" "$JWT" >>"$work/mock.runs"
    run "$NOCAP" "$conns" "$TOKEN2" "$JWT2" >>"$work/nocap.runs"
    if [ -n "${ALSO:-}" ]; then
      run "$URL_also" "$conns" "$TOKEN_also" "$JWT_also" >>"$work/also.runs"
    fi
  done
  for who in $whos; do
    r=$(awk '{print $1}' "$work/$who.runs" | median)
    p50=$(awk '{print $2}' "$work/$who.runs" | median)
    p99=$(awk '{print $3}' "$work/$who.runs" | median)
    bad=$(awk '{s+=$4+$5} END {print s}' "$work/$who.runs")
    case $who in
      bare) name="bare hyper + rustls (no validation)" ;;
      mock) name="apns-lab mock (validation + capture)" ;;
      nocap) name="apns-lab mock, capture off" ;;
      also) name="apns-lab mock, $ALSO" ;;
    esac
    echo "| ${conns}×100 | $name | $r | $p50 | $p99 | $bad |"
    eval "${who}_${conns}=$r"
  done
done
echo
for conns in 4 16; do
  b=$(eval echo "\$bare_${conns}"); m=$(eval echo "\$mock_${conns}"); n=$(eval echo "\$nocap_${conns}")
  echo "ratio at ${conns}×100: mock $(python3 -c "print(f'{$m/$b:.2f}')")×, capture off $(python3 -c "print(f'{$n/$b:.2f}')")× the bare server"
  if [ -n "${ALSO:-}" ]; then
    a=$(eval echo "\$also_${conns}")
    echo "ratio at ${conns}×100: $ALSO $(python3 -c "print(f'{$a/$b:.2f}')")× the bare server, $(python3 -c "print(f'{$a/$m:.2f}')")× the mock"
  fi
done
echo
echo "the mock's last answer: $(curl -sf "$ADMIN_full/api/v1/notifications?limit=1" | jq -c '.[0] | {status, reason}')"

echo
cargo build --release -q -p bench-fixtures --bin jwt_cost
echo "| token check | cost per request |"
echo "|---|---|"
taskset -c $SERVER_CPU target/release/jwt_cost

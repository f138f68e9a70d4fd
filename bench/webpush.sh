#!/usr/bin/env bash
# Web pushes accepted per second against device pushes, on the same mock in the same
# rounds: h2load drives its Web Push listener (a subscription issued through the admin
# API, one VAPID JWT reused as senders do, so it is verified once and then found in the
# cache; a 303-byte aes128gcm body, what a 200-byte message becomes) and its provider API
# (a virtual device's token, a provider token, a 200-byte payload), 4 connections x 100
# streams, alternating. The mock never decrypts: that is the phone's cost. Prints a
# Markdown table for BENCHMARKS.md.
#
# Usage: bench/webpush.sh [seconds per run, default 5] [rounds, default 3]
source "$(dirname "$0")/common.sh"
SECS=${1:-5}
ROUNDS=${2:-3}
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }

start_mock m
READY=$(cat "$work/m.ready")
WEBPUSH=$(jq -r .webpush <<<"$READY")
payload "$work/payload.json"

# The application server's VAPID key, and its public point (the last 65 bytes of the DER
# SubjectPublicKeyInfo).
openssl ecparam -name prime256v1 -genkey -noout -out "$work/vapid.pem" 2>/dev/null
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
PUBLIC=$(openssl ec -in "$work/vapid.pem" -pubout -outform DER 2>/dev/null | tail -c 65 | b64url)
curl -sf -X POST "$ADMIN_m/api/v1/devices" -d '{"udid":"WEB-BENCH","apps":[]}' >/dev/null
ENDPOINT=$(curl -sf -X POST "$ADMIN_m/api/v1/devices/WEB-BENCH/web-apps" \
  -d "{\"origin\":\"https://bench.example\",\"application_server_key\":\"$PUBLIC\"}" | jq -r .endpoint)

# The VAPID JWT: ES256 with a raw r||s signature (openssl signs in DER; python3 converts).
HEADER=$(printf '{"typ":"JWT","alg":"ES256"}' | b64url)
CLAIMS=$(printf '{"aud":"%s","exp":%d,"sub":"mailto:bench@example.com"}' "$WEBPUSH" $(( $(date +%s) + 12 * 3600 )) | b64url)
printf '%s.%s' "$HEADER" "$CLAIMS" >"$work/signing-input"
openssl dgst -sha256 -sign "$work/vapid.pem" "$work/signing-input" >"$work/sig.der"
SIG=$(python3 - "$work/sig.der" <<'PY' | b64url
import sys
der = open(sys.argv[1], "rb").read()
def integer(at):
    assert der[at] == 2
    n = der[at + 1]
    return der[at + 2:at + 2 + n], at + 2 + n
r, at = integer(2)
s, _ = integer(at)
sys.stdout.buffer.write(r[-32:].rjust(32, b"\0") + s[-32:].rjust(32, b"\0"))
PY
)
VAPID="vapid t=$HEADER.$CLAIMS.$SIG, k=$PUBLIC"

# An aes128gcm body in shape: salt, rs 4096, a 65-byte key id, one 217-byte record.
python3 - "$work/body.bin" <<'PY'
import os, sys
body = os.urandom(16) + (4096).to_bytes(4, "big") + bytes([65, 4]) + os.urandom(64) + os.urandom(217)
open(sys.argv[1], "wb").write(body)
PY

# run KIND -> "reqps non2xx"
run() {
  local out
  if [ "$1" = web ]; then
    out=$(taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" --warm-up-time 1 -d "$work/body.bin" \
      -H "authorization: $VAPID" -H "ttl: 60" -H "content-encoding: aes128gcm" -H "urgency: high" "$ENDPOINT" 2>&1)
  else
    out=$(taskset -c 1 h2load -c 4 -m 100 -t 1 -D "$SECS" --warm-up-time 1 -d "$work/payload.json" \
      -H "authorization: bearer $JWT_m" -H "apns-topic: com.example.bench" -H "apns-push-type: alert" \
      "$URL_m/3/device/$TOKEN_m" 2>&1)
  fi
  local reqps codes
  reqps=$(grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' <<<"$out" | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1)
  codes=$(grep -oE 'status codes: [0-9]+ 2xx, [0-9]+ 3xx, [0-9]+ 4xx, [0-9]+ 5xx' <<<"$out" | awk '{print $5+$7+$9}')
  echo "$reqps ${codes:-?}"
}

: >"$work/web.runs"; : >"$work/device.runs"
for _ in $(seq "$ROUNDS"); do
  run device >>"$work/device.runs"
  run web >>"$work/web.runs"
done
echo "| pushes (4×100 streams) | accepted/s (median of $ROUNDS) | not 2xx |"
echo "|---|---|---|"
d=$(awk '{print $1}' "$work/device.runs" | median); w=$(awk '{print $1}' "$work/web.runs" | median)
echo "| device pushes, provider API | $d | $(awk '{s+=$2} END {print s}' "$work/device.runs") |"
echo "| web pushes, Web Push listener | $w | $(awk '{s+=$2} END {print s}' "$work/web.runs") |"
echo
echo "web pushes: $(python3 -c "print(f'{$w/$d:.2f}')")× device pushes"

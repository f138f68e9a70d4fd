# What every benchmark script shares; sourced, not run. It installs h2load if missing
# (Debian `nghttp2-client`), builds the release binary, makes a work directory that is
# removed at exit (with every process started through it), and provides:
#
#   serve NAME [serve args...]   `apns-lab serve` pinned to core 0, data in $work/NAME,
#                                ready line in $work/NAME.ready (fails fast if it dies);
#                                sets SERVE_PID; SERVE_BIN=PATH runs another binary
#   start_mock NAME [serve args...]  serve NAME, plus a virtual device of
#                                com.example.bench: sets URL_NAME, ADMIN_NAME,
#                                TOKEN_NAME and JWT_NAME
#   cpu PID                      the process's CPU time so far (utime+stime, clock ticks)
#   jwt READY_FILE               a provider token from that mock's default key
#   payload FILE                 the 200-byte alert payload every benchmark sends
#   median                       the median of numbers on stdin, one per line
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }
if ! command -v h2load >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client
fi
cargo build --release -q --bin apns-lab

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

serve() {
  local name=$1; shift
  taskset -c 0 "${SERVE_BIN:-target/release/apns-lab}" serve --data-dir "$work/$name" "$@" \
    --sandbox-addr 127.0.0.1:0 --production-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 \
    >"$work/$name.ready" 2>"$work/$name.log" &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  until [ -s "$work/$name.ready" ]; do
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$work/$name.log" >&2; exit 1; }
    sleep 0.1
  done
}

start_mock() {
  local name=$1; shift
  serve "$name" "$@"
  local ready admin
  ready=$(cat "$work/$name.ready")
  admin=$(jq -r .admin <<<"$ready")
  printf -v "URL_$name" '%s' "$(jq -r .sandbox <<<"$ready")"
  printf -v "ADMIN_$name" '%s' "$admin"
  printf -v "TOKEN_$name" '%s' "$(curl -sf -X POST "$admin/api/v1/devices" -d '{"apps":[{"bundle_id":"com.example.bench"}]}' | jq -r '.apps[0].token')"
  printf -v "JWT_$name" '%s' "$(jwt "$work/$name.ready")"
}

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

jwt() {
  local ready; ready=$(cat "$1")
  target/release/apns-lab token --key-file "$(jq -r .key_file <<<"$ready")" \
    --key-id "$(jq -r .key_id <<<"$ready")" --team-id "$(jq -r .team_id <<<"$ready")"
}

payload() {
  printf '{"aps":{"alert":{"title":"Bench","body":"%s"},"sound":"default"},"id":1}' "$(printf 'x%.0s' $(seq 130))" >"$1"
  [ "$(wc -c <"$1")" -eq 200 ] || { echo "the payload is not 200 bytes" >&2; exit 1; }
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

#!/usr/bin/env bash
# The crypto provider, decided by measurement: this tree's build against the same
# project built from another commit REF (the two differ in the provider rustls, the
# provider tokens and the certificates use), measured in one run:
#
#   1. the provider API: bench/provider-api.sh with ALSO= the other build, the two mocks
#      in the same rounds against the same bare server;
#   2. new connections: a TLS handshake, the HTTP/2 preface and one push per connection,
#      4 000 connections, alternating between the builds;
#   3. delivery to 10 000 phones: bench/delivery.sh once per build, back to back (the
#      mock and the fleet, a TLS client, from the same build);
#   4. checking a new provider token (ES256) and starting `serve` with a fresh data dir
#      (a CA, a server certificate and a signing key made on the way).
#
# REF's build is made in a worktree of its own (target/compare/REF, kept between runs).
#
# Usage: bench/crypto-provider.sh REF [seconds per provider-API run, default 5] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${1:?usage: bench/crypto-provider.sh REF [seconds] [rounds]}
SECS=${2:-5}
ROUNDS=${3:-3}

rev=$(git rev-parse --short "$REF")
other=target/compare/$rev
if [ ! -x "$other/apns-lab" ]; then
  src=$(mktemp -d)
  git worktree add -q --detach "$src" "$rev"
  trap 'git worktree remove --force "$src"' EXIT
  build=(cargo build --release -q --locked --manifest-path "$src/Cargo.toml" --target-dir target/compare-build)
  "${build[@]}" --bin apns-lab
  mkdir -p "$other"
  # The fixture is a bench-fixtures binary now, a mock-apns example in older commits.
  if [ -d "$src/bench/fixtures" ]; then
    "${build[@]}" -p bench-fixtures --bin jwt_cost
    cp target/compare-build/release/jwt_cost "$other/"
  else
    "${build[@]}" -p mock-apns --example jwt_cost
    cp target/compare-build/release/examples/jwt_cost "$other/"
  fi
  cp target/compare-build/release/apns-lab "$other/"
  git worktree remove --force "$src"
  trap - EXIT
fi
cargo build --release -q --bin apns-lab
cargo build --release -q -p bench-fixtures --bin jwt_cost
here=target/compare/this
mkdir -p "$here"
cp target/release/apns-lab target/release/jwt_cost "$here/"
ulimit -n 65536 2>/dev/null || true
echo "this tree: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' with changes'); other: $rev ($other)"
echo

echo "## 1. provider API"
echo
ALSO=$other/apns-lab bench/provider-api.sh "$SECS" "$ROUNDS" | sed '/^| token check/,$d'
echo

source bench/common.sh
echo "## 2. new connections (TLS handshake + HTTP/2 + one push each)"
echo
payload "$work/payload.json"
SERVE_BIN=$here/apns-lab start_mock a
PID_a=$SERVE_PID
SERVE_BIN=$other/apns-lab start_mock b
PID_b=$SERVE_PID
# conns WHO -> "connections/s  mock CPU µs per connection"
conns() {
  local url="URL_$1" token="TOKEN_$1" jwt="JWT_$1" pid="PID_$1" c0 c1 rate
  c0=$(cpu "${!pid}")
  rate=$(taskset -c 1 h2load -c 4000 -n 4000 -m 1 -t 1 -d "$work/payload.json" \
    -H "authorization: bearer ${!jwt}" -H "apns-topic: com.example.bench" -H "apns-push-type: alert" \
    "${!url}/3/device/${!token}" 2>&1 | grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1)
  sleep 1
  c1=$(cpu "${!pid}")
  echo "$rate $(( (c1 - c0) * 10000 / 4000 ))"
}
: >"$work/a.conns"; : >"$work/b.conns"
for _ in $(seq "$ROUNDS"); do
  conns a >>"$work/a.conns"
  conns b >>"$work/b.conns"
done
echo "| build | connections/s (median of $ROUNDS) | mock CPU per connection |"
echo "|---|---|---|"
echo "| this tree | $(awk '{print $1}' "$work/a.conns" | median) | $(awk '{print $2}' "$work/a.conns" | median) µs |"
echo "| $rev | $(awk '{print $1}' "$work/b.conns" | median) | $(awk '{print $2}' "$work/b.conns" | median) µs |"
kill "$PID_a" "$PID_b"
echo

echo "## 3. delivery to 10 000 phones"
echo
echo "### this tree"
bench/delivery.sh 10000 10 10000
echo
echo "### $rev"
SERVE_BIN=$other/apns-lab bench/delivery.sh 10000 10 10000
echo

echo "## 4. a new provider token, and serve's start"
echo
sleep 5   # the fleet and the mock of part 3 wind down
# start DIR -> milliseconds from exec to the ready line, with a fresh data dir
start() {
  local t0 pid d
  d=$(mktemp -d -p "$work")
  t0=$(date +%s%N)
  taskset -c 0 "$1/apns-lab" serve --data-dir "$d" --sandbox-addr 127.0.0.1:0 \
    --production-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 >"$d.ready" 2>/dev/null &
  pid=$!
  until [ -s "$d.ready" ]; do sleep 0.002; done
  echo $(( ($(date +%s%N) - t0) / 1000 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for who in here other; do : >"$work/$who.verify"; : >"$work/$who.start"; done
for _ in $(seq 5); do
  for who in here other; do
    taskset -c 0 "${!who}/jwt_cost" | awk -F'|' '/ES256/ {print $3+0}' >>"$work/$who.verify"
    start "${!who}" >>"$work/$who.start"
  done
done
echo "| build | ES256 verification of a new provider token | serve with a fresh data dir, until its ready line |"
echo "|---|---|---|"
for who in here other; do
  echo "| $([ "$who" = here ] && echo 'this tree' || echo "$rev") | $(median <"$work/$who.verify") µs | $(( $(median <"$work/$who.start") / 1000 )) ms |"
done
echo
echo "(medians of 5, the builds alternating)"

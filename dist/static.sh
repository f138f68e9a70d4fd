#!/usr/bin/env bash
# The self-contained apns-lab for Linux x86-64: glibc linked statically (`crt-static`,
# a static-pie executable), jemalloc, SQLite and AWS-LC compiled in — it needs nothing on
# the machine it runs on, not even a libc. Built with whole-program (fat) LTO and one
# codegen unit: 16.2 MB stripped against 19.8 MB without, in about the same four minutes
# on two cores (2026-12-07). Shipped stripped; the symbols
# and line tables a crash report needs are kept beside it in apns-lab.debug, linked by
# a .gnu_debuglink section (gdb and `eu-addr2line -e apns-lab.debug` find them).
#
# Then checks what it built: that it is static, and that `serve` runs from it in an
# empty root (a chroot holding the binary and nothing else, when run as root) and
# answers its admin API on 127.0.0.1.
#
# One thing static glibc cannot do is look names up through NSS: give listeners IP
# addresses (127.0.0.1:0, 0.0.0.0:2197), not names such as localhost.
#
# Beside it go the project's licence texts (LICENSE-MIT, LICENSE-APACHE) and
# THIRD-PARTY-NOTICES.txt: every crate the binary links, C libraries included, with its
# licence's text, generated from Cargo.lock by cargo-about (dist/licenses/about.hbs,
# about.toml; installed from crates.io when missing) without the network. The packages
# (dist/python.sh, dist/npm.sh, dist/container.sh) ship all three.
#
# Usage: dist/static.sh [OUT_DIR, default target/dist]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/dist}
triple=x86_64-unknown-linux-gnu
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -q --bin apns-lab \
  --target "$triple" --target-dir target/static
built=target/static/$triple/release/apns-lab
mkdir -p "$out"
objcopy --only-keep-debug "$built" "$out/apns-lab.debug"
strip -o "$out/apns-lab" "$built"
objcopy --add-gnu-debuglink="$out/apns-lab.debug" "$out/apns-lab"

fail() { echo "dist/static.sh: $*" >&2; exit 1; }

command -v cargo-about >/dev/null || cargo install -q --locked cargo-about --features cli
cargo about generate --frozen -m Cargo.toml dist/licenses/about.hbs -o "$out/THIRD-PARTY-NOTICES.txt"
cp LICENSE-MIT LICENSE-APACHE "$out/"
for linked in aws-lc-sys aws-lc-rs rustls h2 tikv-jemalloc-sys libsqlite3-sys; do
  grep -q "^  $linked " "$out/THIRD-PARTY-NOTICES.txt" || fail "THIRD-PARTY-NOTICES.txt does not name $linked"
done
file "$out/apns-lab" | grep -Eq 'static-pie linked|statically linked' || fail "not static: $(file "$out/apns-lab")"
if ldd "$out/apns-lab" 2>&1 | grep -q '=>'; then fail "links shared libraries: $(ldd "$out/apns-lab")"; fi

root=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$root"' EXIT
cp "$out/apns-lab" "$root/apns-lab"
mkdir "$root/data"
run=("$root/apns-lab" serve --data-dir "$root/data")
if [ "$(id -u)" -eq 0 ]; then run=(chroot "$root" /apns-lab serve --data-dir /data); fi
"${run[@]}" --sandbox-addr 127.0.0.1:0 --production-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
  --gateway-addr 127.0.0.1:0 >"$root/ready" 2>"$root/log" &
pid=$!
for _ in $(seq 100); do [ -s "$root/ready" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
[ -s "$root/ready" ] || fail "serve did not start: $(cat "$root/log")"
admin=$(sed -E 's/.*"admin":"([^"]+)".*/\1/' "$root/ready")
curl -sf "$admin/api/v1/health" | grep -q '"status":"ok"' || fail "the admin API did not answer"
echo "static: $out/apns-lab ($(du -h "$out/apns-lab" | cut -f1), $(file -b "$out/apns-lab" | cut -d, -f1-2)), serve ran from an empty root"

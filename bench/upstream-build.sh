#!/usr/bin/env bash
# Builds apns-lab as it would be without the vendored patches to h2 and rustls
# (vendor/README.md): the same source with `[patch.crates-io]` removed, so h2 and rustls
# come from crates.io as published. The binary lands in target/upstream/apns-lab, for
# comparing against the patched one:
#
#   bench/upstream-build.sh
#   bench/abuse.py --memory --binary target/upstream/apns-lab
#   ALSO=target/upstream/apns-lab bench/provider-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$copy"
# Any uncommitted edits too, so the two builds differ only in the patches.
git diff --name-only -z | xargs -0 -r cp --parents -t "$copy"
sed -i '/^\[patch.crates-io\]/,/^rustls = /d' "$copy/Cargo.toml"
if grep -q 'path = "vendor/' "$copy/Cargo.toml"; then
  echo "the [patch.crates-io] section was not removed" >&2
  exit 1
fi
# Cargo points the lock file at the published crates once the patch is gone. The build
# has a target directory of its own, kept between runs.
build="$PWD/target/upstream-build"
(cd "$copy" && CARGO_TARGET_DIR="$build" cargo build --release -q --bin apns-lab)
mkdir -p target/upstream
cp "$build/release/apns-lab" target/upstream/apns-lab
echo "target/upstream/apns-lab: h2 $(grep -A1 '^name = "h2"' "$copy/Cargo.lock" | tail -1 | cut -d'"' -f2) and rustls $(grep -A1 '^name = "rustls"$' "$copy/Cargo.lock" | tail -1 | cut -d'"' -f2) from crates.io"

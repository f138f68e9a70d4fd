#!/usr/bin/env bash
# The npm package (dist/npm): the static apns-lab that dist/static.sh built, with the
# startApnsLab()/connectApnsLab() helper and its TypeScript types. Packs it (`npm pack`),
# installs the tarball into a fresh directory with @parse/node-apn (and typescript, to
# check the types), and runs dist/npm/test there with `node --test` — the README's
# examples among them (test/readme.test.js) — then again under `apns-lab exec`.
#
# Usage: dist/npm.sh   (output: target/dist/apns-lab-VERSION.tgz)
# Publishing is a release step: `npm publish target/dist/apns-lab-*.tgz`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ -x target/dist/apns-lab ] || { echo "dist/npm.sh: run dist/static.sh first" >&2; exit 1; }
work=$(mktemp -d)
licences=(dist/npm/LICENSE-MIT dist/npm/LICENSE-APACHE dist/npm/THIRD-PARTY-NOTICES.txt)
trap 'rm -rf "$work" dist/npm/bin "${licences[@]}"' EXIT

mkdir -p dist/npm/bin
cp target/dist/apns-lab dist/npm/bin/apns-lab
cp target/dist/LICENSE-MIT target/dist/LICENSE-APACHE target/dist/THIRD-PARTY-NOTICES.txt dist/npm/
rm -f target/dist/apns-lab-*.tgz
tarball=$(cd dist/npm && npm pack --silent --pack-destination "$root/target/dist")
tarball="$root/target/dist/$tarball"
contents=$(tar -tzf "$tarball")
for f in LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.txt; do
  grep -qx "package/$f" <<<"$contents" || { echo "dist/npm.sh: the package lacks $f" >&2; exit 1; }
done

cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "$tarball" @parse/node-apn@8.1.0 typescript@5.9.3 @types/node@22
cp -r "$root/dist/npm/test" .
[ -x node_modules/.bin/apns-lab ] || { echo "dist/npm.sh: the package did not install its bin" >&2; exit 1; }
node_modules/.bin/tsc --noEmit --strict --target es2022 --module commonjs --types node test/types.ts
env -u APNS_LAB_BIN node --test test/
# Under `apns-lab exec`, startApnsLab() uses exec's mock (test/exec.test.js): the README's
# examples and the whole suite again, one file at a time, as the README says to run them.
env -u APNS_LAB_BIN node_modules/.bin/apns-lab exec -- node --test --test-concurrency=1 test/
echo "npm: $tarball ($(du -h "$tarball" | cut -f1)), installed and tested with @parse/node-apn"

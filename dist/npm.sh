#!/usr/bin/env bash
# The npm package (dist/npm): the static apns-lab that dist/static.sh built, with the
# startApnsLab()/connectApnsLab() helper and its TypeScript types. Packs it (`npm pack`),
# installs it into a fresh directory with the book's own line (`npm install --save-dev
# apns-lab`, from a loopback registry holding only it), adds @parse/node-apn (and
# typescript, to check the types), and runs dist/npm/test there with `node --test` — the
# README's examples among them (test/readme.test.js) — then again under `apns-lab exec`.
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
# The book's install line (docs/src/install.md), as printed, with npm's registry a
# loopback one that holds this tarball and nothing else (dist/registry.py); then, from
# the npm registry, what the tests use beside it.
exec {registry}< <(python3 "$root/dist/registry.py" "$tarball")
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work" "$root/dist/npm/bin" "${licences[@]/#/$root/}"' EXIT
read -r -u "$registry" registry_url
npm_config_registry=$registry_url npm_config_audit=false npm_config_fund=false \
  bash -euo pipefail -c "$("$root/dist/book_block.sh" '<!-- npm install recipe -->' "$root/docs/src/install.md")"
grep -q '"apns-lab": "^0.1.0"' package.json || { echo "dist/npm.sh: the book's line did not add apns-lab to devDependencies" >&2; exit 1; }
npm install --silent --no-audit --no-fund @parse/node-apn@8.1.0 typescript@5.9.3 @types/node@22
cp -r "$root/dist/npm/test" .
[ -x node_modules/.bin/apns-lab ] || { echo "dist/npm.sh: the package did not install its bin" >&2; exit 1; }
node_modules/.bin/tsc --noEmit --strict --target es2022 --module commonjs --types node test/types.ts
env -u APNS_LAB_BIN node --test test/
# Under `apns-lab exec`, startApnsLab() uses exec's mock (test/exec.test.js): the README's
# examples and the whole suite again, one file at a time, by the book's line for it
# (docs/src/ci.md), as printed.
env -u APNS_LAB_BIN PATH="$work/node_modules/.bin:$PATH" \
  bash -euo pipefail -c "$("$root/dist/book_block.sh" '<!-- node exec recipe -->' "$root/docs/src/ci.md")"
echo "npm: $tarball ($(du -h "$tarball" | cut -f1)), installed and tested with @parse/node-apn"

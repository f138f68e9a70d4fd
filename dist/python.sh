#!/usr/bin/env bash
# The pip package (dist/python): a wheel carrying the static apns-lab that dist/static.sh
# built (target/dist/apns-lab), made by hatchling and tagged for Linux x86-64 (glibc and
# musl alike: the binary needs no libc). Then checks it as a user would meet it:
#
#   1. a fresh venv with the wheel and pytest and nothing else, installed by the book's
#      own line (`pip install "apns-lab[pytest]"`, the wheel and pytest as the only
#      packages pip may find): `apns-lab` is on PATH,
#      the README's examples run as written (dist/python/check_readme.py, which also
#      holds the README to the plugin's fixtures, options and calls), and so does the
#      sample suite (dist/python/tests) on the plugin's fixtures alone — each both with
#      mocks the plugin starts and under `apns-lab exec -- pytest`, on exec's mock;
#   2. a second venv adds aioapns, httpx and pytest-asyncio: the ready-made examples
#      (dist/python/examples) push through real HTTP/2 clients.
#
# Usage: dist/python.sh [ADMIN_URL]
#   With ADMIN_URL, both suites use the mock already running there (APNS_LAB_ADMIN_TOKEN
#   from the environment) instead of starting their own: the container check uses this.
# Publishing is a release step: `twine upload target/dist/apns_lab-*.whl`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ -x target/dist/apns-lab ] || { echo "dist/python.sh: run dist/static.sh first" >&2; exit 1; }
work=$(mktemp -d)
licences=(dist/python/LICENSE-MIT dist/python/LICENSE-APACHE dist/python/THIRD-PARTY-NOTICES.txt)
trap 'rm -rf "$work" "${licences[@]}"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1

rm -f target/dist/apns_lab-*.whl
cp target/dist/LICENSE-MIT target/dist/LICENSE-APACHE target/dist/THIRD-PARTY-NOTICES.txt dist/python/
python3 -m venv "$work/build"
APNS_LAB_BINARY="$root/target/dist/apns-lab" "$work/build/bin/pip" wheel -q --no-deps -w target/dist dist/python
wheel=$(ls target/dist/apns_lab-*.whl)
# The licences are in the wheel, where PEP 639 puts them.
contents=$(python3 -m zipfile -l "$wheel")
for f in LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.txt; do
  grep -q "\.dist-info/licenses/$f " <<<"$contents" ||
    { echo "dist/python.sh: the wheel lacks .dist-info/licenses/$f" >&2; exit 1; }
done

against=()
if [ $# -gt 0 ]; then against=(--apns-lab-url "$1"); fi
# Nothing from this checkout: the suites run from a copy, and APNS_LAB_BIN is unset.
unset APNS_LAB_BIN
cp -r dist/python/tests dist/python/examples "$work/"
cp dist/python/README.md dist/python/check_readme.py "$work/"

# The book's install line (docs/src/install.md), as printed, in a fresh venv: pip finds
# apns-lab in target/dist and its extra's pytest among wheels fetched just before, and
# looks nowhere else (PIP_NO_INDEX), so no other package of that name can answer.
"$work/build/bin/pip" download -q -d "$work/wheels" pytest
python3 -m venv "$work/plain"
PATH="$work/plain/bin:$PATH" PIP_NO_INDEX=1 PIP_FIND_LINKS="$root/target/dist $work/wheels" \
  bash -euo pipefail -c "$(dist/book_block.sh '<!-- pip install recipe -->' docs/src/install.md)"
[ "$(PATH="$work/plain/bin:$PATH" command -v apns-lab)" = "$work/plain/bin/apns-lab" ] ||
  { echo "dist/python.sh: the wheel did not put apns-lab on PATH" >&2; exit 1; }
"$work/plain/bin/apns-lab" --version
(cd "$work" && "$work/plain/bin/python" check_readme.py README.md "${against[@]}")
(cd "$work/tests" && "$work/plain/bin/python" -m pytest -q -p no:cacheprovider "${against[@]}")
if [ ${#against[@]} -eq 0 ]; then
  (cd "$work" && "$work/plain/bin/apns-lab" exec -- "$work/plain/bin/python" check_readme.py README.md)
  # The book's line for pytest under exec (docs/src/ci.md), as printed.
  (cd "$work" && PATH="$work/plain/bin:$PATH" \
     bash -euo pipefail -c "$("$root/dist/book_block.sh" '<!-- pytest exec recipe -->' "$root/docs/src/ci.md")")
fi

python3 -m venv "$work/clients"
"$work/clients/bin/pip" install -q "$wheel[pytest]" aioapns==4.0 "httpx[http2]==0.28.1" pytest-asyncio==0.24.0
(cd "$work/examples" && "$work/clients/bin/python" -m pytest -q -p no:cacheprovider "${against[@]}")
echo "python: $wheel ($(du -h "$wheel" | cut -f1)), README, sample suite and examples passed${1:+ against $1}"

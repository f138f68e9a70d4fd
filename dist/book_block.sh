#!/usr/bin/env bash
# Prints the `sh` block that follows MARKER (a line such as `<!-- npm install recipe -->`)
# in a page of the book, as printed, for a package script to run it: the install lines the
# book gives are run as a user would type them.
#
# Usage: dist/book_block.sh MARKER PAGE
set -euo pipefail
block=$(awk -v marker="$1" '
  found && /^```sh$/ { on = 1; next }
  on && /^```$/ { exit }
  on { print }
  $0 == marker { found = 1 }' "$2")
[ -n "$block" ] || { echo "dist/book_block.sh: no sh block after $1 in $2" >&2; exit 1; }
printf '%s\n' "$block"

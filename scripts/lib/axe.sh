#!/usr/bin/env bash
# Installs axe-core (the accessibility engine, from npm) into a local folder once, and prints the
# path of axe.min.js. Usage: scripts/lib/axe.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${POLIS_AXE_DIR:-$here/../../target/axe-core}"
js="$dir/node_modules/axe-core/axe.min.js"
if [ ! -f "$js" ]; then
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if [ ! -f "$js" ]; then
    npm install --silent --no-audit --no-fund --prefix "$dir" axe-core@4 >&2
  fi
  flock -u 9
fi
echo "$js"

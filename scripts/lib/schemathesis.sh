#!/usr/bin/env bash
# Runs Schemathesis (PyPI, pinned) for the schema fuzzing test (crates/polis/tests/fuzz.rs).
# Installs it into a private virtualenv under target/ on first use (idempotent, one installer at a
# time). Usage: scripts/lib/schemathesis.sh ARGS... (the arguments of `schemathesis`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=4.32.5
venv="${POLIS_SCHEMATHESIS_VENV:-$here/../../target/schemathesis-venv-$version}"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
installed() { "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$version"; }
if ! installed; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! installed; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
  fi
  flock -u 9
fi
# Hypothesis keeps its example database and cache in the working directory unless told otherwise:
# run from a scratch directory so nothing lands in the tree.
exec "$venv/bin/schemathesis" "$@"

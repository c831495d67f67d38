#!/usr/bin/env bash
# Runs ipycam (PyPI, pinned): a virtual IP camera whose ONVIF side answers device, media and PTZ
# requests (WS-Security UsernameToken digest) and WS-Discovery probes on UDP 3702, for the PTZ
# tests (crates/polis-http/tests/it/ptz.rs). Installs it into a private virtualenv under target/
# on first use (idempotent, one installer at a time), with OpenCV's headless wheel instead of the
# desktop one it names (no display libraries needed).
# Usage: scripts/lib/ipycam.sh --install | scripts/lib/ipycam.sh DIR (DIR holds camera_config.json).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=1.3.0
venv="${POLIS_IPYCAM_VENV:-$here/../../target/ipycam-venv-$version}"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
installed() { [ -f "$venv/.installed" ] && "$venv/bin/python" -c "import ipycam, cv2" 2>/dev/null; }
if ! installed; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! installed; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "numpy==2.4.6" "opencv-python-headless==5.1.0.95"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "ipycam==$version"
    touch "$venv/.installed"
  fi
  flock -u 9
fi
[ "${1:-}" = "--install" ] && exit 0
cd "$1"
exec "$venv/bin/python" -m ipycam --source video

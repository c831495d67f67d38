# Shared helpers for scripts/test and scripts/bench: install missing Debian packages and start a
# throw-away PostgreSQL on a free loopback port. Source it; do not run it.

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# ensure_packages CMD_OR_PATH:PACKAGE ... installs each PACKAGE whose command or path is missing.
ensure_packages() {
  local missing=() spec probe pkg
  for spec in "$@"; do
    probe=${spec%%:*}
    pkg=${spec#*:}
    if [[ $probe == /* ]]; then
      compgen -G "$probe" >/dev/null || missing+=("$pkg")
    else
      command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    $SUDO apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pg_start: starts PostgreSQL in a temporary directory; sets PG_URL, PG_DIR, PG_BIN.
pg_start() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  PG_DIR=$(mktemp -d /tmp/polis-pg.XXXXXX)
  local port run=()
  port=$(free_port)
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U polis --auth=trust -E UTF8 >/dev/null
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  PG_URL="postgres://polis@127.0.0.1:$port/postgres"
  PG_RUN=("${run[@]}")
  export PG_URL PG_DIR PG_BIN
  echo "PostgreSQL on $PG_URL" >&2
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}

#!/usr/bin/env bash
# PostgreSQL + pgvector for the gallery's database tests (crates/gallery/tests/pgvector.rs).
#
#   pg-test-server.sh bindir    print the bin/ folder of a PostgreSQL server whose installation has
#                               the pgvector extension; exit 1 when there is none
#   pg-test-server.sh install   make one exist (root; idempotent, installs only what is missing):
#                               Debian's postgresql, plus postgresql-NN-pgvector where Debian has it
#                               (trixie and later). Bookworm has no pgvector package, so there the
#                               pgserver wheel from PyPI (PostgreSQL 16.2 + pgvector 0.6.2, pinned by
#                               hash) is unpacked under /opt/sneaker-id.
#
# The tests start their own throwaway cluster from that bin/ folder on a free loopback port.
set -euo pipefail

PGSERVER_VERSION=0.1.4
PGSERVER_WHEEL=pgserver-0.1.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
PGSERVER_SHA256=d595789b47624a3d963aa9aa6359da9be31beb7e61f1a45541953242068b8813
PGSERVER_PREFIX=/opt/sneaker-id/pgserver-$PGSERVER_VERSION

say() { echo "pg-test-server: $*" >&2; }

# A bin/ folder qualifies when it has the server programs and its share/extension has vector.control.
has_pgvector() {
  local bin=$1 share
  [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] && [ -x "$bin/pg_config" ] || return 1
  share=$("$bin/pg_config" --sharedir 2>/dev/null) || return 1
  [ -e "$share/extension/vector.control" ]
}

bindir() {
  local candidates=()
  [ -n "${SNEAKER_ID_PG_BIN:-}" ] && candidates+=("$SNEAKER_ID_PG_BIN")
  # Debian's own servers first, newest first; then the unpacked wheel.
  while IFS= read -r d; do candidates+=("$d"); done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn)
  candidates+=("$PGSERVER_PREFIX/pgserver/pginstall/bin")
  for bin in "${candidates[@]}"; do
    if has_pgvector "$bin"; then echo "$bin"; return 0; fi
  done
  return 1
}

install() {
  if bindir >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then say "not root: cannot install PostgreSQL + pgvector"; return 1; fi
  export DEBIAN_FRONTEND=noninteractive
  [ -d /var/lib/apt/lists ] && ls /var/lib/apt/lists/*Packages* >/dev/null 2>&1 || apt-get update -qq
  local packages=()
  ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || packages+=(postgresql)
  if ((${#packages[@]})); then
    say "apt-get install ${packages[*]}"
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  fi
  local major
  major=$(ls /usr/lib/postgresql 2>/dev/null | sort -rn | head -n 1)
  if [ -n "$major" ] && apt-cache show "postgresql-$major-pgvector" >/dev/null 2>&1; then
    say "apt-get install postgresql-$major-pgvector"
    apt-get install -y -qq --no-install-recommends "postgresql-$major-pgvector" >/dev/null
    bindir >/dev/null && return 0
  fi
  say "Debian has no pgvector for PostgreSQL ${major:-?}: unpacking the pgserver $PGSERVER_VERSION wheel"
  command -v unzip >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends unzip >/dev/null
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: "pgserver==$PGSERVER_VERSION" -d "$tmp"
  echo "$PGSERVER_SHA256  $tmp/$PGSERVER_WHEEL" | sha256sum --check --quiet
  # Binaries find their libraries through RPATH $ORIGIN/../../../pgserver.libs: keep the layout.
  mkdir -p "$PGSERVER_PREFIX.partial"
  unzip -q -o "$tmp/$PGSERVER_WHEEL" 'pgserver/pginstall/*' 'pgserver.libs/*' -d "$PGSERVER_PREFIX.partial"
  rm -rf "$PGSERVER_PREFIX" && mv "$PGSERVER_PREFIX.partial" "$PGSERVER_PREFIX"
  # The server refuses to run as root; the tests run it as the `postgres` user Debian's package made.
  chmod -R a+rX "$PGSERVER_PREFIX"
  bindir >/dev/null
}

case "${1:-}" in
  bindir) bindir ;;
  install) install ;;
  *) echo "usage: $0 bindir|install" >&2; exit 2 ;;
esac

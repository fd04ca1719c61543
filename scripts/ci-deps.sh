#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and the assets. Idempotent: installs only what is
# missing, and never fails `make test` for want of root (the tests that need these skip, saying so).
#
#   apt: the packages listed in scripts/debian-packages.sh (build list with --build, both lists
#        otherwise), each one dpkg does not report as installed
#   pgvector: scripts/pg-test-server.sh install (Debian's postgresql-NN-pgvector where Debian has
#        it; on bookworm, which has none, the hash-pinned pgserver wheel from PyPI)
#   npm: playwright-core, pinned in tests/browser/package-lock.json, into tests/browser/node_modules
#        (drives the system Chromium; no browser download)
set -euo pipefail
cd "$(dirname "$0")/.."

warn() { echo "test-deps: $*" >&2; }

# --build: only what compiling the workspace needs (`make build` / `make run`).
build_only=0
[ "${1:-}" = "--build" ] && build_only=1

# shellcheck source=debian-packages.sh
source scripts/debian-packages.sh
wanted=("${BUILD_PACKAGES[@]}")
((build_only)) || wanted+=("${TEST_PACKAGES[@]}")
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
packages=()
for p in "${wanted[@]}"; do installed "$p" || packages+=("$p"); done
# NodeSource's nodejs carries npm; Debian's nodejs needs Debian's npm package beside it.
if ((build_only == 0)) && ! command -v npm >/dev/null 2>&1 && ! installed npm; then packages+=(npm); fi

can_root() { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

if ((${#packages[@]})); then
  if can_root; then
    echo "test-deps: apt-get install ${packages[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    warn "cannot install ${packages[*]} without root (see scripts/debian-packages.sh for what each is for); the build or the tests that need them will fail or skip"
  fi
fi
((build_only)) && { echo "test-deps: build dependencies ready"; exit 0; }

if scripts/pg-test-server.sh bindir >/dev/null 2>&1; then :
elif can_root; then
  as_root scripts/pg-test-server.sh install || warn "PostgreSQL + pgvector install failed; the pgvector gallery test will fail under CI=true"
else
  warn "cannot install PostgreSQL + pgvector without root; the pgvector gallery test will be skipped"
fi

# playwright-core's version as pinned by the lock file, and as installed.
want=$(sed -n 's/.*"node_modules\/playwright-core": *{/X/p;/X/{n;p}' tests/browser/package-lock.json 2>/dev/null | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' | head -n 1)
have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' tests/browser/node_modules/playwright-core/package.json 2>/dev/null | head -n 1 || true)
if command -v npm >/dev/null 2>&1; then
  if [ -z "$have" ] || [ "$have" != "$want" ]; then
    echo "test-deps: npm ci in tests/browser (playwright-core $want)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error \
      || warn "npm ci failed; the browser test will be skipped"
  fi
else
  warn "npm not found; the browser test will be skipped"
fi
echo "test-deps: ready (chromium: $(command -v chromium || echo missing), playwright-core: ${want:-?})"

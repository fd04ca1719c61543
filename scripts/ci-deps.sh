#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and the assets. Idempotent: installs only what is
# missing, and never fails `make test` for want of root (the tests that need these skip, saying so).
#
#   apt: libopencv-dev, clang, libclang-dev (the `opencv` crate's bindings and GrabCut background
#        removal in crates/vision: needed to build at all, so `make build` runs this with --build),
#        chromium, fonts-dejavu-core (the browser test's headless Chromium and a font for it),
#        nodejs and npm when absent, postgresql (the pgvector gallery test's throwaway server)
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

packages=()
[ -e /usr/include/opencv4/opencv2/imgproc.hpp ] || packages+=(libopencv-dev)
command -v clang >/dev/null 2>&1 || packages+=(clang)
# opencv-binding-generator loads libclang at build time.
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || compgen -G "/usr/lib/x86_64-linux-gnu/libclang-*.so*" >/dev/null || packages+=(libclang-dev)
if ((build_only == 0)); then
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || packages+=(fonts-dejavu-core)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
fi

can_root() { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

if ((${#packages[@]})); then
  if can_root; then
    echo "test-deps: apt-get install ${packages[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    warn "cannot install ${packages[*]} without root; the build needs libopencv-dev, clang and libclang-dev, and the browser test will be skipped"
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

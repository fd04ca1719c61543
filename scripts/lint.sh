#!/usr/bin/env bash
# The CI gates `make test` runs before the suite: formatting (rustfmt.toml), clippy with every
# warning an error, and no unused dependency (cargo-machete: reads the sources, builds nothing).
# Installs what is missing: the rustup components, and cargo-machete at a pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

MACHETE_VERSION=0.9.2

if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
if ! cargo machete --version 2>/dev/null | grep -q "$MACHETE_VERSION"; then
  echo "lint: cargo install cargo-machete@$MACHETE_VERSION (once)"
  cargo install --locked --quiet "cargo-machete@$MACHETE_VERSION"
fi

echo "lint: cargo fmt --check"
cargo fmt --all --check
echo "lint: cargo machete"
cargo machete
echo "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

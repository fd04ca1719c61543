#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and the assets. Idempotent: installs only what is missing.
set -euo pipefail
echo "test-deps: nothing extra needed yet"

#!/usr/bin/env bash
# Load benchmark of `sneaker-id serve` on loopback with wrk (Debian package `wrk`): POST one real
# photo to /api/v1/identify for DURATION at each concurrency, after measuring the bare network's
# batch-32 throughput in the same run. Prints throughput, latency percentiles, non-2xx answers and
# the server's resident memory before and after.
#
#   crates/serve/scripts/bench-load.sh [PHOTO]     (DURATION=60s CONCURRENCY="1 8 64" by default)
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sneaker-id/target}"
PHOTO="${1:-../shared/datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg}"
DURATION="${DURATION:-60s}"
CONCURRENCY="${CONCURRENCY:-1 8 64}"
BIN="$CARGO_TARGET_DIR/release/sneaker-id"
command -v wrk >/dev/null || { echo "bench-load: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench-load: build first: cargo build --release -p sneaker-id" >&2; exit 1; }

echo "== bare network (same classifier the server runs), batch 32 and batch 8"
cargo run --quiet --release -p sneaker-serve --example forward_throughput -- 32 20
cargo run --quiet --release -p sneaker-serve --example forward_throughput -- 8 20

out="$(mktemp)"
gallery="$(mktemp -d)"   # an empty gallery: the bare network's answers, as before
"$BIN" serve --addr 127.0.0.1:0 --gallery "$gallery" >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$out" "$gallery"' EXIT
for _ in $(seq 300); do grep -q "serving on" "$out" && break; sleep 0.1; done
url="$(sed -n 's/^sneaker-id: serving on \([^ ]*\).*/\1/p' "$out")"
until curl -fs "${url}v2/health/ready" >/dev/null; do sleep 0.2; done
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status"; }
echo "== server $url ($(nproc) cores), photo $(basename "$PHOTO") $(stat -c %s "$PHOTO") bytes"
echo "memory before: $(rss)"
for c in $CONCURRENCY; do
  echo "-- concurrency $c, $DURATION"
  PHOTO="$PHOTO" wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "$DURATION" --timeout 30s \
    -s crates/serve/scripts/wrk-identify.lua "${url}api/v1/identify" \
    | grep -E "Requests/sec|Non-2xx|Socket errors|requests in|p50_ms"
  echo "memory after: $(rss)"
done
curl -s "${url}metrics" | grep -E '^sneaker_id_(inference_batch_size_(sum|count)|http_requests_total\{route="/api/v1/identify")'

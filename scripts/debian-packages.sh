# The Debian packages sneaker-id needs beyond the base image (Rust, Python 3 + pip): the one list,
# sourced by scripts/ci-deps.sh. Whether a package is present is asked of dpkg by its name, never
# guessed from files: the base image's libclang-cpp14 ships a libclang-cpp.so that once passed
# for libclang-dev.

# Compiling the workspace (`make run`, `make build`, `make test`):
#   libopencv-dev, clang, libclang-dev  the `opencv` crate's generated bindings (it loads libclang)
#                                       and GrabCut background removal in crates/vision
#   libheif-dev, pkg-config             HEIC/HEIF photos (iPhones' default) through libheif-rs
#   nasm                                libjpeg-turbo's SIMD code in the `mozjpeg` crate (scaled
#                                       JPEG decoding, crates/vision/src/decode/scaled.rs)
BUILD_PACKAGES=(libopencv-dev clang libclang-dev libheif-dev pkg-config nasm)

# Running the test suite (`make test`), on top of the build packages:
#   chromium, fonts-dejavu-core         the browser tests' headless Chromium and a font for it
#   nodejs                              runs playwright-core (npm comes with it; see ci-deps.sh)
#   postgresql                          the pgvector gallery tests' throwaway server
TEST_PACKAGES=(chromium fonts-dejavu-core nodejs postgresql)

# sneaker-id: the two commands of the README, and the steps they are made of.
#   make run   — fetch assets, build, start the web app (ADDR, MODEL=RUN optional)
#   make test  — fetch all assets (Lite1/Lite2 too) and test dependencies, check format/lints/dependencies, run the suite

# Assets and the build outlive a clone, so a second clone (or CI) starts warm.
CACHE_DIR ?= $(HOME)/.cache/sneaker-id
export ASSETS_DIR ?= $(CACHE_DIR)/assets
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
BIN := $(CARGO_TARGET_DIR)/release/sneaker-id

ADDR ?= 127.0.0.1:8080
MODEL ?=

.PHONY: run test lint assets assets-all test-deps build-deps build build-train
run: assets build
	$(BIN) serve --addr $(ADDR) $(if $(MODEL),--model $(MODEL))

test: assets-all test-deps lint
	scripts/prune-target.sh
	cargo test --workspace

# CI gates: rustfmt, clippy -D warnings, no unused dependency (scripts/lint.sh).
lint: build-deps
	scripts/lint.sh

assets:
	scripts/fetch-assets.sh

# Also what only training and the tests need (not `make run`): the Lite1/Lite2 weights and the
# known not-footwear photos their tests classify.
assets-all:
	scripts/fetch-assets.sh all
	scripts/fetch-eval-images.sh

test-deps:
	scripts/ci-deps.sh

# Debian packages the build links (scripts/debian-packages.sh says which and why).
build-deps:
	scripts/ci-deps.sh --build

# What serving needs, without burn (whose cold build alone takes 15-25 minutes on two cores).
build: build-deps
	cargo build --release -p sneaker-id --no-default-features --bin sneaker-id

# Training (burn): `sneaker-id train|evaluate|report` builds this on first use by itself.
build-train: build-deps
	cargo build --release -p sneaker-id --bin sneaker-id-train

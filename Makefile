# sneaker-id: the two commands of the README, and the steps they are made of.
#   make run   — fetch assets, build, start the product on this machine
#   make test  — fetch assets and test dependencies, run the whole test suite

# Assets and the build outlive a clone, so a second clone (or CI) starts warm.
CACHE_DIR ?= $(HOME)/.cache/sneaker-id
export ASSETS_DIR ?= $(CACHE_DIR)/assets
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
BIN := $(CARGO_TARGET_DIR)/release/sneaker-id

IMAGE ?= ../shared/datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg

.PHONY: run test assets test-deps build
run: assets build
	$(BIN) predict $(IMAGE)

test: assets test-deps
	cargo test --workspace

assets:
	scripts/fetch-assets.sh

test-deps:
	scripts/ci-deps.sh

build:
	cargo build --release -p sneaker-id

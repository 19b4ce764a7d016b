# One task runner for CI and people: `make test` runs everything the README promises.
CARGO ?= cargo

.PHONY: check test lint spec build

build:
	$(CARGO) build --release -p probity-cli

check: build
	./target/release/probity check policies

spec: build
	./target/release/probity test tests/spec policies

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint
	$(CARGO) test --workspace
	$(MAKE) spec

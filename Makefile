# One task runner for CI and people: `make test` runs everything the README promises.
CARGO ?= cargo

.PHONY: build check test lint doc spec rust-test python-test js-test editor-test report-test bench measure fuzz fuzz-smoke

build:
	$(CARGO) build --release -p probity-cli

check: build
	./target/release/probity check policies
	./target/release/probity fmt --check policies

spec: build
	./target/release/probity check policies
	./target/release/probity fmt --check policies
	./target/release/probity test tests/spec
	./target/release/probity test --fail-under 100 policies

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The API documentation, with every rustdoc warning (a broken link, a bad code block) an error.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

rust-test:
	$(CARGO) test --workspace

python-test: build
	bindings/python/run-tests.sh

js-test: build
	cd bindings/wasm && npm ci --no-audit --no-fund && npm test

editor-test:
	editors/test/run.sh

report-test: build
	tests/report-browser/run.sh

test: lint doc rust-test spec python-test js-test editor-test report-test

bench:
	$(CARGO) bench -p probity --bench engine

measure:
	scripts/measure-replay.sh 1000000 3000000

# Each fuzz target for a minute, seeded from tests/spec (CI runs this after the tests).
fuzz-smoke:
	scripts/fuzz-smoke.sh 60

fuzz:
	cd fuzz && cargo +nightly fuzz run parse_check -- -max_total_time=900

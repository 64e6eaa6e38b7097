# ingest — the two commands a user needs are `make run` and `make test`.
CARGO ?= cargo

.PHONY: run test test-singer test-meltano lint build bench coverage clean

## run: the built-in demo (mock APIs in-process) → out/records.jsonl, out/summary.json
## (debug profile and no TLS: the demo is plain http on loopback and I/O-bound,
## so a fresh machine gets to it fastest this way)
run:
	@echo "make run: building ingest (a first build takes about a minute), then the demo"
	$(CARGO) run --no-default-features -- run

## test: the whole test suite (what CI runs)
test:
	$(CARGO) test --workspace

## test-singer: a real Singer target (target-jsonl 0.1.4 from PyPI, in a
## virtualenv under target/) loads the demo's --format singer output; the rows
## it loaded are compared with the run's summary. Needs python3 and PyPI; not
## part of test, so CI needs no Python packages
test-singer:
	$(CARGO) build --quiet
	bash tests/singer-target/check.sh "$${CARGO_TARGET_DIR:-target}"

## test-meltano: the README's "In Meltano" section run by a real Meltano
## (4.4.1, in a virtualenv under target/, from PyPI): discover, select,
## two incremental runs of ingest tap into target-jsonl, the rows loaded
## and the state Meltano stored. Needs python3 and PyPI; not part of test
test-meltano:
	$(CARGO) build --quiet
	bash tests/meltano/check.sh "$${CARGO_TARGET_DIR:-target}"

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: release build, then measurements against a serve-mock process;
## prints a table and writes out/bench.json (about 4 minutes; not part of test)
bench:
	$(CARGO) build --release
	INGEST_BIN="$${CARGO_TARGET_DIR:-target}/release/ingest" $(CARGO) bench --profile benchmark --bench bench

## build: release binary at target/release/ingest
build:
	$(CARGO) build --release

clean:
	$(CARGO) clean

## coverage: line coverage of src/ (installs cargo-llvm-cov on first use); fails under 90%
coverage:
	@command -v cargo-llvm-cov >/dev/null 2>&1 || $(CARGO) install --locked cargo-llvm-cov
	@rustup component add llvm-tools-preview >/dev/null 2>&1 || true
	$(CARGO) llvm-cov --workspace --summary-only \
		--ignore-filename-regex '(testsupport/|tests/|src/main\.rs)' --fail-under-lines 90

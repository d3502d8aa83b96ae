# ccstream: the two commands are `make run` and `make test`; both install first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-integration schemas bench soak clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/python -m streamer.demo --config config.yaml

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=10

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

test-integration: install
	$(BIN)/python -m pytest -q tests/integration tests/e2e

schemas: install
	$(BIN)/streamer schemas --write schemas/ --readme README.md

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# Figures, not CI: writes bench/results.json and prints a table (see bench/__main__.py).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

# Figures, not CI: 100 SIGKILLs against the simulator, 10,000 fuzzed bodies per fuzz test,
# and a 60 s broker outage (20 s in make test), with their numbers printed.
soak: install
	CCSTREAM_SOAK=1 CCSTREAM_SOAK_KILLS=100 CCSTREAM_OUTAGE_S=60 $(BIN)/python -m pytest -q -s -p no:cacheprovider \
		tests/integration/test_exactly_once.py tests/integration/test_broker_outage.py tests/unit/vonage/test_fuzz.py \
		tests/unit/alvaria/test_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info

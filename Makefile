# ccstream: the two commands are `make run` and `make test`; both install first.
# Installs are pinned: `make install` installs exactly uv.lock (every package, with hashes)
# through uv, itself pinned with hashes in requirements-uv.txt. See README, Development.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_DIR := .uv
UV := $(UV_DIR)/bin/uv
# uv must use the machine's Python (never download one) and put the project in .venv.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install lock test-latest test-oldest run lint test test-unit test-integration schemas bench soak clean

install: $(STAMP)

$(UV): requirements-uv.txt
	rm -rf $(UV_DIR)
	$(PY) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
		--target $(UV_DIR) -r requirements-uv.txt
	touch $(UV)

# Every extra (dev, bench, sim, broker, compression): one environment that matches the lock
# exactly (--locked also fails when pyproject.toml and uv.lock disagree).
# Compiled to bytecode at install, as a wheel install in the image is: with
# PYTHONDONTWRITEBYTECODE set (as on CI machines) every process would otherwise compile all
# it imports again at each start (0.75 s -> 0.45 s to import the daemon, measured).
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --quiet --locked --all-extras --compile-bytecode --python $(PY)
	$(VENV)/bin/python -m compileall -q streamer
	touch $(STAMP)

# Refresh the lock to the newest versions pyproject.toml allows; run `make test` after it.
lock: $(UV)
	$(UV) lock --upgrade --python $(PY)

# The suite in a throwaway environment with the newest (test-latest) or the oldest
# (test-oldest: each direct dependency at its lower bound) versions pyproject.toml allows.
# Not part of CI: this is how a lock refresh or a new lower bound is checked first.
test-latest: RESOLUTION := highest
test-oldest: RESOLUTION := lowest-direct
test-latest test-oldest: $(UV)
	set -e; env=$$(mktemp -d); trap 'rm -rf "$$env"' EXIT; \
	$(UV) venv --quiet --python $(PY) "$$env"; \
	VIRTUAL_ENV="$$env" $(UV) pip install --quiet --resolution $(RESOLUTION) -e '.[dev,bench]'; \
	VIRTUAL_ENV="$$env" $(UV) pip list --quiet | grep -iE '^(msgspec|aiokafka|httpx|anyio|structlog) '; \
	"$$env/bin/python" -m pytest -q -p no:cacheprovider \
		--deselect tests/unit/test_lock.py::test_this_environment_is_exactly_the_lock

run: install
	$(BIN)/python -m streamer.cli.demo --config config.yaml

# Lint, then types (mypy strict on streamer/: pyproject.toml's [tool.mypy] picks the files).
lint: install
	$(BIN)/ruff check streamer tests bench
	$(BIN)/python -m mypy

test: install
	$(BIN)/ruff check streamer tests bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=10

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

test-integration: install
	$(BIN)/python -m pytest -q tests/integration tests/e2e

schemas: install
	$(BIN)/streamer schemas --write schemas/ --readme README.md

# Figures, not CI: writes bench/results.json and prints a table (see bench/__main__.py).
bench: install
	$(BIN)/python -m bench

# Figures, not CI: 100 SIGKILLs against the simulator, 10,000 fuzzed bodies per fuzz test,
# and a 60 s broker outage (20 s in make test), with their numbers printed.
soak: install
	CCSTREAM_SOAK=1 CCSTREAM_SOAK_KILLS=100 CCSTREAM_OUTAGE_S=60 $(BIN)/python -m pytest -q -s -p no:cacheprovider \
		tests/integration/test_exactly_once.py tests/integration/test_broker_outage.py tests/unit/vendors/vonage/test_fuzz.py \
		tests/unit/vendors/alvaria/test_fuzz.py

clean:
	rm -rf $(VENV) $(UV_DIR) build *.egg-info

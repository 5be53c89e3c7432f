# The two front-door commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RUN := data/demo
DEMO_CASE := scenarios/feed_remap.yaml
PORT ?= 8501
PACKAGES := runfolder sim readout grading dashboard casesim

.PHONY: demo test lint format install browser clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install -q uv || $(PYTHON) -m pip install -q --user uv
	$(PYTHON) -m uv venv -q --allow-existing $(VENV)
	$(PYTHON) -m uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the real-browser tests (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install -y chromium'"; exit 1; fi; }

# Generate the demo case once (default size, calibrated, with its answer key and cube) and
# open it in the investigation dashboard.
demo: install
	@test -f $(DEMO_RUN)/manifest.json || $(BIN)/casesim run $(DEMO_CASE) --out $(DEMO_RUN) --force
	$(BIN)/casesim dashboard $(DEMO_RUN) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The project's bytecode first: with PYTHONDONTWRITEBYTECODE set (as on this machine), every
# process the tests start (CLI runs, servers, SQL and task workers) would compile it again.
# Generated shipped cases are kept in CASE_CACHE, keyed by their scenario, calibration record,
# the code that makes them and the packages (tests/case_cache.py); `make test CASE_CACHE=`
# generates every case afresh.
CASE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/casesim/test-cases
test: install browser lint
	$(BIN)/python -m compileall -q $(PACKAGES)
	CASESIM_CASE_CACHE="$(CASE_CACHE)" $(BIN)/pytest -n 2 -q --durations=15

bench: install browser
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/truth_cost.py
	$(BIN)/python bench/dashboard_latency.py

clean:
	rm -rf $(VENV) data/*

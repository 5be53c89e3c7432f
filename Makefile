# The two front-door commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RUN := data/demo

.PHONY: demo test lint format install browser clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install -q uv || $(PYTHON) -m pip install -q --user uv
	$(PYTHON) -m uv venv -q --allow-existing $(VENV)
	$(PYTHON) -m uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the real-browser tests (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install -y chromium'"; exit 1; fi; }

demo: install
	@test -f $(DEMO_RUN)/manifest.json || $(BIN)/casesim run scenarios/baseline.yaml --out $(DEMO_RUN)
	$(BIN)/casesim describe $(DEMO_RUN)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install browser lint
	$(BIN)/pytest -n 2 -q

bench: install
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) data/*

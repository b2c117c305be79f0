# Everything runs inside .venv, which `make test` creates from a bare python3 + pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_LOGGING_TO_API_ENABLED := false

.PHONY: test lint typecheck unit demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check prefect_llamabatch tests flows deployments bench
	$(BIN)/ruff format --check prefect_llamabatch tests flows deployments bench

typecheck: $(STAMP)
	$(BIN)/mypy prefect_llamabatch

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/llamabatch demo --emulator

# make bench; make bench BENCH="B1 B3 --quick" (see bench/run.py --help)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Everything runs inside .venv, which `make test` creates from a bare python3 + pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: test lint typecheck unit demo bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "prefect-llamabatch needs Python 3.10+; $(PYTHON) is $$($(PYTHON) -V 2>&1). Run: make PYTHON=python3.11 ..."; exit 1; }
	@# Debian/Ubuntu without python3-venv have no ensurepip: fall back to a pip-less venv that
	@# borrows the system pip once to install its own.
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "python -m venv failed (no ensurepip?); using the system pip to bootstrap .venv"; \
		$(PYTHON) -m venv --without-pip --system-site-packages $(VENV) && \
		$(BIN)/python -m pip --version >/dev/null || \
		{ echo "no pip available: install pip (e.g. apt install python3-pip) and retry"; exit 1; }; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check prefect_llamabatch tests flows deployments bench
	$(BIN)/ruff format --check prefect_llamabatch tests flows deployments bench

typecheck: $(STAMP)
	$(BIN)/mypy prefect_llamabatch

# Logs stay out of the test API (noise, speed); the secrets suite turns them back on to scan them.
unit: $(STAMP)
	PREFECT_LOGGING_TO_API_ENABLED=false $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/llamabatch demo --emulator

# make bench; make bench BENCH="B1 B3 --quick" (see bench/run.py --help)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Everything runs inside .venv, which `make test` creates from a bare python3 + pip, and the suite
# runs a second time in .venv-lowest: the lowest Python and dependency versions the package
# declares (pyproject.toml + constraints/lowest.txt), so the declared ranges are tested ranges.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The lowest Python requires-python admits: the first python3.10 that runs (pyenv's shim does
# not unless 3.10 is selected, so pyenv's own 3.10 builds are tried too).
ifndef PYTHON_LOWEST
PYTHON_LOWEST := $(shell for p in python3.10 $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10); do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$$p"; break; }; done)
endif
VENV_LOWEST := .venv-lowest
LOWEST_STAMP := $(VENV_LOWEST)/.installed-lowest
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: test lint typecheck unit unit-lowest venv venv-lowest demo bench mutate clean

$(VENV)/.installed: pyproject.toml
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

# Rebuilt from scratch when pyproject.toml or the constraints change, so nothing newer lingers.
$(LOWEST_STAMP): pyproject.toml constraints/lowest.txt
	@test -n "$(PYTHON_LOWEST)" || { echo "the lowest-versions run needs Python 3.10 (requires-python >=3.10)" \
		"and none runs here: install one (e.g. pyenv install 3.10) or pass make PYTHON_LOWEST=/path/to/python3.10"; exit 1; }
	rm -rf $(VENV_LOWEST)
	$(PYTHON_LOWEST) -m venv $(VENV_LOWEST)
	$(VENV_LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_LOWEST)/bin/python -m pip install --quiet -e '.[dev]' -c constraints/lowest.txt
	$(VENV_LOWEST)/bin/python -m pip check
	touch $(LOWEST_STAMP)

venv-lowest: $(LOWEST_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check prefect_llamabatch tests flows deployments bench scripts
	$(BIN)/ruff format --check prefect_llamabatch tests flows deployments bench scripts
	$(BIN)/python scripts/unasync.py --check
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy prefect_llamabatch

# Logs stay out of the test API (noise, speed); the secrets suite turns them back on to scan them.
# On every core (pytest-xdist: each worker has its own Prefect test API and emulator pool on free
# loopback ports) and in random order (pytest-randomly: the header prints the seed; replay an order
# with PYTEST_ARGS="-p randomly --randomly-seed=N", or PYTEST_WORKERS=0 to run in one process).
PYTEST_WORKERS ?= auto
unit: $(STAMP)
	PREFECT_LOGGING_TO_API_ENABLED=false $(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The same `unit` target, with the lowest-versions environment's binaries.
unit-lowest: $(LOWEST_STAMP)
	$(MAKE) --no-print-directory unit BIN=$(VENV_LOWEST)/bin STAMP=$(LOWEST_STAMP)

# Newest versions first, then the lowest the package declares: both gate.
test: lint typecheck unit unit-lowest

demo: $(STAMP)
	$(BIN)/llamabatch demo --emulator

# make bench; make bench BENCH="B1 B3 --quick" (see bench/run.py --help)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py $(BENCH)

# Mutation testing of the guarantee modules ([tool.mutmut] in pyproject.toml; docs/mutation.md).
# Slow (a full run takes hours on 2 cores), so not part of `make test`; narrow it with
# MUTANTS="prefect_llamabatch.client.paging*". Prints the kill rate per module. One worker by
# default (MUTATE_WORKERS=2 on an idle machine): the 2 cores are shared.
MUTATE_WORKERS ?= 1
mutate: $(STAMP)
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_WORKERS) $(MUTANTS)
	$(BIN)/python bench/mutation_report.py

clean:
	rm -rf $(VENV) $(VENV_LOWEST) .pytest_cache .mypy_cache .ruff_cache mutants

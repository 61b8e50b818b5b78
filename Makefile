# carbonlink — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint bench install dev clean i18n

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import carbonlink" && touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,dask]" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import carbonlink, pytest, hypothesis" && touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

## The main job on shipped example data (SQLite default): the EU–Switzerland link assessment.
demo: $(VENV)/.installed
	$(BIN)/carbonlink assess examples/agreements/eu-switzerland.yaml --out build/eu-switzerland-report.html --no-fail

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

## Lint, then pytest against SQLite and a throwaway PostgreSQL (started when the server exists),
## in one pytest-xdist worker per CPU (at most 4, tests/conftest.py; PYTEST_WORKERS=0: one process).
PYTEST_WORKERS ?= auto
test: $(VENV)/.installed-dev lint
	bash scripts/with-postgres.sh $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/pip install -q -e ".[dev,dask,bench]" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import linopy" && touch $@

bench: $(VENV)/.installed-bench
	bash scripts/with-postgres.sh $(BIN)/python -m benchmarks

## Message catalogs: extract every marked string (Python _(), tr() or N_(), templates) into
## build/carbonlink.pot, then merge it into each language's .po (new entries arrive untranslated;
## tests/reporting/test_i18n.py fails until they are translated).
LOCALE := src/carbonlink/reporting/locale
i18n: $(VENV)/.installed-dev
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k tr --no-location --sort-output --omit-header \
		-o build/carbonlink.pot .
	$(BIN)/pybabel update -i build/carbonlink.pot -d $(LOCALE) -D carbonlink -l zh \
		--no-fuzzy-matching --ignore-pot-creation-date --width 100

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache

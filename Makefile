# Every target creates .venv when it is missing, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## the server on SQLite with the bundled accrual simulator
	$(BIN)/gophermart demo

test: $(STAMP)  ## the whole suite, on SQLite and on PostgreSQL
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check gophermart tests bench
	$(BIN)/ruff format --check gophermart tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix gophermart tests bench
	$(BIN)/ruff format gophermart tests bench

bench: $(STAMP)  ## prints the benchmark table (never part of CI); BENCH_ARGS=--big etc.
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

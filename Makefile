# The two commands: `make run` and `make test`. Everything else is a piece of them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: install home pipeline ui run test test-slow lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

home:
	mkdir -p $(DAGSTER_HOME)
	ln -sf ../dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## Backfill two years of the simulated market and run the whole graph once.
pipeline: install home
	$(BIN)/python -m robo_dagster.quickstart

## The Dagster UI and daemon on http://$(HOST):$(PORT). It starts inside DAGSTER_HOME:
## from the repo root, `dagster dev` would warn that ./dagster.yaml goes unused, when it
## is in fact used through the link in DAGSTER_HOME.
ui: install home
	cd $(DAGSTER_HOME) && $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml -h $(HOST) -p $(PORT)

## Command 1: install, run the pipeline, open the UI.
run: pipeline ui

## Command 2: install and run the test suite (without the slow integration tests).
test: install
	$(BIN)/python -m pytest

test-slow: install
	$(BIN)/python -m pytest -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

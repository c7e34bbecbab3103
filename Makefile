# The two commands: `make run` and `make test`. Everything else is a piece of them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000
API_PORT ?= 8001
SERVE := $(BIN)/robo-dagster --host $(HOST) --port $(PORT) serve --host $(HOST) --port $(API_PORT)

.PHONY: install home pipeline ui api run test test-slow lint

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

## The REST API on http://$(HOST):$(API_PORT) (docs at /docs), over the webserver above.
api: install home
	$(SERVE)

## Command 1: install, run the pipeline, open the UI with the REST API beside it. The API
## runs in the background and stops with the UI.
run: pipeline
	@$(SERVE) & api=$$!; trap 'kill $$api 2>/dev/null' EXIT INT TERM; \
	echo "REST API: http://$(HOST):$(API_PORT)/docs (robo-dagster serve, PID $$api)"; \
	$(MAKE) --no-print-directory ui

## Command 2: install and run the test suite (without the slow integration tests).
test: install
	$(BIN)/python -m pytest

test-slow: install
	$(BIN)/python -m pytest -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

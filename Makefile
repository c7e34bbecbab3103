# The two commands: `make run` and `make test`. Everything else is a piece of them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000
API_PORT ?= 8001
DASHBOARD_PORT ?= 8501
GRACE ?= 10
SERVE := $(abspath $(BIN))/robo-dagster --host $(HOST) --port $(PORT) serve --host $(HOST) --port $(API_PORT)
DAGSTER_DEV := cd $(DAGSTER_HOME) && exec $(abspath $(BIN))/dagster dev -w $(CURDIR)/workspace.yaml -h $(HOST) -p $(PORT)
# The desk dashboard (Streamlit): headless, no usage statistics; its links point at the UI above.
DASHBOARD := ROBO_DAGSTER_UI_URL=http://$(HOST):$(PORT) exec $(abspath $(BIN))/python -m robo_dagster.dashboard --host $(HOST) --port $(DASHBOARD_PORT)

.PHONY: install home pipeline ui api dashboard run test test-slow lint cluster cluster-stop cluster-status cluster-env cluster-test

# The local cluster (robo_dagster/cluster/local.py): ports clear of make run's.
CLUSTER_DIR ?= $(CURDIR)/.cluster
CLUSTER_PORT ?= 3100
CLUSTER_PG_PORT ?= 55432
CLUSTER_REDIS_PORT ?= 56379
# PYTHONPATH: the cluster's processes import this checkout, whatever the venv points at.
CLUSTER := PYTHONPATH=$(CURDIR) $(BIN)/python -m robo_dagster.cluster.local --root $(CLUSTER_DIR)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

home:
	mkdir -p $(DAGSTER_HOME)
	ln -sf $(CURDIR)/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## Backfill two years of the simulated market and run the whole graph once.
pipeline: install home
	$(BIN)/python -m robo_dagster.cli.quickstart

## The Dagster UI and daemon on http://$(HOST):$(PORT). It starts inside DAGSTER_HOME:
## from the repo root, `dagster dev` would warn that ./dagster.yaml goes unused, when it
## is in fact used through the link in DAGSTER_HOME.
## scripts/supervise.py starts it in its own process group and, on Ctrl-C or SIGTERM,
## stops every process of it within GRACE seconds (dagster dev alone can take minutes).
ui: install home
	exec $(BIN)/python scripts/supervise.py --grace $(GRACE) "$(DAGSTER_DEV)"

## The REST API on http://$(HOST):$(API_PORT) (docs at /docs), over the webserver above.
api: install home
	$(SERVE)

## The desk dashboard alone on http://$(HOST):$(DASHBOARD_PORT) (Book, Risk, Recommendations,
## Market, Alerts and pipeline), over the DuckDB file and the instance in DAGSTER_HOME.
dashboard: install home
	$(DASHBOARD)

## Command 1: install, run the pipeline, open the UI with the REST API and the dashboard
## beside it. All run under scripts/supervise.py: Ctrl-C stops them together, and if one
## exits, so do the others.
run: pipeline
	@echo "Dagster UI: http://$(HOST):$(PORT)   REST API: http://$(HOST):$(API_PORT)/docs   Dashboard: http://$(HOST):$(DASHBOARD_PORT)"
	exec $(BIN)/python scripts/supervise.py --grace $(GRACE) "$(DAGSTER_DEV)" "$(SERVE)" "$(DASHBOARD)"

## Command 2: install and run the test suite (without the slow integration tests).
test: install
	$(BIN)/python -m pytest

test-slow: install
	$(BIN)/python -m pytest -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## A cluster on this machine, on 127.0.0.1 under .cluster/: Postgres, Redis, the webserver
## and the daemon on the Postgres instance (deploy/dagster.cluster.yaml), and two Celery
## workers. It prints the addresses; `make cluster-stop` stops it all.
cluster: install
	$(CLUSTER) up --port $(CLUSTER_PORT) --postgres-port $(CLUSTER_PG_PORT) --redis-port $(CLUSTER_REDIS_PORT)

cluster-stop:
	$(CLUSTER) down --grace $(GRACE)

cluster-status:
	$(CLUSTER) status

## The exports that point this shell (the CLI, a notebook) at the cluster:
## eval "$$(make -s cluster-env)"
cluster-env:
	@$(CLUSTER) env

## The cluster tests (marked `cluster`): each session starts its own cluster on free ports.
cluster-test: install
	PYTHONPATH=$(CURDIR) $(BIN)/python -m pytest -m cluster tests/cluster

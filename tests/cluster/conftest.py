"""Fixtures of the cluster tests (marker ``cluster``, ``make cluster-test``): real
servers from ``robo_dagster.cluster.services``, stopped at the end.

The DuckLake fixtures (``lake_postgres``, ``lake_target``, ``lake_env``) come first; the
Celery cluster's (``cluster_services`` and its helpers) after them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
import yaml

from robo_dagster.cluster.services import Postgres, free_port, missing_binaries
from robo_dagster.warehouse.target import LakeTarget

_lake_numbers = itertools.count()


@pytest.fixture(scope="session")
def lake_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """One Postgres server for the session's DuckLake catalogs."""
    missing = [name for name in missing_binaries() if "redis" not in name]
    if missing:
        pytest.fail("; ".join(missing), pytrace=False)
    server = Postgres(tmp_path_factory.mktemp("lake_pg"), free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def lake_target(lake_postgres: Postgres, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty DuckLake: a new catalog database on ``lake_postgres`` and a data
    folder under the test's temporary folder; the warehouse target string."""
    name = f"lake_{next(_lake_numbers)}"
    lake_postgres.create_database(name)
    data = tmp_path / "lake_data"
    target = LakeTarget(
        dbname=name,
        host="127.0.0.1",
        port=lake_postgres.port,
        user=lake_postgres.user,
        data_path=str(data),
    ).render()
    yield target
    shutil.rmtree(data, ignore_errors=True)


def lake_environment(target: LakeTarget) -> dict[str, str]:
    """The variables that select the lake ``target`` (``ROBO_WAREHOUSE=ducklake``)."""
    return {
        "ROBO_WAREHOUSE": "ducklake",
        "DAGSTER_PG_HOST": target.host,
        "DAGSTER_PG_PORT": str(target.port),
        "DAGSTER_PG_USER": target.user,
        "ROBO_LAKE_CATALOG_DB": target.dbname,
        "ROBO_LAKE_DATA_PATH": target.data_path,
    }


@pytest.fixture()
def lake_env(
    lake_target: str, lake_postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment that selects ``lake_target`` (``ROBO_WAREHOUSE=ducklake``), set in
    this process and returned for subprocesses."""
    env = lake_environment(LakeTarget.parse(lake_target))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


# ---------------------------------------------------------------------------------------
# The Celery cluster: Postgres, Redis, webserver, daemon and two workers on 127.0.0.1,
# started once per session by robo_dagster.cluster.local (what `make cluster` runs), on
# free ports under a temporary folder, over a pinned small market and its own DuckDB
# file. Helpers and fixtures of the Celery tests are kept together here.
# ---------------------------------------------------------------------------------------

CLUSTER_AS_OF = "2026-11-25"
CLUSTER_WATCHLIST = "AMZN,JPM,XOM,UNH"
CLUSTER_SESSIONS = 60
# A lost worker's step is handed on after this long unacknowledged; production keeps
# the default (distributed.DEFAULT_VISIBILITY_TIMEOUT_S). Every step of these tests'
# small market ends well within it, so none is handed on while its worker lives.
CLUSTER_VISIBILITY_TIMEOUT_S = 20
RUN_TIMEOUT_S = 600.0
GATE_VARIABLE = "ROBO_TEST_GATE"  # tests/cluster/worker_loss_location.py


def market_environment(duckdb_path: Path, cache: Path) -> dict[str, str]:
    """The pinned market every cluster process and the single-node reference run share."""
    return {
        "ROBO_AS_OF": CLUSTER_AS_OF,
        "ROBO_WATCHLIST": CLUSTER_WATCHLIST,
        "ROBO_SEED": "7",
        "ROBO_UNIVERSE_SIZE": "0",
        "ROBO_DUCKDB_PATH": str(duckdb_path),
        "ROBO_CACHE_DIR": str(cache),
    }


def _without_cluster_variables(env: Mapping[str, str]) -> dict[str, str]:
    drop = ("ROBO_CELERY_", "DAGSTER_PG_", "DAGSTER_HOME")
    return {k: v for k, v in env.items() if not k.startswith(drop)}


@dataclass
class Cluster:
    """A running local cluster: its layout, environment and instance."""

    layout: Any  # robo_dagster.cluster.local.Layout
    env: dict[str, str]
    warehouse: str  # the workers' warehouse: the lake's target
    root: Path

    def instance(self) -> Any:
        """A DagsterInstance on the cluster's Postgres (the test process's own)."""
        from dagster import DagsterInstance

        pg = {k: v for k, v in self.env.items() if k.startswith("DAGSTER_PG_")}
        with mock.patch.dict(os.environ, pg):
            return DagsterInstance.from_config(str(self.layout.home))

    def client(self) -> Any:
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.layout.webserver_port, timeout=60)

    def wait_for_runs(self, run_ids: list[str], timeout_s: float = RUN_TIMEOUT_S) -> dict[str, str]:
        """Wait until every run has ended; their final statuses."""
        from dagster import DagsterRunStatus, RunsFilter

        ended = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + timeout_s
        with self.instance() as instance:
            while time.monotonic() < deadline:
                runs = {r.run_id: r.status for r in instance.get_runs(RunsFilter(run_ids=run_ids))}
                if len(runs) == len(run_ids) and all(s in ended for s in runs.values()):
                    return {k: v.value for k, v in runs.items()}
                time.sleep(1.0)
        raise TimeoutError(f"runs {run_ids} did not end within {timeout_s:g} s")


def range_tags_for(sessions: int) -> dict[str, str]:
    from tests.conftest import range_tags, session_range

    return range_tags(*session_range(sessions, CLUSTER_AS_OF))


@pytest.fixture(scope="session")
def cluster_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The whole cluster, up for the session and stopped (nothing left) at its end."""
    from robo_dagster.cluster import distributed
    from robo_dagster.cluster.local import Layout, down, up
    from robo_dagster.cluster.services import free_port, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.fail("; ".join(missing), pytrace=False)
    root = tmp_path_factory.mktemp("cluster")
    # The project's code location and the worker-loss tests' own.
    workspace = root / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump({"load_from": [
            {"python_module": {"module_name": "robo_dagster.definitions", "attribute": "defs",
                               "location_name": "robo_dagster"}},
            {"python_file": {"relative_path": str(Path(__file__).with_name("worker_loss_location.py")),
                             "location_name": "cluster_tests"}},
        ]})
    )  # fmt: skip
    layout = Layout(
        root / "c",
        webserver_port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
        workspace=str(workspace),
    )
    duckdb_path = root / "cluster.duckdb"
    base = _without_cluster_variables(os.environ) | market_environment(duckdb_path, root / "cache")
    base[distributed.VISIBILITY_TIMEOUT_VARIABLE] = str(CLUSTER_VISIBILITY_TIMEOUT_S)
    base[GATE_VARIABLE] = str(root / "gate" / "hold")  # the worker-loss test's gate
    env = up(layout, base)
    # The cluster writes to its DuckLake (local.cluster_environment); the single-node
    # reference run writes to a file. Their tables are compared row for row.
    assert env["ROBO_WAREHOUSE"] == "ducklake"
    with mock.patch.dict(os.environ, env):
        from robo_dagster import settings

        warehouse = settings.duckdb_path()
    try:
        yield Cluster(layout, env, warehouse, root)
    finally:
        down(layout, grace_s=10.0)


PIPELINE_SCHEMAS = ("market_data", "portfolio", "ai_analysis")
# Provenance, not content: which run wrote a row and when.
PROVENANCE_COLUMNS = ("run_id", "recorded_at", "quarantined_at")


def pipeline_tables(path: Path | str, run_id: str) -> dict[str, pd.DataFrame]:
    """Every table of the pipeline's schemas, canonical: the rows ``run_id`` wrote where a
    table records its writer (the history tables append one set per run), the
    provenance columns dropped, rows sorted."""
    from robo_dagster.warehouse.connection import locked_connection

    out = {}
    # Under the warehouse's own lock: the cluster's sensors may be writing.
    with locked_connection(str(path), read_only=True) as conn:
        names = conn.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() and schema_name in "
            f"({', '.join(repr(s) for s in PIPELINE_SCHEMAS)}) order by 1, 2"
        ).fetchall()
        for schema, table in names:
            frame = conn.execute(f'select * from "{schema}"."{table}"').fetchdf()
            if "run_id" in frame.columns:
                frame = frame[frame["run_id"] == run_id]
            frame = frame.drop(columns=[c for c in PROVENANCE_COLUMNS if c in frame.columns])
            frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
            out[f"{schema}.{table}"] = frame
    return out


@dataclass
class PipelineRun:
    """The cluster's parallel_pipeline run and its tables, read as soon as it ended."""

    run_id: str
    tables: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def cluster_pipeline_run(cluster_services: Cluster) -> PipelineRun:
    """``parallel_pipeline`` over the pinned market on the cluster, launched like any run
    (GraphQL, the run queue, the Celery run launcher), once it succeeded."""
    client = cluster_services.client()
    run_id = client.submit_job_execution("parallel_pipeline", tags=range_tags_for(CLUSTER_SESSIONS))
    statuses = cluster_services.wait_for_runs([run_id])
    assert statuses[run_id] == "SUCCESS", run_summary(cluster_services, run_id)
    return PipelineRun(str(run_id), pipeline_tables(cluster_services.warehouse, run_id))


@pytest.fixture(scope="session")
def single_node_reference(cluster_services: Cluster) -> dict[str, pd.DataFrame]:
    """``sequential_pipeline`` on the same market, on one machine: the default
    in-process executor, a temporary SQLite instance, its own DuckDB file; its tables."""
    import subprocess

    root = cluster_services.root / "single_node"
    root.mkdir()
    duckdb_path = root / "reference.duckdb"
    env = _without_cluster_variables(os.environ) | market_environment(duckdb_path, root / "cache")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    script = (
        "import sys, json\n"
        "from dagster import DagsterInstance, build_reconstructable_job, execute_job\n"
        "tags = json.loads(sys.argv[1])\n"
        "with DagsterInstance.local_temp(tempdir=sys.argv[2]) as instance:\n"
        "    result = execute_job(build_reconstructable_job('robo_dagster.cli.quickstart',\n"
        "        'pipeline_job', ('sequential_pipeline',)), instance=instance, tags=tags)\n"
        "    print(result.run_id)\n"
        "    sys.exit(0 if result.success else 1)\n"
    )
    import json

    (root / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(range_tags_for(CLUSTER_SESSIONS)),
         str(root / "home")],
        env=env, timeout=RUN_TIMEOUT_S, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    return pipeline_tables(duckdb_path, run_id)


def run_summary(cluster: Cluster, run_id: str) -> str:
    """The run's failures and errors, for an assertion's message."""
    with cluster.instance() as instance:
        lines = []
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event and event.event_type_value in (
                "STEP_FAILURE",
                "PIPELINE_FAILURE",
                "ENGINE_EVENT",
            ):
                error = getattr(event.event_specific_data, "error", None)
                lines.append(f"{event.event_type_value} {entry.step_key}: {entry.message}")
                if error:
                    lines.append(error.to_string()[-1500:])
        return "\n".join(lines[-30:])


def run_workers(cluster: Cluster, run_ids: list[str]) -> dict[str, str]:
    """The worker (its name before ``@``) that ran each run, from the engine event the
    workers' app writes first in each run (``robo-cluster run worker=...``)."""
    import re

    from robo_dagster.cluster.celery_app import RUN_MARKER

    line = re.compile(rf"{RUN_MARKER} worker=(\S+)@\S+ pid=\d+")
    found: dict[str, str] = {}
    with cluster.instance() as instance:
        for run_id in run_ids:
            for entry in instance.all_logs(run_id):
                match = line.search(entry.message or "")
                if match:
                    found[run_id] = match[1]
    return found

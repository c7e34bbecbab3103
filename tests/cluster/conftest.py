"""Cluster fixtures: real servers from ``robo_dagster.cluster.services``, stopped at the end.

The DuckLake fixtures (``lake_postgres``, ``lake_target``, ``lake_env``) are named
``lake_*`` so that the Celery/Redis fixtures beside them never collide with them.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from robo_dagster.cluster.services import Postgres, free_port, missing_binaries
from robo_dagster.warehouse.target import LakeTarget

_lake_numbers = itertools.count()


@pytest.fixture(scope="session")
def lake_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """One Postgres server for the session's DuckLake catalogs."""
    missing = [name for name in missing_binaries() if "redis" not in name]
    if missing:
        pytest.skip(f"Postgres binaries missing: {', '.join(missing)}")
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


@pytest.fixture()
def lake_env(
    lake_target: str, lake_postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment that selects ``lake_target`` (``ROBO_WAREHOUSE=ducklake``), set in
    this process and returned for subprocesses."""
    target = LakeTarget.parse(lake_target)
    env = {
        "ROBO_WAREHOUSE": "ducklake",
        "DAGSTER_PG_HOST": target.host,
        "DAGSTER_PG_PORT": str(target.port),
        "DAGSTER_PG_USER": target.user,
        "ROBO_LAKE_CATALOG_DB": target.dbname,
        "ROBO_LAKE_DATA_PATH": target.data_path,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env

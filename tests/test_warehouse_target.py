"""ROBO_WAREHOUSE and the lake's target string: selection, errors, no password inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from robo_dagster import settings
from robo_dagster.warehouse.target import (
    LakeTarget,
    describe,
    is_lake,
    scrub,
    side_folder,
)


@pytest.fixture(autouse=True)
def _no_lake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ROBO_WAREHOUSE",
        "ROBO_LAKE_DATA_PATH",
        "ROBO_LAKE_CATALOG_DB",
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_default_is_the_single_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROBO_DUCKDB_PATH", str(tmp_path / "robo.duckdb"))
    assert settings.duckdb_path() == str(tmp_path / "robo.duckdb")
    monkeypatch.setenv("ROBO_WAREHOUSE", "DuckDB")
    assert not is_lake(settings.duckdb_path())


def test_an_unknown_warehouse_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_WAREHOUSE", "snowflake")
    with pytest.raises(ValueError, match=r"ROBO_WAREHOUSE='snowflake' must be one of duckdb"):
        settings.duckdb_path()


def test_the_lake_needs_its_data_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_WAREHOUSE", "ducklake")
    with pytest.raises(ValueError, match="needs ROBO_LAKE_DATA_PATH"):
        settings.duckdb_path()


def test_the_lake_target_comes_from_the_instance_variables_without_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "shared lake"  # a space: the target quotes it
    for name, value in {
        "ROBO_WAREHOUSE": "ducklake",
        "ROBO_LAKE_DATA_PATH": str(data),
        "DAGSTER_PG_HOST": "pg.internal",
        "DAGSTER_PG_PORT": "6543",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "hunter2-secret",
    }.items():
        monkeypatch.setenv(name, value)
    database = settings.duckdb_path()
    assert is_lake(database) and "hunter2" not in database
    target = LakeTarget.parse(database)
    assert target == LakeTarget("robo_lake", "pg.internal", 6543, "dagster", str(data))
    assert "connect_timeout=5" in target.conninfo()
    assert describe(database) == f"ducklake robo_lake@pg.internal:6543 (data {data})"
    assert side_folder(database) == data
    assert scrub("libpq said hunter2-secret") == "libpq said [redacted]"
    monkeypatch.setenv("DAGSTER_PG_PORT", "port")
    with pytest.raises(ValueError, match="DAGSTER_PG_PORT='port' is not a TCP port"):
        settings.duckdb_path()


def test_a_target_carrying_a_password_is_refused() -> None:
    with pytest.raises(ValueError, match="must not carry the password"):
        LakeTarget.parse("ducklake:postgres:dbname=x password=p data_path=/d")


def test_a_file_is_described_as_itself(tmp_path: Path) -> None:
    path = str(tmp_path / "robo.duckdb")
    assert describe(path) == path and side_folder(path) == tmp_path

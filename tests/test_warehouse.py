"""The DuckDB plumbing: parallel writers queue on the lock, a failed write changes nothing."""

import multiprocessing as mp
from pathlib import Path

import duckdb
import pytest
from dagster import AssetIn

from robo_dagster.warehouse.connection import locked_connection


def _writer(path: str, worker: int, rows: int) -> None:
    for i in range(rows):
        with locked_connection(path) as conn:
            conn.execute("create table if not exists t (worker int, i int)")
            conn.execute("insert into t values (?, ?)", [worker, i])


def test_writers_in_many_processes_never_collide(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with duckdb.connect(path) as conn:
        counts = conn.execute(
            "select worker, count(*) from t group by worker order by worker"
        ).fetchall()
    assert counts == [(0, 25), (1, 25), (2, 25), (3, 25)]


def test_lock_is_reentrant_within_a_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "r.duckdb")
    with locked_connection(path) as outer:
        outer.execute("create table t as select 1 as x")
    with locked_connection(path) as conn, locked_connection(path) as inner:
        assert inner.execute("select x from t").fetchone() == (1,)
        assert conn.execute("select count(*) from t").fetchone() == (1,)


def test_a_connection_is_closed_when_the_body_raises(tmp_path: Path) -> None:
    path = str(tmp_path / "c.duckdb")
    with pytest.raises(RuntimeError), locked_connection(path) as conn:
        conn.execute("create table other as select 1 as x")
        raise RuntimeError("boom")
    # Another process could only open the file if the connection was released.
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_writer, args=(path, 9, 1))
    p.start()
    p.join(timeout=60)
    assert p.exitcode == 0


def test_an_all_null_text_column_is_stored_as_text(tmp_path: Path) -> None:
    """A source that gives no sector for any symbol writes an all-None object column.
    DuckDB 1.5 would type it INTEGER, and the frame read back would refuse the
    "Unknown" that fills it (it did, for a files source without sectors)."""
    import pandas as pd
    from dagster import asset, materialize

    from robo_dagster.warehouse import WarehouseIOManager

    @asset(key_prefix=["market_data"])
    def sectorless() -> pd.DataFrame:
        return pd.DataFrame({"symbol": ["AAA", "BBB"], "sector": [None, None]})

    @asset(key_prefix=["market_data"], ins={"sectorless": AssetIn(["market_data", "sectorless"])})
    def filled(sectorless: pd.DataFrame) -> pd.DataFrame:
        return sectorless.assign(sector=sectorless["sector"].fillna("Unknown"))

    database = str(tmp_path / "robo.duckdb")
    result = materialize(
        [sectorless, filled], resources={"io_manager": WarehouseIOManager(database=database)}
    )
    assert result.success
    with duckdb.connect(database, read_only=True) as conn:
        types = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'sectorless'"
            ).fetchall()
        )
        assert types["sector"] == "VARCHAR"
        assert (
            conn.execute("select sector from market_data.filled").fetchall() == [("Unknown",)] * 2
        )

"""DuckDB plumbing: Dagster's DuckDB I/O manager and resource, made safe to share.

The warehouse is one string, ``database``: the single DuckDB file (the default) or a
DuckLake target (``ROBO_WAREHOUSE=ducklake``, ``target``). Only this package looks
inside it: every caller opens connections, queries and writes the same way for both."""

from typing import Any

import pandas as pd

from robo_dagster.warehouse.io_manager import EmptyOutputError, WarehouseIOManager
from robo_dagster.warehouse.lake import WarehouseUnavailable
from robo_dagster.warehouse.resource import DuckDBWarehouse
from robo_dagster.warehouse.retry import CommitConflict

__all__ = [
    "CommitConflict",
    "DuckDBWarehouse",
    "EmptyOutputError",
    "WarehouseIOManager",
    "WarehouseUnavailable",
    "query",
]


def query(sql: str, params: list[Any] | None = None, database: str | None = None) -> pd.DataFrame:
    """Run ``sql`` on the robo-dagster warehouse and return a pandas frame.

    The connection is opened for this one query and closed at once, under the same lock
    the pipeline uses, so a notebook never blocks a run (and waits, rather than fails,
    while a run is writing). On a DuckLake there is no lock to wait for: the query reads
    the last committed state.
    """
    from robo_dagster import settings
    from robo_dagster.warehouse.connection import locked_connection

    with locked_connection(database or settings.duckdb_path()) as conn:
        return conn.execute(sql, params or []).fetchdf()

"""DuckDB plumbing: Dagster's DuckDB I/O manager and resource, made safe to share."""

from typing import Any

import pandas as pd

from robo_dagster.warehouse.io_manager import EmptyOutputError, WarehouseIOManager
from robo_dagster.warehouse.resource import DuckDBWarehouse

__all__ = ["DuckDBWarehouse", "EmptyOutputError", "WarehouseIOManager", "query"]


def query(sql: str, params: list[Any] | None = None, database: str | None = None) -> pd.DataFrame:
    """Run ``sql`` on the robo-dagster DuckDB file and return a pandas frame.

    The connection is opened for this one query and closed at once, under the same lock
    the pipeline uses, so a notebook never blocks a run (and waits, rather than fails,
    while a run is writing).
    """
    from robo_dagster import settings
    from robo_dagster.warehouse.connection import locked_connection

    with locked_connection(database or settings.duckdb_path()) as conn:
        return conn.execute(sql, params or []).fetchdf()

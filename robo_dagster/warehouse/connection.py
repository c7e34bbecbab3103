"""Opening a DuckDB connection the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster._utils.backoff import backoff

from robo_dagster.warehouse.locking import database_lock


@contextmanager
def locked_connection(
    database: str, config: dict[str, Any] | None = None, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection under the file lock, closed even when the body raises.

    DuckDB's own lock can still be held by a process outside robo-dagster (a notebook
    that kept a connection open): Dagster's backoff then retries for about 100 s.
    """
    if database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    with database_lock(database):
        conn = backoff(
            fn=duckdb.connect,
            retry_on=(RuntimeError, duckdb.IOException),
            kwargs={
                "database": database,
                "read_only": read_only,
                "config": {"custom_user_agent": "robo-dagster", **(config or {})},
            },
            max_retries=10,
        )
        try:
            yield conn
        finally:
            conn.close()

"""A read-only copy of the warehouse that outside readers can always open.

DuckDB lets one process hold a file read-write, and refuses a plain
``duckdb.connect(path, read_only=True)`` while it does: a notebook or the ``duckdb`` CLI
pointed at the live file fails whenever a run or a sensor writes. So robo-dagster
publishes a snapshot, ``<name>.snapshot.duckdb`` beside the file (``snapshot_path``),
after every run (``snapshot_sensor``, the quickstart): the whole database is copied to a
temporary file under the write lock, then renamed over the snapshot. A reader always
opens a complete snapshot, an old one or the new one, and never blocks a writer.

A DuckLake needs no snapshot: every reader attaches the lake itself, read-only, sees the
last committed state and never blocks a writer. For a lake, the "snapshot" is the lake
(``snapshot_path`` returns its target) and publishing it does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.lake import lake_connection
from robo_dagster.warehouse.locking import DEFAULT_TIMEOUT_S
from robo_dagster.warehouse.target import is_lake

SNAPSHOT_SUFFIX = ".snapshot.duckdb"


def snapshot_path(database: str) -> str:
    """Where the snapshot of ``database`` lives: ``robo.duckdb`` -> ``robo.snapshot.duckdb``;
    a lake is its own snapshot."""
    if is_lake(database):
        return database
    path = Path(database).expanduser()
    return str(path.with_name(path.stem + SNAPSHOT_SUFFIX))


def publish_snapshot(database: str, deadline_s: float = DEFAULT_TIMEOUT_S) -> tuple[str, float]:
    """Copy ``database`` to its snapshot atomically; return the path and the seconds it
    took. A database that does not exist yet publishes nothing. ``deadline_s`` bounds
    the wait for the write lock. A lake publishes nothing: readers attach it directly."""
    if is_lake(database):
        return database, 0.0
    target = Path(snapshot_path(database))
    if not Path(database).expanduser().exists():
        return str(target), 0.0
    started = time.monotonic()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    with locked_connection(database, deadline_s=deadline_s) as conn:
        ((source,),) = conn.execute("select current_database()").fetchall()
        quoted = str(tmp).replace("'", "''")  # a SQL string literal: the path may hold a quote
        conn.execute(f"attach '{quoted}' as snapshot_copy")
        try:
            conn.execute(f'copy from database "{source}" to snapshot_copy')
        finally:
            conn.execute("detach snapshot_copy")
    os.replace(tmp, target)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return str(target), time.monotonic() - started


def read_snapshot(database: str, sql: str) -> object:
    """``sql`` on the snapshot, read-only (for scripts; notebooks use ``duckdb`` itself)."""
    conn = (
        lake_connection(database, read_only=True)
        if is_lake(database)
        else duckdb.connect(snapshot_path(database), read_only=True)
    )
    try:
        return conn.execute(sql).fetchdf()
    finally:
        conn.close()

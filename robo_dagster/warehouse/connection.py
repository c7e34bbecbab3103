"""Opening a DuckDB connection the same way everywhere.

Two locks guard the file. robo-dagster's own processes queue on the ``flock`` beside it
(``locking``). A process outside robo-dagster that holds the file open (a notebook, the
``duckdb`` CLI) holds DuckDB's own lock: a connection then polls it every
``POLL_S`` until ``deadline_s``, so the next write starts within a fraction of a second
of that reader letting go, instead of after a back-off that grows to most of a minute.
Readers should not hold the file at all: they read the snapshot (``snapshot``).

A DuckLake (``target.is_lake``) has neither lock: ``locked_connection`` hands out a cursor
on the process's attached lake (``lake``), and writers retry conflicting commits
(``retry``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from robo_dagster.warehouse.lake import lake_connection, shared_lake_cursor
from robo_dagster.warehouse.locking import (
    DEFAULT_TIMEOUT_S,
    WarehouseBusy,
    database_lock,
    note_holder,
    record_wait,
)
from robo_dagster.warehouse.target import is_lake

POLL_S = 0.1
OUTSIDE = "duckdb file lock (a process outside robo-dagster)"
READER_HERE = "a read-only connection in this process"
SAME_PROCESS = "different configuration than existing connections"
_HOLDER = re.compile(r"Conflicting lock is held in (\S+) \(PID (\d+)\)")


def outside_holder(message: str) -> str:
    """The process DuckDB names as the holder of a file, e.g. "PID 4242 (/usr/bin/duckdb)";
    "" when the message names none."""
    found = _HOLDER.search(message)
    return f"PID {found.group(2)} ({found.group(1)})" if found else ""


def connect_when_free(
    database: str, read_only: bool, config: dict[str, Any], deadline_s: float
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retried every ``POLL_S`` while another process holds the file,
    for at most ``deadline_s``; then ``WarehouseBusy`` with DuckDB's error, which names
    the holder."""
    started = time.monotonic()
    on = OUTSIDE
    while True:
        try:
            conn = duckdb.connect(database=database, read_only=read_only, config=config)
        except (duckdb.IOException, duckdb.ConnectionException, RuntimeError) as exc:
            message = str(exc).lower()
            if SAME_PROCESS in message:
                # This process holds the file read-only (a reader thread of the REST
                # API): DuckDB refuses a second configuration until that one closes.
                on = READER_HERE
            elif "lock" not in message:
                raise  # not a held file (a corrupt one, a bad path): waiting will not help
            elif on == OUTSIDE:
                holder = outside_holder(str(exc))
                on = f"{OUTSIDE}, held by {holder}" if holder else OUTSIDE
                note_holder(database, f"waiting for the {on}")
            if time.monotonic() - started >= deadline_s:
                record_wait(database, time.monotonic() - started, f"{on}, given up")
                note_holder(database, "")
                raise WarehouseBusy(
                    f"{database} stayed locked by another process for {deadline_s:g} s: {exc}"
                ) from exc
            time.sleep(POLL_S)
            continue
        waited = time.monotonic() - started
        if waited >= POLL_S:
            record_wait(database, waited, on)
            note_holder(database, "")
        return conn


@contextmanager
def locked_connection(
    database: str,
    config: dict[str, Any] | None = None,
    *,
    read_only: bool = False,
    deadline_s: float = DEFAULT_TIMEOUT_S,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection under the file lock, closed even when the body raises.
    ``deadline_s`` bounds the wait for both locks: a sensor passes a short one so that
    its tick ends (skipping) well within its own deadline.

    For a DuckLake target (``target.is_lake``) there is no lock to take: the connection
    is a cursor on the process's attached lake (``lake.shared_lake_cursor``), read-only
    when asked, and a writer's
    conflicting commit is for the caller to retry whole (``retry.retry_conflicts``)."""
    if is_lake(database):
        with shared_lake_cursor(
            database,
            read_only=read_only,
            config={"custom_user_agent": "robo-dagster", **(config or {})},
        ) as conn:
            yield conn
        return
    if database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with database_lock(database, timeout_s=deadline_s):
        left = max(deadline_s - (time.monotonic() - started), POLL_S)
        conn = connect_when_free(
            database, read_only, {"custom_user_agent": "robo-dagster", **(config or {})}, left
        )
        try:
            yield conn
        finally:
            conn.close()


def warehouse_exists(database: str) -> bool:
    """Whether there is a warehouse to read: the DuckDB file exists, or ``database`` is a
    lake (its catalog is created by the first writer; a missing table then reads as a
    ``CatalogException``, as it does in an empty file)."""
    if is_lake(database) or database == ":memory:":
        return True
    return Path(database).expanduser().exists()


def read_only_connection(database: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection the caller closes, outside the flock: the file opened
    read-only (``duckdb.IOException`` while a writer holds it, for the caller to retry),
    or the lake attached read-only (never blocked by writers; ``WarehouseUnavailable``
    when its catalog does not answer)."""
    if is_lake(database):
        return lake_connection(database, read_only=True)
    return duckdb.connect(database, read_only=True)

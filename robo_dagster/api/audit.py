"""The audit log: one row of ``monitoring.audit_log`` per request that changes something,
and per request refused for its token or its rate.

A row is first appended to a spool file beside the database (``<db>.audit.jsonl``; for a
DuckLake, one per host under its data folder: ``warehouse.stores.spool_file``), so
answering a request never waits for the DuckDB lock that a run may hold, and a row
survives the service being killed. A writer thread moves spooled rows into DuckDB every
``FLUSH_S``; each row has its own id, so a row copied twice (a kill between the insert
and the spool's removal) is stored once. The service flushes at start and at stop.

Rows hold the token's name, never the token; summaries and details are redacted and
bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb

from robo_dagster.redaction import shorten
from robo_dagster.warehouse.locking import WarehouseBusy
from robo_dagster.warehouse.stores import (
    create_keyed_table,
    insert_new,
    serialize_writers,
    spool_file,
    write_transaction,
)

TABLE = "monitoring.audit_log"
log = logging.getLogger(__name__)
FLUSH_S = 1.0
WRITE_DEADLINE_S = 10.0
MAX_SUMMARY_CHARS = 500
COLUMNS = (
    "id",
    "requested_at",
    "token_name",
    "client",
    "method",
    "endpoint",
    "summary",
    "status",
    "outcome",
    "detail",
    "run_id",
    "event_id",
)


def ensure_audit_log(conn: Any) -> None:
    """Create ``monitoring.audit_log`` if it does not exist."""
    conn.execute("create schema if not exists monitoring")
    create_keyed_table(
        conn,
        TABLE,
        "id varchar",
        [
            "requested_at timestamp not null",
            "token_name varchar",
            "client varchar",
            "method varchar not null",
            "endpoint varchar not null",
            "summary varchar",
            "status integer not null",
            "outcome varchar not null",
            "detail varchar",
            "run_id varchar",
            "event_id bigint",
        ],
    )


def spool_path(database: str) -> Path:
    """Where rows wait for the warehouse: ``<db>.audit.jsonl`` beside a DuckDB file."""
    return spool_file(database, "audit.jsonl")


def audit_row(
    *,
    method: str,
    endpoint: str,
    status: int,
    outcome: str,
    token_name: str | None = None,
    client: str | None = None,
    summary: str = "",
    detail: str = "",
    run_id: str | None = None,
    event_id: int | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One audit row, redacted and bounded."""
    moment = at or dt.datetime.now(dt.timezone.utc)
    return {
        "id": uuid.uuid4().hex,
        "requested_at": moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(),
        "token_name": token_name,
        "client": client,
        "method": method,
        "endpoint": endpoint,
        "summary": shorten(summary, MAX_SUMMARY_CHARS),
        "status": int(status),
        "outcome": outcome,
        "detail": shorten(detail, MAX_SUMMARY_CHARS),
        "run_id": run_id,
        "event_id": event_id,
    }


class AuditLog:
    """Spools rows and moves them into DuckDB from a background thread."""

    def __init__(self, database: str, flush_s: float = FLUSH_S) -> None:
        self.database = database
        self.spool = spool_path(database)
        self.flush_s = flush_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, row: dict[str, Any]) -> None:
        """Append ``row`` to the spool (it reaches DuckDB within ``flush_s`` or so)."""
        line = json.dumps(row, separators=(",", ":")) + "\n"
        with self._lock:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            with self.spool.open("a") as spool:
                spool.write(line)
        self._wake.set()

    def flush(self, deadline_s: float = WRITE_DEADLINE_S) -> int:
        """Move every spooled row into DuckDB; the number moved. A busy warehouse leaves
        them spooled for the next flush."""
        with self._lock:
            if not self.spool.exists():
                return 0
            rows = read_spool(self.spool)
            if not rows:
                self.spool.unlink()
                return 0
            values = [[row.get(c) for c in COLUMNS] for row in rows]

            def move(conn: Any) -> int:
                ensure_audit_log(conn)
                # A row already stored (copied before a kill) is not stored again.
                serialize_writers(conn, TABLE)
                return insert_new(conn, TABLE, COLUMNS, values)

            try:
                write_transaction(self.database, move, "audit log: flush", deadline_s=deadline_s)
            except WarehouseBusy:
                return 0
            self.spool.unlink()
            return len(rows)

    def start(self) -> None:
        """Flush what an earlier run of the service left, then keep flushing."""
        self.flush()
        self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and flush once more."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=WRITE_DEADLINE_S + 5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception as exc:  # the rows stay spooled; the next flush retries
                log.warning("audit log: flush failed, rows kept in %s: %s", self.spool, exc)


def read_spool(path: Path) -> list[dict[str, Any]]:
    """The complete rows of a spool file (a line cut short by a kill is skipped)."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def list_audit(
    database: str, since: dt.datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Audit rows, newest first, including those still spooled."""
    from robo_dagster.monitoring.commands import Unavailable, read_only

    rows: dict[str, dict[str, Any]] = {}
    try:
        conn = read_only(database)
    except Unavailable:
        conn = None
    if conn is not None:
        try:
            where, params = ("where requested_at >= ?", [since]) if since else ("", [])
            cursor = conn.execute(
                f"select {', '.join(COLUMNS)} from {TABLE} {where} order by requested_at desc limit ?",
                [*params, limit],
            )
            rows = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in cursor.fetchall()}
        except duckdb.CatalogException:
            pass  # nothing has been flushed yet: only the spool has rows
        finally:
            conn.close()
    spool = spool_path(database)
    for row in read_spool(spool) if spool.exists() else []:
        row["requested_at"] = dt.datetime.fromisoformat(row["requested_at"])
        if since is None or row["requested_at"] >= since:
            rows.setdefault(row["id"], row)
    return sorted(rows.values(), key=lambda r: r["requested_at"], reverse=True)[:limit]

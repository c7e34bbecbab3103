"""What the WebSocket pushes: run status changes from the Dagster instance's event log,
and alerts opened or resolved in ``monitoring.alerts``, each read after a cursor.

A connection's cursor starts at "now", so a client sees what happens after it connects.
The alerts are read with a short read-only connection; while a run holds the DuckDB file
the read is skipped and the next poll catches up from the same cursor, so nothing is
missed, only delayed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
from dagster import DagsterEventType, DagsterInstance, RunsFilter, RunStatusChangeRecordsFilter

from robo_dagster.monitoring.alerts import TABLE as ALERTS_TABLE
from robo_dagster.monitoring.commands import Unavailable, read_only
from robo_dagster.tasks.queues import PRIORITY_TAG, QUEUE_TAG

RUN_STATUSES = {
    DagsterEventType.RUN_ENQUEUED: "queued",
    DagsterEventType.RUN_START: "started",
    DagsterEventType.RUN_SUCCESS: "success",
    DagsterEventType.RUN_FAILURE: "failure",
    DagsterEventType.RUN_CANCELED: "canceled",
}
ALERT_READ_RETRY_S = 0.3
MAX_PER_POLL = 500


@dataclass(frozen=True)
class Cursor:
    """How far a connection has read: the event log's storage id, the newest alert id,
    and the latest resolution time with the alert ids resolved at that instant."""

    storage_id: int = 0
    alert_id: int = 0
    resolved_at: dt.datetime | None = None
    resolved_ids: frozenset[int] = field(default_factory=frozenset)
    # The alerts part is placed once the table could be read: until then, alerts seen
    # or resolved from ``connected_at`` on count as new.
    alerts_ready: bool = False
    connected_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    )


def _iso(at: Any) -> str | None:
    if at is None:
        return None
    if isinstance(at, int | float):
        at = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    return at.isoformat()


class LiveFeed:
    """Reads the changes after a cursor."""

    def __init__(self, instance: DagsterInstance, database: str) -> None:
        self.instance = instance
        self.database = database

    def start(self) -> Cursor:
        """A cursor at the present: nothing that already happened is sent."""
        latest = 0
        for event_type in RUN_STATUSES:
            result = self.instance.fetch_run_status_changes(event_type, limit=1, ascending=False)
            latest = max([latest, *(r.storage_id for r in result.records)])
        return self._place_alerts(Cursor(storage_id=latest))

    def _place_alerts(self, cursor: Cursor) -> Cursor:
        at = cursor.connected_at
        rows = self._alerts(
            "select coalesce(max(id) filter (where first_seen < ?), 0), "
            "max(resolved_at) filter (where resolved_at < ?)",
            params=[at, at],
        )
        if rows is None:
            return cursor
        max_id, resolved_at = rows[0] if rows else (0, None)
        ids = (
            self._alerts("select id", where="resolved_at = ?", params=[resolved_at])
            if resolved_at is not None
            else []
        )
        if ids is None:
            return cursor
        return replace(
            cursor,
            alert_id=int(max_id),
            resolved_at=resolved_at,
            resolved_ids=frozenset(int(i) for (i,) in ids),
            alerts_ready=True,
        )

    def poll(self, cursor: Cursor) -> tuple[list[dict[str, Any]], Cursor]:
        """The messages after ``cursor``, oldest first, and the cursor after them."""
        runs, cursor = self._run_changes(cursor)
        alerts, cursor = self._alert_changes(cursor)
        return runs + alerts, cursor

    def _run_changes(self, cursor: Cursor) -> tuple[list[dict[str, Any]], Cursor]:
        found = []
        for event_type, status in RUN_STATUSES.items():
            result = self.instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(
                    event_type=event_type,  # type: ignore[arg-type]
                    after_storage_id=cursor.storage_id,
                ),
                limit=MAX_PER_POLL,
                ascending=True,
            )
            found += [(record, status) for record in result.records]
        found.sort(key=lambda pair: pair[0].storage_id)
        runs = (
            {
                r.dagster_run.run_id: r.dagster_run
                for r in self.instance.get_run_records(
                    filters=RunsFilter(run_ids=sorted({rec.run_id for rec, _ in found}))
                )
            }
            if found
            else {}
        )
        messages = []
        for record, status in found:
            run = runs.get(record.run_id)
            tags = run.tags if run is not None else {}
            messages.append(
                {
                    "type": "run",
                    "status": status,
                    "run_id": record.run_id,
                    "job": run.job_name if run is not None else None,
                    "queue": tags.get(QUEUE_TAG),
                    "priority": int(tags[PRIORITY_TAG]) if PRIORITY_TAG in tags else None,
                    "at": _iso(record.timestamp),
                }
            )
        if found:
            cursor = replace(cursor, storage_id=found[-1][0].storage_id)
        return messages, cursor

    def _alerts(
        self, select: str, where: str = "true", params: list[Any] | None = None
    ) -> list[tuple[Any, ...]] | None:
        """Rows of the alerts table, or None while it cannot be read (busy, not there)."""
        try:
            conn = read_only(self.database, retry_s=ALERT_READ_RETRY_S)
        except Unavailable:
            return None
        try:
            return conn.execute(
                f"{select} from {ALERTS_TABLE} where {where}", params or []
            ).fetchall()
        except duckdb.CatalogException:
            return []
        finally:
            conn.close()

    def _alert_changes(self, cursor: Cursor) -> tuple[list[dict[str, Any]], Cursor]:
        if not cursor.alerts_ready:
            cursor = self._place_alerts(cursor)
            if not cursor.alerts_ready:
                return [], cursor
        columns = "id, severity, fingerprint, source, message, first_seen, resolved_at, run_id"
        rows = self._alerts(
            f"select {columns}",
            where="id > ? or resolved_at >= ?",
            params=[cursor.alert_id, cursor.resolved_at or cursor.connected_at],
        )
        if not rows:
            return [], cursor
        names = [c.strip() for c in columns.split(",")]
        alerts = [dict(zip(names, row, strict=True)) for row in rows]
        opened = sorted((a for a in alerts if a["id"] > cursor.alert_id), key=lambda a: a["id"])
        resolved = sorted(
            (
                a
                for a in alerts
                if a["resolved_at"] is not None
                and not (a["resolved_at"] == cursor.resolved_at and a["id"] in cursor.resolved_ids)
                and a["resolved_at"] >= (cursor.resolved_at or cursor.connected_at)
            ),
            key=lambda a: (a["resolved_at"], a["id"]),
        )

        def message(alert: dict[str, Any], event: str) -> dict[str, Any]:
            return {
                "type": "alert",
                "event": event,
                **{k: alert[k] for k in ("id", "severity", "fingerprint", "source", "message")},
                "run_id": alert["run_id"],
                "at": _iso(alert["resolved_at"] if event == "resolved" else alert["first_seen"]),
            }

        messages = [message(a, "new") for a in opened]
        messages += [message(a, "resolved") for a in resolved]
        if opened:
            cursor = replace(cursor, alert_id=opened[-1]["id"])
        if resolved:
            last = resolved[-1]["resolved_at"]
            same = {a["id"] for a in resolved if a["resolved_at"] == last}
            if last == cursor.resolved_at:
                same |= cursor.resolved_ids
            cursor = replace(cursor, resolved_at=last, resolved_ids=frozenset(same))
        return messages, cursor

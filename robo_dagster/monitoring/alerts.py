"""The alert store: one row per episode of a condition, in ``monitoring.alerts``.

An alert's ``fingerprint`` names the condition (``check:market_data/price_bars:price_bars_valid``,
``run:portfolio_sync_job``). At most one alert per fingerprint is *open* (``resolved_at`` is
null): raising the same condition again updates that row instead of adding one, so a check
that fails on every run is one alert whose ``last_seen`` moves. Once resolved, the next
failure opens a new row, so the table is also the history of incidents.

Every function takes an open DuckDB connection: callers hold
``warehouse.connection.locked_connection`` (and choose the transaction), so the store never
opens the file itself. Ids, the table's key and the writes without ``RETURNING`` go through
``warehouse.stores``, so the store works the same on the DuckDB file and on the DuckLake;
there a writer's transaction may conflict with another's at commit, and callers retry it
whole (``warehouse.stores.write_transaction``). Times are stored as naive UTC ``timestamp`` values; aware datetimes
are converted, naive ones are taken to be UTC already.

Event replays are harmless: raising with a time older than the open alert's ``last_seen``,
or no later than an episode that was already resolved, changes nothing, and a resolution
only closes an alert last seen at or before it. A sensor that re-reads events after a crash
therefore leaves the table as it was.

Some alerts no later event resolves: a failed one-off run's (``run:<run_id>``). A person
resolves them by hand (``resolve_by_id``, ``resolve_by_run``: ``robo-dagster alerts
resolve``), which also records who (``resolved_by``) and why (``resolution``); those two
columns stay null when the condition cleared by itself. ``ensure_alerts`` adds them to a
table made before they existed.

Column names: SQL reserves ``check``, so the check's name is in ``check_name``. The
``notified_at`` / ``notified_severity`` columns make delivery an outbox: an open alert whose
severity is above what was last sent is still due, so a webhook that is down catches up
once it is back, and an escalation (WARNING to CRITICAL) is sent again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

# One scale for alerts, checks and reports (``domain.severity``); importers keep using
# ``alerts.Severity``.
from robo_dagster.domain.severity import Severity as Severity
from robo_dagster.warehouse.stores import (
    create_keyed_table,
    insert_with_ids,
    serialize_writers,
    update_ids,
)

SCHEMA = "monitoring"
TABLE = f"{SCHEMA}.alerts"
SEQUENCE = f"{SCHEMA}.alert_id"
MAX_MESSAGE_CHARS = 1000
INSERT_COLUMNS = (
    "fingerprint",
    "first_seen",
    "last_seen",
    "severity",
    "source",
    "asset",
    "check_name",
    "message",
    "run_id",
)
# Who resolved an alert by hand, and why; both null when its condition cleared by itself.
RESOLUTION_COLUMNS = ("resolved_by", "resolution")
MAX_RESOLUTION_CHARS = 500
# A run id as a person copies it from ``robo-dagster tasks`` or an alert: 8 hex digits or more.
_RUN_ID_PREFIX = re.compile(r"[0-9a-f]{8}[0-9a-f-]{0,28}")

Source = Literal["check", "run", "threshold", "system"]
RaiseStatus = Literal["new", "escalated", "updated", "stale"]


class Alert(BaseModel):
    """A condition worth telling someone about, as one sensor tick sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str = Field(min_length=1, max_length=500)
    severity: Severity
    source: Source
    message: str = Field(max_length=MAX_MESSAGE_CHARS)
    asset: str | None = None
    check_name: str | None = None
    run_id: str | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_by_name(cls, value: Any) -> Any:
        return Severity.parse(value) if isinstance(value, str) else value


class UnknownAlert(LookupError):
    """No alert has the id, or no alert came from the run, that a resolution names."""


class Resolution(NamedTuple):
    """An alert resolved by hand, or found resolved already (``already``)."""

    id: int
    fingerprint: str
    message: str | None
    resolved_at: dt.datetime
    resolved_by: str | None
    resolution: str | None
    already: bool


class RaiseResult(NamedTuple):
    """Which row an alert landed in, and whether it opened, escalated, repeated or was stale."""

    id: int
    status: RaiseStatus


def ensure_alerts(conn: Any) -> None:
    """Create the schema, the id sequence and the table if they do not exist yet."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    create_keyed_table(
        conn,
        TABLE,
        "id bigint",
        [
            "fingerprint varchar not null",
            "first_seen timestamp not null",
            "last_seen timestamp not null",
            "severity varchar not null",
            "source varchar not null",
            "asset varchar",
            "check_name varchar",
            "message varchar",
            "run_id varchar",
            "resolved_at timestamp",
            "notified_at timestamp",
            "notified_severity varchar",
        ],
        sequence=SEQUENCE,
    )
    # Columns added since the first release: a database made before them gains them here.
    for column in RESOLUTION_COLUMNS:
        conn.execute(f"alter table {TABLE} add column if not exists {column} varchar")


def _utc_naive(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return at


def severity_rank_sql(column: str) -> str:
    """A SQL expression ranking a severity-name column like ``Severity`` (unknown: 0)."""
    cases = " ".join(f"when '{s.name}' then {int(s)}" for s in Severity)
    return f"(case {column} {cases} else 0 end)"


def record_alert(conn: Any, alert: Alert, at: dt.datetime) -> RaiseResult:
    """Open ``alert``, or refresh the open alert with its fingerprint, and say which happened.

    A refresh takes the latest severity, message and run (not the worst: a check that went
    from ERROR to WARN is now a WARN). An event older than what the table already knows
    is ``stale`` and changes nothing, which is what makes replays idempotent.
    """
    at = _utc_naive(at)
    open_row = conn.execute(
        f"select id, last_seen, severity from {TABLE} "
        "where fingerprint = ? and resolved_at is null order by id desc limit 1",
        [alert.fingerprint],
    ).fetchone()
    if open_row is not None:
        alert_id, last_seen, previous = open_row
        if at < last_seen:
            return RaiseResult(int(alert_id), "stale")
        conn.execute(
            f"update {TABLE} set last_seen = ?, severity = ?, source = ?, asset = ?, "
            "check_name = ?, message = ?, run_id = ? where id = ?",
            [
                at,
                alert.severity.name,
                alert.source,
                alert.asset,
                alert.check_name,
                alert.message,
                alert.run_id,
                alert_id,
            ],
        )
        escalated = alert.severity > Severity.parse(previous)
        return RaiseResult(int(alert_id), "escalated" if escalated else "updated")
    closed = conn.execute(
        f"select id from {TABLE} where fingerprint = ? and resolved_at >= ? "
        "order by id desc limit 1",
        [alert.fingerprint, at],
    ).fetchone()
    if closed is not None:
        return RaiseResult(int(closed[0]), "stale")
    # Two writers that both found no open alert must not both open one (on the lake,
    # where nothing else stops them): the second to commit conflicts and retries.
    serialize_writers(conn, TABLE)
    (alert_id,) = insert_with_ids(
        conn,
        TABLE,
        SEQUENCE,
        INSERT_COLUMNS,
        [
            [
                alert.fingerprint,
                at,
                at,
                alert.severity.name,
                alert.source,
                alert.asset,
                alert.check_name,
                alert.message,
                alert.run_id,
            ]
        ],
    )
    return RaiseResult(int(alert_id), "new")


def raise_alert(conn: Any, alert: Alert, at: dt.datetime) -> int:
    """Open or refresh the alert for ``alert.fingerprint`` and return its id (see ``record_alert``)."""
    return record_alert(conn, alert, at).id


def resolve_alerts(conn: Any, fingerprint: str, at: dt.datetime, *, prefix: bool = False) -> int:
    """Close the open alerts of ``fingerprint`` last seen at or before ``at``; return how many.

    With ``prefix``, every fingerprint that starts with it: a job that succeeds again
    resolves its run alert and the alerts of each of its steps (``step:<job>:``) at once.
    """
    at = _utc_naive(at)
    match = "starts_with(fingerprint, ?)" if prefix else "fingerprint = ?"
    return len(
        update_ids(
            conn,
            TABLE,
            "resolved_at = ?",
            [at],
            f"resolved_at is null and last_seen <= ? and {match}",
            [at, fingerprint],
        )
    )


def _resolve_rows(
    conn: Any,
    where: str,
    params: Sequence[Any],
    at: dt.datetime,
    by: str | None,
    reason: str | None,
) -> list[Resolution]:
    """Resolve the open alerts among the rows ``where`` selects; report every one of them."""
    at = _utc_naive(at)
    by = (by or "").strip()[:MAX_RESOLUTION_CHARS] or None
    reason = " ".join((reason or "").split())[:MAX_RESOLUTION_CHARS] or None
    before = conn.execute(
        f"select id, resolved_at is not null from {TABLE} where {where} order by id", list(params)
    ).fetchall()
    # Never before its last_seen: the sensor, replaying the event that raised it, would
    # otherwise find it resolved *before* that event and open it again.
    conn.execute(
        f"update {TABLE} set resolved_at = greatest(?, last_seen), resolved_by = ?, "
        f"resolution = ? where resolved_at is null and ({where})",
        [at, by, reason, *params],
    )
    already = {int(alert_id) for alert_id, closed in before if closed}
    rows = conn.execute(
        f"select id, fingerprint, message, resolved_at, resolved_by, resolution from {TABLE} "
        f"where {where} order by id",
        list(params),
    ).fetchall()
    return [
        Resolution(
            id=int(alert_id),
            fingerprint=fingerprint,
            message=message,
            resolved_at=resolved_at,
            resolved_by=resolved_by,
            resolution=resolution,
            already=int(alert_id) in already,
        )
        for alert_id, fingerprint, message, resolved_at, resolved_by, resolution in rows
    ]


def resolve_by_id(
    conn: Any,
    alert_ids: Sequence[int],
    at: dt.datetime,
    by: str | None = None,
    reason: str | None = None,
) -> list[Resolution]:
    """Resolve the alerts ``alert_ids`` by hand, all or none: an id that names no alert
    raises ``UnknownAlert`` and resolves nothing. One already resolved keeps its time,
    who and why, and comes back with ``already``.

    For the alerts no later event resolves, such as a failed one-off run's.
    """
    ids = sorted({int(i) for i in alert_ids})
    if not ids:
        raise ValueError("no alert id given")
    marks = ", ".join("?" for _ in ids)
    known = {
        int(i)
        for (i,) in conn.execute(f"select id from {TABLE} where id in ({marks})", ids).fetchall()
    }
    missing = [i for i in ids if i not in known]
    if missing:
        raise UnknownAlert(
            f"no alert with id {', '.join(map(str, missing))} in {TABLE}"
            " (`robo-dagster alerts` lists them)"
        )
    return _resolve_rows(conn, f"id in ({marks})", ids, at, by, reason)


def resolve_by_run(
    conn: Any, run_id: str, at: dt.datetime, by: str | None = None, reason: str | None = None
) -> list[Resolution]:
    """Resolve by hand every open alert raised by run ``run_id`` (its run and step failures,
    the checks it failed). ``run_id`` may be its first 8 characters or more, as
    ``robo-dagster tasks`` shows it, if that names one run. ``UnknownAlert`` when no alert
    came from such a run; ``ValueError`` for a malformed or ambiguous id."""
    wanted = run_id.strip().lower()
    if not _RUN_ID_PREFIX.fullmatch(wanted):
        raise ValueError(f"not a run id: {run_id[:80]!r} (8 hex digits or more)")
    runs = [
        r
        for (r,) in conn.execute(
            f"select distinct run_id from {TABLE} where starts_with(run_id, ?) order by 1",
            [wanted],
        ).fetchall()
    ]
    if not runs:
        raise UnknownAlert(f"no alert in {TABLE} was raised by run {run_id}")
    if len(runs) > 1:
        raise ValueError(
            f"run id {run_id} is ambiguous: alerts came from {', '.join(runs)}; give more of it"
        )
    return _resolve_rows(conn, "run_id = ?", runs, at, by, reason)


def open_alerts(conn: Any, min_severity: Severity | str | None = None) -> pd.DataFrame:
    """The open alerts, worst first, then the most recently seen."""
    floor = int(Severity.parse(min_severity)) if min_severity is not None else 0
    return conn.execute(
        f"select id, fingerprint, first_seen, last_seen, severity, source, asset, check_name, "
        f"message, run_id, resolved_at, notified_at, notified_severity from {TABLE} "
        f"where resolved_at is null and {severity_rank_sql('severity')} >= ? "
        f"order by {severity_rank_sql('severity')} desc, last_seen desc, id",
        [floor],
    ).fetchdf()


def due_notifications(
    conn: Any, min_severity: Severity | str, limit: int = 50
) -> list[tuple[int, Alert]]:
    """Open alerts at or above ``min_severity`` never sent, or sent at a lower severity.

    Worst first, then oldest, so a backlog after an outage starts with what matters.
    """
    floor = int(Severity.parse(min_severity))
    rows = conn.execute(
        f"select id, fingerprint, severity, source, message, asset, check_name, run_id "
        f"from {TABLE} where resolved_at is null and {severity_rank_sql('severity')} >= ? "
        f"and (notified_severity is null or "
        f"{severity_rank_sql('severity')} > {severity_rank_sql('notified_severity')}) "
        f"order by {severity_rank_sql('severity')} desc, first_seen, id limit ?",
        [floor, limit],
    ).fetchall()
    return [
        (
            int(alert_id),
            Alert(
                fingerprint=fingerprint,
                severity=Severity.parse(severity),
                source=source,
                message=message or "",
                asset=asset,
                check_name=check_name,
                run_id=run_id,
            ),
        )
        for alert_id, fingerprint, severity, source, message, asset, check_name, run_id in rows
    ]


def mark_notified(conn: Any, sent: Sequence[tuple[int, Severity]], at: dt.datetime) -> None:
    """Remember that each alert id was delivered at the given severity."""
    at = _utc_naive(at)
    for alert_id, severity in sent:
        conn.execute(
            f"update {TABLE} set notified_at = ?, notified_severity = ? where id = ?",
            [at, Severity.parse(severity).name, alert_id],
        )

"""The inbox sensor: each new row of ``market_data.market_events`` becomes an analysis run.

**How it is read.** The sensor reads by arrival: the rows with ``received_at`` at or
after its watermark minus ``LATE_WINDOW``, skipping the ids it has read within that
window (kept in its cursor). A burst is read in full and nothing is read twice, and an
id out of order (inserted ahead of the sequence) never moves a cursor past the events
that follow it. The tick's actionable events are coalesced (``event_runs``): one run
per priority class, each event (``market-event-<id>``) in exactly one run, whose key
comes from its events' ids, so a tick replayed after a crash launches nothing new. The
run re-runs the event analysis (``jobs.EVENT_ANALYSIS``: features, recommendations,
strategy) on the stored tables. The
sensor asks to be evaluated every second, so the daemon's sensor loop (every 5 s)
evaluates it on every pass.

How to write into the inbox, and the quarantine of bad events: ``market_data.inbox``.
"""

import json
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from pydantic import ValidationError

from robo_dagster import settings
from robo_dagster.automation.event_runs import MAX_EVENTS_PER_RUN, EventTrigger, coalesced_runs
from robo_dagster.automation.jobs import EVENT_ANALYSIS, recommendations_job
from robo_dagster.domain.market_events import MarketEvent, route_event
from robo_dagster.market_data.inbox import (
    CHECK_NAME,
    INBOX_TABLE,
    QUARANTINE_TABLE,
    ensure_inbox,
    market_events,
    quarantined_count,
    universe_symbols,
)
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import SENSOR_DEADLINE_S, WarehouseBusy

MAX_EVENTS_PER_TICK = 1000
# How far behind its watermark the sensor looks: a writer whose transaction commits
# this long after its row's received_at is still read.
LATE_WINDOW = pd.Timedelta(minutes=10)


def read_cursor(raw: str | None, conn: Any) -> tuple[pd.Timestamp, dict[int, pd.Timestamp]]:
    """(watermark, {id: received_at} of the events read within ``LATE_WINDOW`` of it).
    An older cursor, a bare last id, means every id up to it was read."""
    if not raw:
        return pd.Timestamp.min, {}
    if raw.strip().isdigit():
        rows = conn.execute(
            f"select id, received_at from {INBOX_TABLE} where id <= ?", [int(raw)]
        ).fetchall()
        if not rows:
            return pd.Timestamp.min, {}
        read = {int(i): pd.Timestamp(at) for i, at in rows}
        watermark = max(read.values())
        return watermark, {i: at for i, at in read.items() if at >= watermark - LATE_WINDOW}
    state = json.loads(raw)
    seen = {int(i): pd.Timestamp(at) for i, at in state["seen"].items()}
    watermark = state["watermark"]
    return (pd.Timestamp(watermark) if watermark else pd.Timestamp.min), seen


def window_start(watermark: pd.Timestamp) -> pd.Timestamp:
    """How far back a tick reads: the watermark less ``LATE_WINDOW``."""
    return pd.Timestamp.min if watermark == pd.Timestamp.min else watermark - LATE_WINDOW


def write_cursor(watermark: pd.Timestamp, seen: dict[int, pd.Timestamp], read: pd.DataFrame) -> str:
    """The cursor after ``read``: the newest arrival so far, and the ids read within
    ``LATE_WINDOW`` of it (older ones can no longer come back into the window)."""
    seen = seen | {
        int(i): pd.Timestamp(at) for i, at in zip(read["id"], read["received_at"], strict=True)
    }
    if seen:
        watermark = max(watermark, max(seen.values()))
    start = window_start(watermark)
    kept = {str(i): at.isoformat() for i, at in sorted(seen.items()) if at >= start}
    mark = None if watermark == pd.Timestamp.min else watermark.isoformat()  # nothing read yet
    return json.dumps({"watermark": mark, "seen": kept})


@sensor(
    job=recommendations_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns the new rows of market_data.market_events into analysis runs: one per priority class and tick (10 for the critical events, 9 for the rest), at most 50 events each.",
)
def market_event_inbox_sensor(context: SensorEvaluationContext) -> SensorResult:
    try:
        with locked_connection(settings.duckdb_path(), deadline_s=SENSOR_DEADLINE_S) as conn:
            ensure_inbox(conn)
            watermark, seen = read_cursor(context.cursor, conn)
            rows = conn.execute(
                f"select id, received_at, source, payload from {INBOX_TABLE} "
                "where received_at >= ? and id not in (select unnest(?)) "
                "order by received_at, id limit ?",
                [window_start(watermark), sorted(seen), MAX_EVENTS_PER_TICK],
            ).fetchdf()
            tradable, known = universe_symbols(conn)
            requests, rejected, ignored = classify(rows, tradable, known)
            waiting = quarantined_count(conn)
            if rejected:
                quarantined = pd.DataFrame(rejected).assign(
                    quarantined_at=pd.Timestamp.now(tz="UTC").tz_localize(None)
                )
                conn.register("quarantined", quarantined)
                # A tick replayed after a crash must not quarantine the same event twice.
                conn.execute(
                    f"insert into {QUARANTINE_TABLE} by name select * from quarantined "
                    f"where event_id not in (select event_id from {QUARANTINE_TABLE})"
                )
                waiting = quarantined_count(conn)
    except WarehouseBusy as exc:
        return SensorResult(
            skip_reason=f"the warehouse is busy; the next tick reads the events ({exc})"
        )
    cursor = write_cursor(watermark, seen, rows)
    if rows.empty:
        return SensorResult(skip_reason="no new event", cursor=cursor)
    context.log.info(
        f"events {rows['id'].min()}..{rows['id'].max()}: {len(requests)} run(s), "
        f"{len(rejected)} quarantined, {ignored} below the rules' thresholds"
    )
    check = AssetCheckEvaluation(
        asset_key=market_events.key,
        check_name=CHECK_NAME,
        passed=waiting == 0,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(rows)} event(s) read; {waiting} malformed event(s) wait in {QUARANTINE_TABLE}"
            + "".join(f"; #{r['event_id']}: {r['reason']}" for r in rejected[:5])
        ),
        metadata={"quarantined": waiting},
    )
    return SensorResult(run_requests=requests, cursor=cursor, asset_events=[check])


def classify(
    rows: pd.DataFrame,
    tradable: set[str],
    known: set[str] | None = None,
    max_per_run: int = MAX_EVENTS_PER_RUN,
) -> tuple[list[RunRequest], list[dict[str, Any]], int]:
    """Run requests for the events the rules act on (coalesced: ``event_runs``),
    quarantine rows for malformed ones and for symbols the universe does not know, and
    how many were valid but below the thresholds (or on a known symbol that is not
    traded, the benchmark)."""
    known = tradable if known is None else known
    triggers: list[EventTrigger] = []
    rejected: list[dict[str, Any]] = []
    ignored = 0
    for row in rows.itertuples(index=False):
        try:
            event = MarketEvent.model_validate_json(row.payload)
            if event.symbol not in known:
                raise ValueError(f"unknown symbol {event.symbol}: not in the universe")
        except (ValidationError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:300]
            rejected.append(
                {
                    "event_id": int(row.id),
                    "received_at": row.received_at,
                    "source": row.source,
                    "payload": row.payload,
                    "reason": reason,
                }
            )
            continue
        route = route_event(event, tradable)
        if route.priority is None:
            ignored += 1
            continue
        triggers.append(
            EventTrigger(f"market-event-{int(row.id)}", event.symbol, route.priority, route.reason)
        )
    requests = coalesced_runs(
        triggers, source="market-events", asset_selection=EVENT_ANALYSIS, max_per_run=max_per_run
    )
    return requests, rejected, ignored

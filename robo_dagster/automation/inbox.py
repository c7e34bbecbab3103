"""The external-event inbox: other systems push market events without writing Dagster code.

An event is a row of ``market_data.market_events``: an id from a sequence, the time it
arrived (``received_at``), its source, and a JSON payload (see
``domain.market_events.MarketEvent``).

**How to write.** Call ``push_event``. From any other DuckDB client, take the same file
lock (``warehouse.locking.database_lock``) and insert ``source`` and ``payload`` only:
``insert into market_data.market_events (source, payload) values (?, ?)``. Leave ``id``
and ``received_at`` to their defaults. An explicit id is harmless (the sensor does not
read by id), but an explicit ``received_at`` more than ``LATE_WINDOW`` in the past may
be read late or, beyond the sensor's look-back, never.

**How it is read.** The sensor reads by arrival: the rows with ``received_at`` at or
after its watermark minus ``LATE_WINDOW``, skipping the ids it has read within that
window (kept in its cursor). A burst is read in full and nothing is read twice, and an
id out of order (inserted ahead of the sequence) never moves a cursor past the events
that follow it. Each event's run has the run key ``market-event-<id>``, so a tick
replayed after a crash launches nothing new. The run re-runs the event analysis
(``jobs.EVENT_ANALYSIS``: features, recommendations, strategy) on the stored tables. The
sensor asks to be evaluated every second, so the daemon's sensor loop (every 5 s)
evaluates it on every pass.

**Bad events.** A malformed event (strict types: ``true`` is not a number, ``Infinity``
is not one either) or one on a symbol outside the tradable universe goes to
``market_data.market_events_quarantine`` with its reason, and the ``events_well_formed``
check fails; the sensor carries on.
"""

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSpec,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    sensor,
)
from pydantic import ValidationError

from robo_dagster import settings
from robo_dagster.automation.jobs import EVENT_ANALYSIS, recommendations_job
from robo_dagster.automation.queues import AI_ANALYSIS
from robo_dagster.domain.market_events import MarketEvent, route_event
from robo_dagster.domain.market_sim import build_universe
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import DEFAULT_TIMEOUT_S, SENSOR_DEADLINE_S, WarehouseBusy

INBOX_TABLE = "market_data.market_events"
QUARANTINE_TABLE = "market_data.market_events_quarantine"
MAX_EVENTS_PER_TICK = 1000
CHECK_NAME = "events_well_formed"
# How far behind its watermark the sensor looks: a writer whose transaction commits
# this long after its row's received_at is still read.
LATE_WINDOW = pd.Timedelta(minutes=10)

market_events = AssetSpec(
    key=["market_data", "market_events"],
    group_name="market_data",
    owners=["team:market-data"],
    kinds={"duckdb"},
    description=(
        "The external-event inbox: rows other systems push (JSON payloads of news, earnings "
        "or price moves). The market-event sensor turns them into analysis runs."
    ),
)


def _quarantined(conn: Any) -> int:
    (count,) = conn.execute(f"select count(*) from {QUARANTINE_TABLE}").fetchall()[0]
    return int(count)


@asset_check(
    asset=market_events.key,
    name=CHECK_NAME,
    description=(
        "No malformed event waits in market_data.market_events_quarantine. The sensor "
        "reports this check whenever it reads events; delete the quarantined rows once "
        "handled to clear it."
    ),
)
def events_well_formed() -> AssetCheckResult:
    with locked_connection(settings.duckdb_path()) as conn:
        ensure_inbox(conn)
        waiting = _quarantined(conn)
    return AssetCheckResult(
        passed=waiting == 0,
        severity=AssetCheckSeverity.ERROR,
        description="no quarantined event"
        if waiting == 0
        else f"{waiting} malformed event(s) quarantined",
        metadata={"quarantined": waiting},
    )


def ensure_inbox(conn: Any) -> None:
    """Create the inbox, its id sequence and the quarantine if they do not exist."""
    conn.execute("create schema if not exists market_data")
    conn.execute("create sequence if not exists market_data.market_event_id")
    conn.execute(
        f"create table if not exists {INBOX_TABLE} ("
        "id bigint primary key default nextval('market_data.market_event_id'), "
        "received_at timestamp default current_timestamp, source varchar, payload varchar)"
    )
    # Added after the first release: an inbox created before it gains the column.
    conn.execute(f"alter table {INBOX_TABLE} add column if not exists idempotency_key varchar")
    conn.execute(
        f"create table if not exists {QUARANTINE_TABLE} (event_id bigint, received_at timestamp, "
        "source varchar, payload varchar, reason varchar, quarantined_at timestamp)"
    )


class IdempotencyConflict(ValueError):
    """An idempotency key already names a different event."""

    def __init__(self, key: str, event_id: int) -> None:
        super().__init__(
            f"idempotency key {key!r} already names event {event_id}, with another payload"
        )
        self.event_id = event_id


class UnknownSymbol(ValueError):
    """The event is about a symbol the universe does not hold."""


@dataclass(frozen=True)
class PushedEvent:
    """Where an event landed: its id, and whether an earlier push had already stored it."""

    id: int
    duplicate: bool = False


def push_event_once(
    payload: dict[str, Any] | str,
    source: str = "api",
    database: str | None = None,
    idempotency_key: str | None = None,
    *,
    known_symbols_only: bool = False,
    deadline_s: float = DEFAULT_TIMEOUT_S,
) -> PushedEvent:
    """Append one event to the inbox, unless ``idempotency_key`` (or else the payload's
    ``external_id``) already names one: then return that one's id, or raise
    ``IdempotencyConflict`` when its payload differs. Writers queue on the file lock, so
    ids are committed in order, the sensor's cursor never skips one, and two pushes with
    one key cannot both insert. ``known_symbols_only`` refuses (``UnknownSymbol``) an
    event on a symbol outside the stored universe instead of leaving it to quarantine;
    ``deadline_s`` bounds the wait for the lock (then ``WarehouseBusy``)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    if idempotency_key is None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        external = parsed.get("external_id") if isinstance(parsed, dict) else None
        idempotency_key = external if isinstance(external, str) and external else None
    with locked_connection(database or settings.duckdb_path(), deadline_s=deadline_s) as conn:
        ensure_inbox(conn)
        if known_symbols_only:
            symbol = MarketEvent.model_validate_json(text).symbol
            if symbol not in _universe(conn)[1]:
                raise UnknownSymbol(
                    f"symbol {symbol} is not in the universe (add it to ROBO_WATCHLIST)"
                )
        if idempotency_key is not None:
            earlier = conn.execute(
                f"select id, payload from {INBOX_TABLE} where idempotency_key = ? "
                "order by id limit 1",
                [idempotency_key],
            ).fetchall()
            if earlier:
                event_id, stored = int(earlier[0][0]), earlier[0][1]
                if _same_payload(stored, text):
                    return PushedEvent(event_id, duplicate=True)
                raise IdempotencyConflict(idempotency_key, event_id)
        ((event_id,),) = conn.execute(
            f"insert into {INBOX_TABLE} (source, payload, idempotency_key) values (?, ?, ?) "
            "returning id",
            [source, text, idempotency_key],
        ).fetchall()
    return PushedEvent(int(event_id))


def _same_payload(stored: str, text: str) -> bool:
    try:
        return bool(json.loads(stored) == json.loads(text))
    except ValueError:
        return stored == text


def push_event(
    payload: dict[str, Any] | str, source: str = "api", database: str | None = None
) -> int:
    """Append one event to the inbox and return its id (``push_event_once`` without a
    key: a payload's ``external_id`` still makes a repeated push return the first id)."""
    return push_event_once(payload, source, database).id


def _universe(conn: Any) -> tuple[set[str], set[str]]:
    """(tradable, known) symbols: the stored universe whatever the source (the
    benchmark is known but not tradable), or before the first run the simulator's."""
    found = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'market_data' and table_name = 'universe'"
    ).fetchall()[0][0]
    if found:
        frame = conn.execute("select symbol, is_benchmark from market_data.universe").fetchdf()
    else:
        frame = build_universe(settings.watchlist(), settings.universe_size())
    known = set(frame["symbol"].astype(str))
    return set(frame.loc[~frame["is_benchmark"].astype(bool), "symbol"].astype(str)), known


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
    description="Turns each new row of market_data.market_events into an analysis run (priority 9, or 10 when critical).",
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
            tradable, known = _universe(conn)
            requests, rejected, ignored = classify(rows, tradable, known)
            waiting = _quarantined(conn)
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
                waiting = _quarantined(conn)
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
    rows: pd.DataFrame, tradable: set[str], known: set[str] | None = None
) -> tuple[list[RunRequest], list[dict[str, Any]], int]:
    """Run requests for the events the rules act on, quarantine rows for malformed ones
    and for symbols the universe does not know, and how many were valid but below the
    thresholds (or on a known symbol that is not traded, the benchmark)."""
    known = tradable if known is None else known
    requests: list[RunRequest] = []
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
        requests.append(
            RunRequest(
                asset_selection=EVENT_ANALYSIS,
                run_key=f"market-event-{int(row.id)}",
                tags={
                    **AI_ANALYSIS.tags(route.priority),
                    "robo/event_id": str(int(row.id)),
                    "robo/event_symbol": event.symbol,
                    "robo/trigger": route.reason,
                },
            )
        )
    return requests, rejected, ignored

"""The external-event inbox: other systems push market events without writing Dagster code.

An event is a row of ``market_data.market_events`` (an id from a sequence, the time it
arrived, its source, and a JSON payload: see ``domain.market_events.MarketEvent``). Push
one with ``push_event`` (or any DuckDB client that takes the same file lock). The sensor
reads the rows past its cursor in id order, so a burst is read in full and nothing is read
twice; each event's run has the run key ``market-event-<id>``, so a tick that is replayed
after a crash launches nothing new. The run re-runs the event analysis
(``jobs.EVENT_ANALYSIS``: features, recommendations, strategy) on the stored tables. The
sensor asks to be evaluated every second, so the daemon's sensor loop (every 5 s)
evaluates it on every pass. A malformed event goes to
``market_data.market_events_quarantine`` with its reason, and the ``events_well_formed``
check fails; the sensor carries on.
"""

import json
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

INBOX_TABLE = "market_data.market_events"
QUARANTINE_TABLE = "market_data.market_events_quarantine"
MAX_EVENTS_PER_TICK = 1000
CHECK_NAME = "events_well_formed"

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
    conn.execute(
        f"create table if not exists {QUARANTINE_TABLE} (event_id bigint, received_at timestamp, "
        "source varchar, payload varchar, reason varchar, quarantined_at timestamp)"
    )


def push_event(
    payload: dict[str, Any] | str, source: str = "api", database: str | None = None
) -> int:
    """Append one event to the inbox and return its id. Writers queue on the file lock,
    so ids are committed in order and the sensor's cursor never skips one."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    with locked_connection(database or settings.duckdb_path()) as conn:
        ensure_inbox(conn)
        ((event_id,),) = conn.execute(
            f"insert into {INBOX_TABLE} (source, payload) values (?, ?) returning id",
            [source, text],
        ).fetchall()
    return int(event_id)


def _tradable() -> set[str]:
    universe = build_universe(settings.watchlist(), settings.universe_size())
    return set(universe.loc[~universe["is_benchmark"], "symbol"])


@sensor(
    job=recommendations_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns each new row of market_data.market_events into an analysis run (priority 9, or 10 when critical).",
)
def market_event_inbox_sensor(context: SensorEvaluationContext) -> SensorResult:
    last_id = int(context.cursor or 0)
    with locked_connection(settings.duckdb_path()) as conn:
        ensure_inbox(conn)
        rows = conn.execute(
            f"select id, received_at, source, payload from {INBOX_TABLE} where id > ? order by id limit ?",
            [last_id, MAX_EVENTS_PER_TICK],
        ).fetchdf()
        requests, rejected, ignored = classify(rows, _tradable())
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
    if rows.empty:
        return SensorResult(skip_reason=f"no new event after id {last_id}", cursor=str(last_id))
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
    return SensorResult(
        run_requests=requests, cursor=str(int(rows["id"].max())), asset_events=[check]
    )


def classify(
    rows: pd.DataFrame, tradable: set[str]
) -> tuple[list[RunRequest], list[dict[str, Any]], int]:
    """Run requests for the events the rules act on, quarantine rows for malformed ones,
    and how many were valid but below the thresholds."""
    requests: list[RunRequest] = []
    rejected: list[dict[str, Any]] = []
    ignored = 0
    for row in rows.itertuples(index=False):
        try:
            event = MarketEvent.model_validate_json(row.payload)
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

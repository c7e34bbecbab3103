"""The external-event inbox: other systems push market events without writing Dagster code.

An event is a row of ``market_data.market_events``: an id from a sequence, the time it
arrived (``received_at``), its source, and a JSON payload (see
``domain.market_events.MarketEvent``). ``automation.inbox_sensor`` reads it.

**How to write.** Call ``push_event`` (or ``push_event_once`` with an idempotency key,
as the REST API does); on the DuckLake warehouse that is the only way (a lake table has
no id default: ids come from ``warehouse.stores.next_ids``). From any other DuckDB client
on the file, take the same file lock
(``warehouse.locking.database_lock``) and insert ``source`` and ``payload`` only:
``insert into market_data.market_events (source, payload) values (?, ?)``. Leave ``id``
and ``received_at`` to their defaults. An explicit id is harmless (the sensor does not
read by id), but an explicit ``received_at`` more than the sensor's ``LATE_WINDOW``
(10 minutes) in the past may be read late or, beyond its look-back, never.

**Bad events.** A malformed event (strict types: ``true`` is not a number, ``Infinity``
is not one either) or one on a symbol outside the tradable universe goes to
``market_data.market_events_quarantine`` with its reason, and the ``events_well_formed``
check fails; the sensor carries on.
"""

import json
from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetSpec, asset_check

from robo_dagster import settings
from robo_dagster.domain.market_events import MarketEvent
from robo_dagster.domain.market_sim import build_universe
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import DEFAULT_TIMEOUT_S
from robo_dagster.warehouse.stores import (
    create_keyed_table,
    insert_with_ids,
    serialize_writers,
    write_transaction,
)

INBOX_TABLE = "market_data.market_events"
SEQUENCE = "market_data.market_event_id"
QUARANTINE_TABLE = "market_data.market_events_quarantine"
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


def quarantined_count(conn: Any) -> int:
    """How many malformed events wait in the quarantine."""
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
        waiting = quarantined_count(conn)
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
    create_keyed_table(
        conn,
        INBOX_TABLE,
        "id bigint",
        ["received_at timestamp default current_timestamp", "source varchar", "payload varchar"],
        sequence=SEQUENCE,
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
    ``IdempotencyConflict`` when its payload differs. The push is one transaction: on the
    file, writers queue on its lock, so ids are committed in order; on the lake, ids come
    from a Postgres sequence (unique, increasing as drawn) and a push whose commit
    conflicts runs again whole (``warehouse.stores``). Either way two pushes with one key
    cannot both insert, and the sensor, which reads by arrival time, skips no event.
    ``known_symbols_only`` refuses (``UnknownSymbol``) an event on a symbol outside the
    stored universe instead of leaving it to quarantine; ``deadline_s`` bounds the wait
    for the lock (then ``WarehouseBusy``)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    if idempotency_key is None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        external = parsed.get("external_id") if isinstance(parsed, dict) else None
        idempotency_key = external if isinstance(external, str) and external else None

    def push(conn: Any) -> PushedEvent:
        ensure_inbox(conn)
        if known_symbols_only:
            symbol = MarketEvent.model_validate_json(text).symbol
            if symbol not in universe_symbols(conn)[1]:
                raise UnknownSymbol(
                    f"symbol {symbol} is not in the universe (add it to ROBO_WATCHLIST)"
                )
        if idempotency_key is not None:
            # Two pushes of one key at once must not both insert: on the lake the second
            # to commit conflicts, and its retry finds the first one's event.
            serialize_writers(conn, INBOX_TABLE)
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
        # received_at is left to its default, the transaction's start: a retry after a
        # conflict stamps its own, later time and draws a new id.
        (event_id,) = insert_with_ids(
            conn,
            INBOX_TABLE,
            SEQUENCE,
            ["source", "payload", "idempotency_key"],
            [[source, text, idempotency_key]],
        )
        return PushedEvent(int(event_id))

    return write_transaction(
        database or settings.duckdb_path(), push, "inbox: push an event", deadline_s=deadline_s
    )


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


def universe_symbols(conn: Any) -> tuple[set[str], set[str]]:
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

"""Health checks: is every part robo-dagster depends on answering right now?

``health_report`` returns one ``HealthItem`` per part:

- ``definitions``: the code location loads (``robo_dagster.definitions`` imports and
  ``Definitions.validate_loadable`` accepts it). This is the one slow item (seconds: it
  imports every asset module), so ``metrics_sensor`` skips it: a sensor being evaluated
  at all proves its code location loaded. ``robo-dagster status`` runs it.
- ``daemons``: every daemon the instance needs has a heartbeat newer than
  ``STALE_AFTER_S``. No heartbeat at all means no daemon ever ran on this instance (only
  ``dagster dev`` / ``make ui`` start one), which the detail says.
- ``duckdb``: the file exists, robo-dagster's file lock is obtainable within
  ``lock_timeout_s`` and a read-only connection answers ``select 1``. The lock is held
  only for that query, so a materialization waits milliseconds at most.
- ``market`` and ``broker``: each provider answers its cheapest call (``universe()``,
  ``account()``).

A failed item is CRITICAL: ``health_alerts`` turns the report into alert actions
(``health:<name>``, ``source="system"``) that ``metrics_sensor`` records, and resolves
them once the item is healthy again.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from dagster import DagsterInstance, Definitions

from robo_dagster import redaction
from robo_dagster.monitoring.alerts import MAX_MESSAGE_CHARS, Alert, Severity
from robo_dagster.warehouse.connection import read_only_connection, warehouse_exists
from robo_dagster.warehouse.lake import WarehouseUnavailable
from robo_dagster.warehouse.locking import RECORDED_WAIT_S, database_lock, recent_waits
from robo_dagster.warehouse.target import describe

# The scheduler daemon beats about once a minute and skips a beat when its last is under
# 30 s old, so a healthy beat can be 90 s old: 60 s raised a false CRITICAL after a start.
STALE_AFTER_S = 180.0
DEFAULT_LOCK_TIMEOUT_S = 5.0
MAX_DETAIL_CHARS = 300

# The module `dagster dev` loads (workspace.yaml, [tool.dagster] in pyproject.toml).
CODE_LOCATION_MODULE = "robo_dagster.definitions"


@dataclass(frozen=True)
class HealthItem:
    """One part's health: ``ok`` and a one-line ``detail`` saying why."""

    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The item as JSON-ready data."""
        return asdict(self)


def _error(exc: BaseException) -> str:
    first = next((line for line in redaction.redact(str(exc)).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first.strip()}"[:MAX_DETAIL_CHARS]


def check_definitions(module_name: str = CODE_LOCATION_MODULE) -> HealthItem:
    """Whether the code location loads, as ``dagster dev`` would load it: by its module
    name, at check time. An import of ``robo_dagster.definitions`` here would close the
    cycle definitions -> monitoring -> definitions."""
    try:
        module = importlib.import_module(module_name)
        Definitions.validate_loadable(module.defs)
    except Exception as exc:
        return HealthItem("definitions", False, f"code location does not load: {_error(exc)}")
    return HealthItem("definitions", True, f"{module_name} loads")


def check_daemons(
    instance: DagsterInstance, now: float | None = None, stale_after_s: float = STALE_AFTER_S
) -> HealthItem:
    """Whether each daemon the instance needs has beaten within ``stale_after_s`` seconds.

    An instance whose configuration needs no daemon (the ephemeral one) is judged on the
    heartbeats it has: none at all still fails, since then nothing runs the sensors,
    schedules or run queue.
    """
    moment = time.time() if now is None else now
    try:
        beats = instance.get_daemon_heartbeats()
        required = list(instance.get_required_daemon_types())
    except Exception as exc:
        return HealthItem("daemons", False, f"cannot read daemon heartbeats: {_error(exc)}")
    if not beats:
        return HealthItem(
            "daemons",
            False,
            "no daemon has ever run on this instance: start one with `make ui` (dagster dev)",
        )
    expected = required or sorted(beats)
    missing = [name for name in expected if name not in beats]
    stale = {
        name: moment - beats[name].timestamp
        for name in expected
        if name in beats and moment - beats[name].timestamp > stale_after_s
    }
    if missing or stale:
        parts = [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"{name} last beat {age:.0f} s ago" for name, age in sorted(stale.items())]
        return HealthItem("daemons", False, "; ".join(parts))
    newest = max(moment - beats[name].timestamp for name in expected)
    return HealthItem(
        "daemons", True, f"{len(expected)} daemon(s) beating, oldest beat {newest:.0f} s ago"
    )


def check_duckdb(database: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> HealthItem:
    """Whether the warehouse is there, its lock (if it has one) obtainable in time, and it
    answers: for a lake, whether its catalog answers within its connect timeout."""
    if not warehouse_exists(database):
        return HealthItem(
            "duckdb", False, f"no DuckDB file at {database}: nothing has been materialized yet"
        )
    started = time.monotonic()
    name = describe(database)
    try:
        with database_lock(database, timeout_s=lock_timeout_s):
            waited = time.monotonic() - started
            conn = read_only_connection(database)
            try:
                conn.execute("select 1").fetchall()
            finally:
                conn.close()
    except WarehouseUnavailable as exc:
        return HealthItem("duckdb", False, str(exc)[:MAX_DETAIL_CHARS])
    except TimeoutError:
        return HealthItem(
            "duckdb",
            False,
            f"{database}: its lock was not released within {lock_timeout_s:g} s "
            "(a long write, or a stuck process)",
        )
    except Exception as exc:
        return HealthItem("duckdb", False, f"{database}: {_error(exc)}")
    return HealthItem(
        "duckdb",
        True,
        f"{name} answers (lock obtained in {waited:.2f} s)" + _longest_wait(database),
    )


LOCK_WAIT_WINDOW_S = 3600.0


def _longest_wait(database: str) -> str:
    """The longest lock wait robo-dagster recorded in the last hour, if any."""
    waits = recent_waits(database, LOCK_WAIT_WINDOW_S)
    if not waits:
        return f"; no lock wait over {RECORDED_WAIT_S:g} s in the last hour"
    at, seconds, pid, on = max(waits, key=lambda wait: wait[1])
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%H:%M:%S UTC")
    return (
        f"; {len(waits)} lock wait(s) over {RECORDED_WAIT_S:g} s in the last hour, the longest "
        f"{seconds:.1f} s at {when} (pid {pid} waited on the {on})"
    )


def check_market(market: Any) -> HealthItem:
    """Whether the market-data provider answers its cheapest call, ``universe()``."""
    try:
        universe = market.universe()
    except Exception as exc:
        return HealthItem("market", False, f"market data provider failed: {_error(exc)}")
    return HealthItem("market", True, f"{type(market).__name__}: {len(universe)} symbols")


def check_broker(broker: Any) -> HealthItem:
    """Whether the broker answers ``account()``."""
    try:
        account = broker.account()
    except Exception as exc:
        return HealthItem("broker", False, f"broker failed: {_error(exc)}")
    return HealthItem(
        "broker", True, f"{type(broker).__name__}: account {account.get('account_id', '?')}"
    )


def health_report(
    instance: DagsterInstance,
    database: str,
    market: Any,
    broker: Any | None = None,
    *,
    load_definitions: bool = True,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    now: float | None = None,
) -> list[HealthItem]:
    """Every health item, in a fixed order. ``load_definitions=False`` skips the slow one."""
    items = [check_definitions()] if load_definitions else []
    items += [check_daemons(instance, now), check_duckdb(database, lock_timeout_s)]
    items.append(check_market(market))
    if broker is not None:
        items.append(check_broker(broker))
    return items


def health_alerts(items: list[HealthItem]) -> tuple[list[Alert], list[str]]:
    """The CRITICAL alerts to raise for failed items and the fingerprints to resolve."""
    raises = [
        Alert(
            fingerprint=f"health:{item.name}",
            severity=Severity.CRITICAL,
            source="system",
            message=f"health {item.name}: {item.detail}"[:MAX_MESSAGE_CHARS],
        )
        for item in items
        if not item.ok
    ]
    resolves = [f"health:{item.name}" for item in items if item.ok]
    return raises, resolves


def utc_now() -> dt.datetime:
    """Now, as the naive UTC the alert store keeps."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

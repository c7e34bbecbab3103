"""Health items against real parts: the code location, daemon heartbeats on a real
instance, a DuckDB file whose lock another holder keeps, and the providers."""

import time
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from robo_dagster.monitoring.health import (
    check_daemons,
    check_definitions,
    check_duckdb,
    health_alerts,
    health_report,
)
from robo_dagster.providers import PaperBroker

from .metrics_support import beat, held_lock, providers


def test_no_daemon_ever_ran_says_so(any_instance: DagsterInstance) -> None:
    item = check_daemons(any_instance)
    assert not item.ok
    assert item.detail.startswith("no daemon has ever run on this instance")


def test_recent_heartbeats_are_healthy_and_stale_ones_are_not(tmp_path: Path) -> None:
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        beat(instance)
        assert check_daemons(instance).ok
        assert check_daemons(instance, now=time.time() + 90).ok  # the scheduler's slack
        stale = check_daemons(instance, now=time.time() + 200)
        assert not stale.ok and "SENSOR last beat 200 s ago" in stale.detail


def test_a_held_lock_fails_the_duckdb_item_within_its_timeout(alerts_db: str) -> None:
    duckdb.connect(alerts_db).close()
    assert check_duckdb(alerts_db).ok
    started = time.monotonic()
    with held_lock(alerts_db):
        item = check_duckdb(alerts_db, lock_timeout_s=0.3)
    assert time.monotonic() - started < 2
    assert not item.ok and "lock was not released within 0.3 s" in item.detail
    assert check_duckdb(alerts_db).ok


def test_a_missing_file_is_not_healthy_and_is_not_created(tmp_path: Path) -> None:
    path = str(tmp_path / "none.duckdb")
    item = check_duckdb(path)
    assert not item.ok and "nothing has been materialized yet" in item.detail
    assert not Path(path).exists()


def test_the_report_covers_every_part_and_failures_become_system_alerts(
    any_instance: DagsterInstance, alerts_db: str, tmp_path: Path
) -> None:
    duckdb.connect(alerts_db).close()
    market = providers()["market"]
    broken = PaperBroker(portfolio_file=str(tmp_path / "missing.json"), market=market)
    items = health_report(any_instance, alerts_db, market, broken, load_definitions=False)
    assert [(i.name, i.ok) for i in items] == [
        ("daemons", False),
        ("duckdb", True),
        ("market", True),
        ("broker", False),
    ]
    assert "missing.json does not exist" in items[3].detail
    raises, resolves = health_alerts(items)
    assert [(a.fingerprint, a.severity.name, a.source) for a in raises] == [
        ("health:daemons", "CRITICAL", "system"),
        ("health:broker", "CRITICAL", "system"),
    ]
    assert resolves == ["health:duckdb", "health:market"]


def test_the_code_location_loads() -> None:
    item = check_definitions()
    assert item.ok, item.detail

"""A real desk for the dashboard's tests: the whole graph materialized into a temporary
DuckDB, with an on-disk Dagster instance and a few alerts, built once per session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from robo_dagster.cli.quickstart import replay_analyses
from robo_dagster.monitoring.alerts import Alert, ensure_alerts, raise_alert, resolve_alerts
from robo_dagster.resources import build_resources
from robo_dagster.warehouse.connection import locked_connection
from tests.conftest import AS_OF, WATCHLIST, materialize_all, session_range

# 60 sessions keep the module's build to well under a minute; replays every five
# sessions give the scorecard recommendations whose horizon has passed.
SESSIONS = 60
REPLAYS = 4
REPLAY_EVERY = 5
MARKET = {"as_of": AS_OF, "watchlist": WATCHLIST, "universe_size": 0, "seed": 7}
ALERT_TIME = dt.datetime(2026, 11, 25, 15, 0)


@dataclass(frozen=True)
class Desk:
    database: str
    dagster_home: str


def build_desk(folder: Path) -> Desk:
    """Materialize the graph into ``folder``: replays of the analyses, then every asset
    over ``SESSIONS`` sessions on an instance in ``folder/dagster_home``; then the alert
    store as the sensors leave it (two open alerts, one resolved)."""
    database = str(folder / "robo.duckdb")
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("")  # the defaults, said out loud
    first, last = session_range(SESSIONS)
    replay_analyses(first, last, REPLAYS, REPLAY_EVERY, database, **MARKET)
    with DagsterInstance.from_config(str(home)) as instance:
        result = materialize_all(build_resources(database, **MARKET), SESSIONS, instance=instance)
    assert result.success
    with locked_connection(database) as conn:
        ensure_alerts(conn)
        raise_alert(
            conn,
            Alert(
                fingerprint="check:portfolio/portfolio_risk:var_within_limit",
                severity="CRITICAL",
                source="check",
                message="VaR 95 % 3.4% of equity is over its 3.0% limit",
                asset="portfolio/portfolio_risk",
                check_name="var_within_limit",
            ),
            ALERT_TIME,
        )
        raise_alert(
            conn,
            Alert(
                fingerprint="threshold:queue_backlog",
                severity="WARNING",
                source="threshold",
                message="58 queued runs (warning at 50)",
            ),
            ALERT_TIME - dt.timedelta(hours=3),
        )
        raise_alert(
            conn,
            Alert(
                fingerprint="run:portfolio_sync_job",
                severity="ERROR",
                source="run",
                message="portfolio_sync_job failed",
            ),
            ALERT_TIME - dt.timedelta(days=1),
        )
        resolve_alerts(conn, "run:portfolio_sync_job", ALERT_TIME - dt.timedelta(hours=20))
    return Desk(database=database, dagster_home=str(home))


@pytest.fixture(scope="session")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    """One desk for every dashboard test: the tests only read it, and those that change a
    table change a copy."""
    return build_desk(tmp_path_factory.mktemp("desk"))


@pytest.fixture()
def on_desk(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """The environment of a dashboard started on ``desk``."""
    monkeypatch.setenv("ROBO_DUCKDB_PATH", desk.database)
    monkeypatch.setenv("DAGSTER_HOME", desk.dagster_home)
    monkeypatch.setenv("ROBO_DAGSTER_UI_URL", "http://127.0.0.1:3999")
    yield desk

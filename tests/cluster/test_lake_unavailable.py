"""A DuckLake whose Postgres catalog is dead: a clear error at once, a page, no hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context

from robo_dagster import settings
from robo_dagster.cluster.services import Postgres, free_port
from robo_dagster.monitoring.health import check_duckdb
from robo_dagster.monitoring.metrics import metrics_sensor
from robo_dagster.providers import PaperBroker, SimulatedMarketData
from robo_dagster.warehouse import query
from robo_dagster.warehouse.lake import WarehouseUnavailable
from robo_dagster.warehouse.target import LakeTarget
from tests.cluster.conftest import lake_environment
from tests.conftest import AS_OF
from tests.monitoring import conftest as monitoring_fixtures
from tests.monitoring.support import WebhookReceiver

pytestmark = pytest.mark.cluster

PASSWORD = "s3cret-catalog-password-42"

receiver = monitoring_fixtures.receiver  # the monitoring tests' webhook fixture


@pytest.fixture()
def dead_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A lake whose catalog port has nothing listening, with a password configured."""
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", PASSWORD)
    return LakeTarget(
        "robo_lake", "127.0.0.1", free_port(), "dagster", str(tmp_path / "d")
    ).render()


def assert_clear(message: str, target: LakeTarget) -> None:
    assert f"{target.host}:{target.port}" in message
    assert "DAGSTER_PG_HOST" in message and "Is Postgres running" in message
    assert PASSWORD not in message


def test_a_port_with_nothing_listening_fails_at_once_naming_it(dead_target: str) -> None:
    target = LakeTarget.parse(dead_target)
    assert f"connect_timeout={target.connect_timeout_s}" in target.conninfo()
    with pytest.raises(WarehouseUnavailable) as caught:
        query("select 1", database=dead_target)
    assert_clear(str(caught.value), target)
    # Nothing was created for a path that is really a connection string.
    assert not Path(target.data_path).exists()
    assert not [p for p in Path.cwd().iterdir() if p.name.startswith("ducklake:")]


def test_a_stopped_postgres_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", PASSWORD)
    server = Postgres(tmp_path / "pg", free_port()).start()
    try:
        server.create_database("robo_lake")
        live = LakeTarget("robo_lake", "127.0.0.1", server.port, server.user, str(tmp_path / "d"))
        assert query("select 42 as n", database=live.render())["n"].iloc[0] == 42
    finally:
        server.stop()
    with pytest.raises(WarehouseUnavailable) as caught:
        query("select 1", database=live.render())
    assert_clear(str(caught.value), live)
    item = check_duckdb(live.render())
    assert not item.ok
    assert f"{live.host}:{live.port}" in item.detail and PASSWORD not in item.detail


def test_the_metrics_sensor_pages_once_when_the_catalog_is_dead(
    dead_target: str, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = LakeTarget.parse(dead_target)
    for name, value in {**lake_environment(target), "ROBO_ALERT_WEBHOOK_URL": receiver.url}.items():
        monkeypatch.setenv(name, value)
    market = SimulatedMarketData(as_of=AS_OF)
    resources = {
        "market": market,
        "broker": PaperBroker(portfolio_file=settings.portfolio_file(), market=market),
    }
    cursor = None
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "home")) as instance:
        for _ in range(2):
            with build_sensor_context(
                instance=instance, cursor=cursor, resources=resources
            ) as context:
                data = metrics_sensor.evaluate_tick(context)
            cursor = data.cursor
            assert "the warehouse does not answer" in str(data.skip_message)
            assert PASSWORD not in str(data.skip_message)
    assert json.loads(cursor or "{}")["unreachable_paged"] is True
    assert len(receiver.received) == 1  # once per outage, not once per tick
    sent = json.dumps(receiver.received[0].body)
    assert "CRITICAL" in sent.upper() and f"{target.host}:{target.port}" in sent
    assert PASSWORD not in sent

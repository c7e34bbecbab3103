"""Declarative automation, evaluated tick by tick on a real instance at explicit times.

The conditions read only the instance's event log, so each scenario writes the
materializations and check results it needs, then asks Dagster's own evaluator what the
automation sensor would launch. Dagster's ``freeze_time`` (what its own automation tests
use) pins the instance clock, so events and ticks happen at the explicit market times.
"""

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultSensorStatus,
    evaluate_automation_conditions,
)
from dagster._core.test_utils import freeze_time

from robo_dagster.automation.conditions import market_automation_sensor
from robo_dagster.definitions import defs

NEW_YORK = ZoneInfo("America/New_York")
ALL_SESSIONS = ["2026-11-20", "2026-11-23", "2026-11-24", "2026-11-25"]
FETCHED = {
    "market_data/universe",
    "market_data/news",
    "market_data/earnings",
    "market_data/fundamentals",
    "market_data/option_chains",
    "market_data/options_summary",
}
VALUATION_AND_ANALYSIS = {
    "portfolio/positions",
    "portfolio/portfolio_pnl",
    "portfolio/portfolio_risk",
    "portfolio/sector_exposure",
    "portfolio/equity_history",
    "portfolio/pnl_history",
    "portfolio/risk_history",
    "ai_analysis/analysis_features",
    "ai_analysis/trade_recommendations",
    "ai_analysis/strategy_analysis",
    "ai_analysis/risk_assessment",
    "ai_analysis/recommendation_scorecard",
}
BARS = AssetKey(["market_data", "price_bars"])
KEYS = sorted(defs.resolve_asset_graph().get_all_asset_keys())


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def materialized(instance: DagsterInstance, when: str, *names: str) -> None:
    with freeze_time(at(when)):
        for name in names:
            instance.report_runless_asset_event(AssetMaterialization(AssetKey(name.split("/"))))


def bars_checked(instance: DagsterInstance, when: str, session: str, passed: bool) -> None:
    with freeze_time(at(when)):
        instance.report_runless_asset_event(AssetMaterialization(BARS, partition=session))
        instance.report_runless_asset_event(
            AssetCheckEvaluation(
                asset_key=BARS,
                check_name="price_bars_valid",
                passed=passed,
                severity=AssetCheckSeverity.ERROR,
                blocking=True,
            )
        )


class Ticks:
    """Successive evaluations that carry the automation cursor, as the sensor does."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self.cursor = None

    def __call__(self, when: str) -> set[str]:
        with freeze_time(at(when)):
            result = evaluate_automation_conditions(
                defs=defs, instance=self.instance, evaluation_time=at(when), cursor=self.cursor
            )
        self.cursor = result.cursor
        return {key.to_user_string() for key in KEYS if result.get_requested_partitions(key)}


@pytest.fixture()
def settled() -> Iterator[tuple[DagsterInstance, Ticks]]:
    """Every asset materialized once, bars checked, and a first tick that launches nothing."""
    with DagsterInstance.ephemeral() as instance:
        for session in ALL_SESSIONS:
            bars_checked(instance, "2026-11-23T09:00", session, passed=True)
        graph = defs.resolve_asset_graph()
        keys = [k.to_user_string() for k in graph.get_all_asset_keys() if k != BARS]
        materialized(instance, "2026-11-23T09:00", *keys)
        with freeze_time(at("2026-11-23T09:00")):
            instance.report_runless_asset_event(
                AssetCheckEvaluation(
                    asset_key=AssetKey(["ai_analysis", "trade_recommendations"]),
                    check_name="recommendations_within_risk_limits",
                    passed=True,
                    blocking=True,
                )
            )
        ticks = Ticks(instance)
        assert ticks("2026-11-24T10:00") == set()
        yield instance, ticks


def test_a_broker_sync_in_session_fetches_then_values_then_analyses(settled) -> None:
    instance, ticks = settled
    materialized(instance, "2026-11-24T10:14", "portfolio/account_balances")
    requested = ticks("2026-11-24T10:15")
    assert requested == FETCHED | VALUATION_AND_ANALYSIS
    # Handled: the next tick launches nothing until something updates again.
    assert ticks("2026-11-24T10:16") == set()


def test_outside_the_session_a_broker_sync_revalues_without_fetching(settled) -> None:
    instance, ticks = settled
    materialized(instance, "2026-11-26T11:59", "portfolio/account_balances")
    assert ticks("2026-11-26T12:00") == VALUATION_AND_ANALYSIS  # Thanksgiving
    assert ticks("2026-11-26T12:01") == set()
    materialized(instance, "2026-11-27T12:29", "portfolio/account_balances")
    assert ticks("2026-11-27T12:30") == FETCHED | VALUATION_AND_ANALYSIS  # early-close day
    assert ticks("2026-11-27T12:31") == set()
    materialized(instance, "2026-11-27T13:29", "portfolio/account_balances")
    assert ticks("2026-11-27T13:30") == VALUATION_AND_ANALYSIS  # after its 13:00 close


def test_a_failed_blocking_check_on_the_bars_holds_everything_below_them(settled) -> None:
    instance, ticks = settled
    bars_checked(instance, "2026-11-27T13:19", "2026-11-27", passed=False)
    assert ticks("2026-11-27T13:20") == set()
    assert ticks("2026-11-27T13:21") == set()
    # Once the re-run bars pass, the indicators and all they feed follow.
    bars_checked(instance, "2026-11-27T13:24", "2026-11-27", passed=True)
    requested = ticks("2026-11-27T13:25")
    assert "market_data/technical_indicators" in requested
    assert {"portfolio/positions", "ai_analysis/trade_recommendations"} <= requested
    assert not requested & {"market_data/price_bars", "ai_analysis/evening_review"}


def test_nothing_runs_while_an_upstream_is_missing() -> None:
    with DagsterInstance.ephemeral() as instance:
        ticks = Ticks(instance)
        assert ticks("2026-11-24T10:00") == set()
        materialized(instance, "2026-11-24T10:14", "portfolio/account_balances")
        # The universe's only upstream is present, so it is fetched; everything that
        # also needs bars waits for the first end-of-day run.
        assert ticks("2026-11-24T10:15") == {
            "market_data/universe",
            "market_data/news",
            "market_data/earnings",
            "market_data/fundamentals",
            "market_data/option_chains",
            "market_data/options_summary",
        }


def test_the_automation_sensor_starts_running_in_the_code_server() -> None:
    assert market_automation_sensor in list(defs.sensors or [])
    sensor = market_automation_sensor
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.run_tags["dagster/priority"] == "5"  # type: ignore[attr-defined]

"""The code location loads, and every asset carries what the UI shows a newcomer."""

import dagster as dg
import pytest

from robo_dagster import settings
from robo_dagster.definitions import defs
from robo_dagster.partitions import TRADING_DAYS


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


@pytest.mark.parametrize(
    "spec", list(defs.resolve_all_asset_specs()), ids=lambda s: s.key.to_user_string()
)
def test_every_asset_is_described_grouped_and_owned(spec: dg.AssetSpec) -> None:
    assert spec.group_name in {"portfolio", "market_data", "ai_analysis", "monitoring", "execution"}
    assert spec.key.path[0] == spec.group_name  # the key is schema/table in DuckDB
    assert spec.description and len(spec.description) > 40
    assert spec.kinds and "duckdb" in spec.kinds
    assert spec.owners


def test_pipelines_choose_their_executor() -> None:
    sequential = defs.resolve_job_def("sequential_pipeline")
    parallel = defs.resolve_job_def("parallel_pipeline")
    assert sequential.executor_def.name == "in_process"
    assert parallel.executor_def.name == "multiprocess"
    assert sequential.partitions_def == TRADING_DAYS == parallel.partitions_def


def test_partitions_are_trading_sessions() -> None:
    keys = set(TRADING_DAYS.get_partition_keys())
    assert "2026-11-25" in keys and "2026-11-27" in keys
    assert "2026-11-26" not in keys  # Thanksgiving
    assert "2026-11-21" not in keys  # Saturday
    assert "2025-01-09" not in keys  # national day of mourning: an ad-hoc closure


@pytest.mark.parametrize(
    ("job", "priority"),
    [("recommendations_job", "9"), ("morning_prep_job", "8"), ("evening_review_job", "7")],
)
def test_analysis_jobs_carry_the_seeds_priority(job: str, priority: str) -> None:
    definition = defs.resolve_job_def(job)
    assert definition.tags["dagster/priority"] == priority
    assert definition.partitions_def is None  # launchable without choosing a partition
    keys = {key.to_user_string() for key in definition.asset_layer.executable_asset_keys}
    assert "market_data/price_bars" not in keys


def test_pipelines_cover_all_three_groups() -> None:
    keys = {
        key.path[0]
        for key in defs.resolve_job_def("sequential_pipeline").asset_layer.executable_asset_keys
    }
    assert keys == {"portfolio", "market_data", "ai_analysis"}


def test_orders_go_out_only_through_execution_job() -> None:
    execution = {
        k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "execution"
    }
    assert execution == {
        dg.AssetKey(["execution", name])
        for name in ("order_intents", "order_submissions", "order_fills")
    }
    for name in (
        "sequential_pipeline",
        "parallel_pipeline",
        "recommendations_job",
        "portfolio_sync_job",
    ):
        assert not execution & set(defs.resolve_job_def(name).asset_layer.executable_asset_keys)
    job = defs.resolve_job_def("execution_job")
    assert execution <= set(job.asset_layer.executable_asset_keys)
    assert job.tags["dagster/priority"] == "9" and job.tags["robo/queue"] == "portfolio_sync"
    graph = defs.resolve_asset_graph()
    assert all(graph.get(key).automation_condition is None for key in execution)


def test_the_key_assets_link_to_their_dashboard_page() -> None:
    pages = {
        "portfolio/positions": "book",
        "portfolio/equity_history": "book",
        "portfolio/risk_history": "risk",
        "portfolio/portfolio_risk": "risk",
        "ai_analysis/trade_recommendations": "recommendations",
        "market_data/technical_indicators": "market",
        "monitoring/alerts": "alerts",
    }
    graph = defs.resolve_asset_graph()
    for key, page in pages.items():
        link = graph.get(dg.AssetKey(key.split("/"))).metadata["dashboard"]
        assert link.value == settings.dashboard_page_url(page), key

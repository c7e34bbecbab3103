"""The one ``Definitions`` object: what ``dagster dev``, the UI and the CLI load."""

from __future__ import annotations

from dagster import (
    AssetsDefinition,
    AssetSpec,
    Definitions,
    in_process_executor,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from robo_dagster.ai_analysis import assets as ai_analysis_assets
from robo_dagster.ai_analysis import checks as ai_analysis_checks
from robo_dagster.automation.conditions import condition_for, market_automation_sensor
from robo_dagster.automation.earnings_sensor import earnings_sensor
from robo_dagster.automation.inbox_sensor import market_event_inbox_sensor
from robo_dagster.automation.jobs import JOBS
from robo_dagster.automation.news_sensor import news_sensor
from robo_dagster.automation.order_sensor import open_orders_sensor
from robo_dagster.automation.price_move_sensor import price_move_sensor
from robo_dagster.automation.schedules import SCHEDULE_JOBS, SCHEDULES
from robo_dagster.automation.snapshot_sensor import snapshot_sensor
from robo_dagster.execution import assets as execution_assets
from robo_dagster.execution import checks as execution_checks
from robo_dagster.market_data import assets as market_data_assets
from robo_dagster.market_data import checks as market_data_checks
from robo_dagster.market_data.inbox import events_well_formed, market_events
from robo_dagster.monitoring.dashboard import alerts_table, metrics_table
from robo_dagster.monitoring.metrics import metrics_sensor
from robo_dagster.monitoring.sensor import alerts_sensor
from robo_dagster.portfolio import assets as portfolio_assets
from robo_dagster.portfolio import checks as portfolio_checks
from robo_dagster.portfolio import history as portfolio_history
from robo_dagster.portfolio import history_checks as portfolio_history_checks
from robo_dagster.resources import build_resources
from robo_dagster.tasks.held_tasks import held_tasks_sensor

ASSET_MODULES = [
    market_data_assets,
    portfolio_assets,
    portfolio_history,
    ai_analysis_assets,
    execution_assets,
]
CHECK_MODULES = [
    market_data_checks,
    portfolio_checks,
    portfolio_history_checks,
    ai_analysis_checks,
    execution_checks,
]


def _with_policy(spec: AssetSpec) -> AssetSpec:
    """The conditional mode's condition for this asset, kept in one policy module."""
    condition = condition_for(spec.key, {dep.asset_key for dep in spec.deps})
    return spec.replace_attributes(automation_condition=condition) if condition else spec


ASSETS = [
    asset.map_asset_specs(_with_policy) if isinstance(asset, AssetsDefinition) else asset
    for asset in load_assets_from_modules(ASSET_MODULES)
]

defs = Definitions(
    assets=[*ASSETS, market_events, alerts_table, metrics_table],
    asset_checks=[*load_asset_checks_from_modules(CHECK_MODULES), events_well_formed],
    jobs=[*JOBS, *SCHEDULE_JOBS],
    schedules=SCHEDULES,
    sensors=[
        market_event_inbox_sensor,
        news_sensor,
        price_move_sensor,
        earnings_sensor,
        market_automation_sensor,
        held_tasks_sensor,
        open_orders_sensor,
        snapshot_sensor,
        alerts_sensor,
        metrics_sensor,
    ],
    resources=build_resources(),
    # Runs outside the named jobs (the UI's and the automation's asset runs, tasks
    # submitted by asset) are a few steps each: one process per step would cost more
    # than the steps. parallel_pipeline keeps its multiprocess executor.
    executor=in_process_executor,
)

"""The conditional mode: declarative automation over the asset graph.

Schedules and sensors start work at the roots (the broker sync, the end-of-day bars, the
analyses on an event); from there, each asset below follows its upstreams through an
``AutomationCondition``:

- every automatic asset waits until none of its upstreams is missing or in progress and
  every upstream blocking check has passed, so nothing runs on half-fresh or bad inputs;
- the provider fetches (universe, news, earnings, fundamentals, option chains) follow a
  broker sync only while XNYS is open, asked of exchange_calendars (``MarketOpen``), not
  of a cron string; outside the session the end-of-day schedule and the event sensors
  fetch them;
- derived tables (indicators, valuation, risk) and the AI analyses follow any update.

So the seed's rules hold: the portfolio sync completes, then the data fetch; the data
fetch completes (or an event with impact >= 0.7 arrives, through the sensors), then the
AI analysis; a critical event runs the analysis at once, at priority 10 (the sensors).

The partitioned price bars are a special dependency: an unpartitioned child depends on
every session, most of which a deployment never backfills, and the newest partition is
the session still trading. Their guard therefore looks at the sessions that exist:
none of them in progress, and the latest materialization's blocking check passed.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    AutomationContext,
    AutomationResult,
    BetaWarning,
    DefaultSensorStatus,
)

from robo_dagster.domain import calendar
from robo_dagster.tasks.queues import AUTOMATION, Priority

# Evaluating our own condition class needs the user-code sensor, still marked beta in
# Dagster 1.13; its notice would otherwise repeat on every load of the code location.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*use_user_code_server.*")

PRICE_BARS = AssetKey(["market_data", "price_bars"])


class MarketOpen(AutomationCondition):
    """True while XNYS is in session at the evaluation time (early closes included)."""

    @property
    def name(self) -> str:
        return "xnys_open"

    @property
    def description(self) -> str:
        return "XNYS is in session (exchange_calendars)"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        moment = context.evaluation_time
        if calendar.is_open_at(moment):
            return AutomationResult(context, true_subset=context.candidate_subset)
        return AutomationResult(context, true_subset=context.get_empty_subset())


def _bars_settled() -> AutomationCondition:
    """Some price-bar session is stored, none is in progress, and the latest one's
    blocking check passed."""
    bars = AssetSelection.assets(PRICE_BARS)
    return (
        AutomationCondition.any_deps_match(~AutomationCondition.missing())
        .allow(bars)
        .with_label("some price-bar session is stored")
        & ~AutomationCondition.any_deps_match(AutomationCondition.in_progress())
        .allow(bars)
        .with_label("a price-bar session is in progress")
        & ~AutomationCondition.any_deps_match(
            AutomationCondition.any_checks_match(
                AutomationCondition.check_failed(), blocking_only=True
            ).with_label("a blocking check failed")
        )
        .allow(bars)
        .with_label("the price bars failed a blocking check")
    )


def guarded_eager(reads_bars: bool) -> AutomationCondition:
    """Update when an upstream updates, once every upstream is present, idle and checked.
    ``reads_bars``: the asset depends on the price bars, guarded by ``_bars_settled``."""
    bars = AssetSelection.assets(PRICE_BARS)
    condition = (
        AutomationCondition.in_latest_time_window()
        & (
            AutomationCondition.newly_missing() | AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & ~AutomationCondition.any_deps_missing().ignore(bars)
        & ~AutomationCondition.any_deps_in_progress().ignore(bars)
        & AutomationCondition.all_deps_blocking_checks_passed().ignore(bars)
        & ~AutomationCondition.in_progress()
    )
    if reads_bars:
        condition = condition & _bars_settled()
    return condition.with_label("guarded_eager")


def during_market_hours(reads_bars: bool) -> AutomationCondition:
    """``guarded_eager`` while XNYS is in session."""
    return (guarded_eager(reads_bars) & MarketOpen()).with_label(
        "guarded_eager during market hours"
    )


def _keys(*names: str) -> list[AssetKey]:
    return [AssetKey(name.split("/")) for name in names]


FETCHED_IN_SESSION = _keys(
    "market_data/universe",
    "market_data/news",
    "market_data/earnings",
    "market_data/fundamentals",
    "market_data/option_chains",
)
FOLLOW_UPSTREAM = _keys(
    "market_data/technical_indicators",
    "market_data/options_summary",
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
)


def condition_for(key: AssetKey, upstream: set[AssetKey]) -> AutomationCondition | None:
    """The condition an asset carries, given its upstream keys. The roots (the broker
    sync, the price bars) and the timed briefs (morning prep, evening review) have none:
    schedules and sensors start them."""
    reads_bars = PRICE_BARS in upstream
    if key in FETCHED_IN_SESSION:
        return during_market_hours(reads_bars)
    if key in FOLLOW_UPSTREAM:
        return guarded_eager(reads_bars)
    return None


market_automation_sensor = AutomationConditionSensorDefinition(
    name="market_automation_sensor",
    target=AssetSelection.assets(*FETCHED_IN_SESSION, *FOLLOW_UPSTREAM),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    # Evaluated in the code server: MarketOpen is our own condition class.
    use_user_code_server=True,
    # NORMAL: the scheduled briefs and the event runs go first.
    run_tags=AUTOMATION.tags(Priority.NORMAL),
    description=(
        "The conditional mode: assets follow their upstreams once every upstream is "
        "present, idle and passed its blocking checks; provider fetches follow a broker "
        "sync only while XNYS is open."
    ),
)

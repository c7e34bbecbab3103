"""Assets of the ``ai_analysis`` group: the desk's analyses, downstream of portfolio and
market data. Bodies stay thin: read, call ``domain``, return rows with a report."""

import datetime as dt
from enum import Enum
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
)
from pydantic import Field

from robo_dagster.ai_analysis.analysts import Analyst
from robo_dagster.asset_defaults import group_asset, upstream, with_its_asset
from robo_dagster.domain import calendar
from robo_dagster.domain.analysis_models import RECOMMENDATION_COLUMNS, RecommendationRequest
from robo_dagster.domain.analyst import (
    DATASET_SIGNALS,
    build_features,
    recommendation_overview,
    score_signals,
    with_signals_against,
)
from robo_dagster.domain.analyst import strategy_analysis as analyse_strategies
from robo_dagster.domain.formatting import markdown_table
from robo_dagster.domain.market_events import answered_events, event_answers
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL
from robo_dagster.domain.review import (
    assess_risk,
    morning_brief,
    pnl_attribution,
    summarize_scorecard,
)
from robo_dagster.domain.review import (
    evening_review as review_the_day,
)
from robo_dagster.domain.review import (
    recommendation_scorecard as score_recommendations,
)
from robo_dagster.metadata import dashboard_page, markdown_preview, require_rows
from robo_dagster.providers import BrokerProvider, MarketDataProvider
from robo_dagster.tasks.queues import AI_ANALYSIS
from robo_dagster.warehouse import DuckDBWarehouse

GROUP = "ai_analysis"
ai_asset = group_asset(GROUP, owners=["team:quant-research"], queue=AI_ANALYSIS)
HISTORY_TABLE = "ai_analysis.recommendation_history"
EVENT_ANSWERS_TABLE = "ai_analysis.event_answers"
PRICE_BARS = ["market_data", "price_bars"]
INDICATORS = ["market_data", "technical_indicators"]
RECENT_SESSIONS = 30
RISK_SESSIONS = 253


@ai_asset(
    ins={
        "news": upstream("market_data", "news"),
        "earnings": upstream("market_data", "earnings"),
        "fundamentals": upstream("market_data", "fundamentals"),
        "options_summary": upstream("market_data", "options_summary"),
        "universe": upstream("market_data", "universe"),
        "positions": upstream("portfolio", "positions"),
    },
    deps=[INDICATORS],
)
def analysis_features(
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    news: pd.DataFrame,
    earnings: pd.DataFrame,
    fundamentals: pd.DataFrame,
    options_summary: pd.DataFrame,
    universe: pd.DataFrame,
    positions: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """One row per symbol of what every analyst sees: momentum, RSI, MACD, trend against
    the moving averages, news sentiment, the latest earnings surprise, valuation against
    the sector, options put/call ratio and skew, and the book's current weight. A
    dataset the source did not provide (an empty table) is listed in
    ``signals_not_provided``, and the analysts score without its signal."""
    session = market.session()
    indicators = warehouse.recent_rows("market_data.technical_indicators", RECENT_SESSIONS, session)
    datasets = {
        "news": news,
        "earnings": earnings,
        "fundamentals": fundamentals,
        "options_summary": options_summary,
    }
    absent = [DATASET_SIGNALS[name] for name, frame in datasets.items() if frame.empty]
    features = build_features(
        indicators,
        news,
        earnings,
        fundamentals,
        options_summary,
        universe,
        positions,
        session,
        not_provided=absent,
    )
    return Output(
        require_rows(features, "analysis_features"),
        metadata={
            "symbols": len(features),
            "signals_not_provided": MetadataValue.text(", ".join(absent) or "none"),
            "preview": markdown_preview(features, 12),
        },
    )


def _limits(broker: BrokerProvider) -> dict[str, float]:
    return broker.limits().model_dump()


@ai_asset(
    ins={
        "news": upstream("market_data", "news"),
        "earnings": upstream("market_data", "earnings"),
        "universe": upstream("market_data", "universe"),
        "positions": upstream("portfolio", "positions"),
        "portfolio_risk": upstream("portfolio", "portfolio_risk"),
    },
    deps=[PRICE_BARS],
)
def morning_prep(
    market: MarketDataProvider,
    broker: BrokerProvider,
    warehouse: DuckDBWarehouse,
    news: pd.DataFrame,
    earnings: pd.DataFrame,
    universe: pd.DataFrame,
    positions: pd.DataFrame,
    portfolio_risk: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """The pre-market brief: the last session's moves and gaps, high-impact news on held
    and watched symbols with sentiment, upcoming earnings, positions near their limits,
    and what needs action. ``requires_action`` asks for a recommendation refresh."""
    last_close = market.session()
    # The brief prepares the session about to open, from the data of the last close.
    session = calendar.session_on_or_after(last_close + dt.timedelta(days=1))
    bars = warehouse.recent_rows("market_data.price_bars", RECENT_SESSIONS, last_close)
    items, report, requires_action = morning_brief(
        bars, news, earnings, universe, positions, portfolio_risk.iloc[0], _limits(broker), session
    )
    frame = items.assign(session=pd.Timestamp(session), requires_action=requires_action)
    return Output(
        frame,
        metadata={
            "requires_action": requires_action,
            "items": len(frame),
            "report": MetadataValue.md(report),
        },
    )


class RiskTolerance(str, Enum):
    conservative = "conservative"
    moderate = "moderate"
    aggressive = "aggressive"


class RecommendationConfig(Config):
    """The seed's request options for ``POST /ai/recommendations``."""

    risk_tolerance: RiskTolerance = Field(
        RiskTolerance.moderate, description="conservative, moderate or aggressive"
    )
    max_recommendations: int = Field(5, ge=1, le=20, description="How many, 1 to 20.")
    event_ids: list[str] = Field(
        default_factory=list,
        description="The market events this run answers (set by the event sensors).",
    )
    event_symbols: list[str] = Field(
        default_factory=list, description="Each event's symbol, in the order of event_ids."
    )


@ai_asset(
    ins={"analysis_features": upstream(GROUP, "analysis_features")},
    check_specs=[
        AssetCheckSpec(
            "analyst_answered",
            asset=[GROUP, "trade_recommendations"],
            description="The configured analyst answered; fails (WARN) when an LLM failed and the rules stood in.",
            automation_condition=with_its_asset(),
        )
    ],
    metadata=dashboard_page("recommendations"),
)
def trade_recommendations(
    context: AssetExecutionContext,
    config: RecommendationConfig,
    analyst: Analyst,
    broker: BrokerProvider,
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    analysis_features: pd.DataFrame,
):
    """BUY / SELL / HOLD per symbol with target weight, confidence in [0, 1], horizon,
    rationale, the signals for it (``signals``) and those against it
    (``signals_against``), sized within the desk's limits (max
    position weight, cash floor). ``answers_events`` names the market events on the
    symbol that the run answers (an event run's config), "" for none. Since two event
    runs may replace this table one after the other, every event's answer is also kept
    in ``ai_analysis.event_answers``: one row per event, with the run that answered it
    and the recommendation on its symbol (none when the run recommends nothing on it)."""
    request = RecommendationRequest(
        risk_tolerance=RiskTolerance(config.risk_tolerance).value,
        max_recommendations=config.max_recommendations,
    )
    limits = _limits(broker)
    output = analyst.recommend(
        analysis_features,
        request,
        max_position_weight=limits["max_position_weight"],
        cash_floor_pct=limits["cash_floor_pct"],
    )
    session = pd.Timestamp(market.session())
    # An analyst that lists its drivers in one list (an LLM) gets them split for/against.
    frame = with_signals_against(require_rows(output.frame, "trade_recommendations")).assign(
        session=session
    )[RECOMMENDATION_COLUMNS]
    frame = frame.assign(
        answers_events=answered_events(frame["symbol"], config.event_ids, config.event_symbols)
    )
    if config.event_ids:
        answers = event_answers(frame, config.event_ids, config.event_symbols)
        record_event_answers(warehouse, answers.assign(session=session), context.run_id)
    yield Output(
        frame,
        metadata={
            **{k: v for k, v in output.metadata.items() if v is not None},
            "risk_tolerance": request.risk_tolerance,
            "recommendations": len(frame),
            "events_answered": len(config.event_ids),
            "preview": markdown_preview(recommendation_overview(frame), 20),
        },
    )
    yield AssetCheckResult(
        check_name="analyst_answered",
        passed=output.fallback_reason is None,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{output.metadata.get('analyst', 'rules')} answered"
            if output.fallback_reason is None
            else f"the LLM failed, the rule-based analyst stood in: {output.fallback_reason}"
        ),
    )


def record_event_answers(warehouse: DuckDBWarehouse, answers: pd.DataFrame, run_id: str) -> None:
    """Keep each event's answer: a retried run replaces its events' rows, and another
    run's events are left alone."""
    rows = answers.assign(run_id=run_id, answered_at=pd.Timestamp.now(tz="UTC").tz_localize(None))

    def write(conn: Any) -> None:
        conn.execute("create schema if not exists ai_analysis")
        conn.execute(
            f"create table if not exists {EVENT_ANSWERS_TABLE} (event_id varchar, "
            "symbol varchar, action varchar, target_weight double, session timestamp, "
            "run_id varchar, answered_at timestamp)"
        )
        conn.register("answers", rows)
        conn.execute(
            f"delete from {EVENT_ANSWERS_TABLE} where event_id in (select event_id from answers)"
        )
        conn.execute(f"insert into {EVENT_ANSWERS_TABLE} by name select * from answers")

    warehouse.transaction(write, "recording the events' answers")


def record_history(warehouse: DuckDBWarehouse, frame: pd.DataFrame, run_id: str) -> None:
    """Keep every session's recommendations: a re-run of a session replaces its rows.

    Only the scorecard calls this, downstream of the blocking risk-limit check, so a
    recommendation that failed the check never enters the history."""
    history = frame.assign(run_id=run_id, recorded_at=pd.Timestamp.now(tz="UTC").tz_localize(None))

    def write(conn: Any) -> None:
        conn.execute("create schema if not exists ai_analysis")
        conn.register("history", history)
        conn.execute(f"create table if not exists {HISTORY_TABLE} as select * from history limit 0")
        # A history kept before answers_events / signals_against existed gains the
        # column (empty: none).
        conn.execute(
            f"alter table {HISTORY_TABLE} add column if not exists answers_events varchar default ''"
        )
        conn.execute(
            f"alter table {HISTORY_TABLE} add column if not exists signals_against varchar "
            "default '[]'"
        )
        conn.execute(f"delete from {HISTORY_TABLE} where session = ?", [frame["session"].iloc[0]])
        conn.execute(f"insert into {HISTORY_TABLE} by name select * from history")

    warehouse.transaction(write, "recording the recommendation history")


@ai_asset(ins={"analysis_features": upstream(GROUP, "analysis_features")})
def strategy_analysis(analysis_features: pd.DataFrame) -> Output[pd.DataFrame]:
    """What the current signals say per strategy (momentum, mean reversion, value,
    event-driven), and how much the book leans with each."""
    scores = score_signals(analysis_features)
    frame = analyse_strategies(analysis_features, scores)
    return Output(frame, metadata={"preview": markdown_preview(frame, 4)})


@ai_asset(
    ins={
        "positions": upstream("portfolio", "positions"),
        "portfolio_risk": upstream("portfolio", "portfolio_risk"),
    },
    deps=[PRICE_BARS],
)
def risk_assessment(
    market: MarketDataProvider,
    broker: BrokerProvider,
    warehouse: DuckDBWarehouse,
    positions: pd.DataFrame,
    portfolio_risk: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Scenario stress (market -5 % and -10 % through each position's beta, a volatility
    spike, the largest single-name gap), concentration and VaR against its limit, with a
    severity of INFO, WARNING, ERROR or CRITICAL. CRITICAL is the seed's risk breach."""
    symbols = [*positions["symbol"].tolist(), BENCHMARK_SYMBOL]
    bars = warehouse.recent_rows("market_data.price_bars", RISK_SESSIONS, market.session(), symbols)
    scenarios, report, summary = assess_risk(
        positions, bars, portfolio_risk.iloc[0], _limits(broker)
    )
    severity = str(summary["severity"])
    return Output(
        scenarios.assign(severity=severity),
        metadata={"severity": severity, "report": MetadataValue.md(report)},
    )


@ai_asset(
    ins={"trade_recommendations": upstream(GROUP, "trade_recommendations")},
    deps=[PRICE_BARS],
    metadata=dashboard_page("recommendations"),
)
def recommendation_scorecard(
    context: AssetExecutionContext,
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    trade_recommendations: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Every past recommendation joined with the realized return over its horizon: hit
    or miss once matured. The summary (hit rate and average return by action and by
    confidence bucket) is in the metadata and the evening review. The session's
    recommendations join ``ai_analysis.recommendation_history`` here, once they have
    passed the blocking risk-limit check."""
    record_history(warehouse, trade_recommendations, context.run_id)
    past = warehouse.query(f"select * from {HISTORY_TABLE}")
    symbols = sorted(set(past["symbol"]))
    bars = warehouse.query(
        "select date, symbol, open, high, low, close, volume from market_data.price_bars "
        "where symbol in (select unnest(?)) and date >= ? order by symbol, date",
        [symbols, past["session"].min()],
    )
    detail, summary = score_recommendations(past, bars, market.session())
    scored = detail.loc[detail["matured"], "hit"].astype(float)
    return Output(
        require_rows(detail, "recommendation_scorecard"),
        metadata={
            "recommendations": len(detail),
            "matured": int(detail["matured"].sum()),
            # A number on every materialization, so the UI plots the hit rate over time.
            "hit_rate": MetadataValue.float(float(scored.mean()))
            if len(scored)
            else MetadataValue.text("n/a: nothing matured yet"),
            "summary": markdown_preview(summary, 20, floatfmt=".3f"),
        },
    )


@ai_asset(
    ins={
        "positions": upstream("portfolio", "positions"),
        "portfolio_pnl": upstream("portfolio", "portfolio_pnl"),
        "universe": upstream("market_data", "universe"),
        "morning_prep": upstream(GROUP, "morning_prep"),
        "recommendation_scorecard": upstream(GROUP, "recommendation_scorecard"),
    },
    deps=[PRICE_BARS],
)
def evening_review(
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    positions: pd.DataFrame,
    portfolio_pnl: pd.DataFrame,
    universe: pd.DataFrame,
    morning_prep: pd.DataFrame,
    recommendation_scorecard: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """The end-of-day review: realized and unrealized P&L with attribution per position
    and sector, the book's return against the market, what changed since the morning,
    and the recommendation scorecard."""
    session = market.session()
    bars = warehouse.recent_rows("market_data.price_bars", RECENT_SESSIONS, session)
    # Only this session's own brief is "the morning": a brief written after the close is
    # already about the next session.
    this_morning = morning_prep[pd.to_datetime(morning_prep["session"]) == pd.Timestamp(session)]
    rows, report = review_the_day(
        positions, portfolio_pnl.iloc[0], bars, universe, this_morning, session
    )
    by_position, by_sector = pnl_attribution(positions, universe)
    summary = summarize_scorecard(recommendation_scorecard)
    report = "\n\n".join(
        [
            report,
            "## P&L by sector",
            markdown_table(by_sector),
            "## Recommendation scorecard",
            markdown_table(summary, empty="_no matured recommendation yet_"),
        ]
    )
    return Output(
        rows.assign(session=pd.Timestamp(session)),
        metadata={"report": MetadataValue.md(report), "positions": len(by_position)},
    )

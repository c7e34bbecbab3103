"""The desk dashboard's reads: plain functions that return pandas frames.

Every read goes through ``warehouse.query``: one short connection per query, under the
pipeline's file lock, closed at once, so the dashboard never holds the file while a run
writes (it waits its turn instead). A database file that does not exist is never
created by a read, and a table that has not been materialized raises ``NotMaterialized``,
which the pages show as "nothing materialized yet" for that section alone.

No Streamlit here: the app caches these functions; tests call them directly.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from robo_dagster import settings
from robo_dagster.domain.review.scorecard import SCORECARD_SUMMARY_COLUMNS, summarize_scorecard
from robo_dagster.warehouse import query
from robo_dagster.warehouse.connection import warehouse_exists

NOTHING_MATERIALIZED = "nothing materialized yet: run `make pipeline`"
# DuckDB's words for a table that is not there: 'Table with name x does not exist' or
# 'Table with name "schema.x" does not exist because schema "schema" does not exist'.
_MISSING_TABLE = re.compile(r'Table with name "?([\w.]+?)"? does not exist')


class NotMaterialized(LookupError):
    """A table the dashboard reads does not exist yet (or the database file does not)."""

    def __init__(self, table: str, database: str, missing_database: bool = False) -> None:
        self.table = table
        self.database = database
        self.missing_database = missing_database
        where = f"no database at {database}" if missing_database else f"no table {table} yet"
        super().__init__(f"{table}: {NOTHING_MATERIALIZED} ({where})")


def database_exists(database: str) -> bool:
    """Whether the warehouse is there: a read must not create an empty DuckDB file."""
    return warehouse_exists(database)


def read_table(
    table: str, database: str, sql: str | None = None, params: list[Any] | None = None
) -> pd.DataFrame:
    """``sql`` (default: the whole of ``table``) through ``warehouse.query``;
    ``NotMaterialized`` when the file or the table does not exist."""
    if not database_exists(database):
        raise NotMaterialized(table, database, missing_database=True)
    try:
        return query(sql or f"select * from {table}", params, database)
    except duckdb.CatalogException as exc:
        # Only a missing table (or its schema) is "not materialized"; any other catalog
        # error (a missing function, say) is a real mismatch and must surface.
        found = _MISSING_TABLE.search(str(exc))
        if found is None:
            raise
        name = found.group(1)
        raise NotMaterialized(table if table.endswith(name) else name, database) from exc


# ---------------------------------------------------------------------------- book
def read_positions(database: str) -> pd.DataFrame:
    """The book's positions, largest weight first: weight, P&L today and since entry."""
    return read_table(
        "portfolio.positions",
        database,
        "select symbol, sector, quantity, average_cost, last_price, market_value, weight, "
        "daily_pnl, unrealized_pnl, unrealized_pnl_pct, realized_pnl, opened_on, price_date "
        "from portfolio.positions order by abs(weight) desc, symbol",
    )


def read_account(database: str) -> pd.DataFrame:
    """The account's latest balances (one row): cash, equity, buying power."""
    return read_table(
        "portfolio.account_balances",
        database,
        "select * from portfolio.account_balances order by as_of desc limit 1",
    )


def read_pnl(database: str) -> pd.DataFrame:
    """The latest P&L summary (one row): today's, realized, unrealized."""
    return read_table(
        "portfolio.portfolio_pnl",
        database,
        "select * from portfolio.portfolio_pnl order by as_of desc limit 1",
    )


def read_equity_history(database: str) -> pd.DataFrame:
    """One row per session: equity, cash, returns, drawdown and SPY's cumulative return."""
    return read_table(
        "portfolio.equity_history",
        database,
        "select * from portfolio.equity_history order by date",
    )


def read_pnl_history(database: str) -> pd.DataFrame:
    """Per session and position: day P&L, total P&L and contribution."""
    return read_table(
        "portfolio.pnl_history",
        database,
        "select * from portfolio.pnl_history order by date, symbol",
    )


def latest_contributions(pnl_history: pd.DataFrame) -> pd.DataFrame:
    """The latest session's rows of ``pnl_history``, largest contribution first."""
    if pnl_history.empty:
        return pnl_history
    latest = pnl_history[pnl_history["date"] == pnl_history["date"].max()]
    order = latest["contribution"].abs().sort_values(ascending=False).index
    return latest.loc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------- risk
def read_risk(database: str) -> pd.DataFrame:
    """Today's risk figures (one row): VaR, ES, exposures, beta, largest position/sector."""
    return read_table(
        "portfolio.portfolio_risk",
        database,
        "select * from portfolio.portfolio_risk order by as_of desc limit 1",
    )


def read_risk_history(database: str) -> pd.DataFrame:
    """One row per session: VaR against its limit, exposures, largest position and sector."""
    return read_table(
        "portfolio.risk_history",
        database,
        "select * from portfolio.risk_history order by date",
    )


def read_sector_exposure(database: str) -> pd.DataFrame:
    """Each sector's market value and weight, largest first."""
    return read_table(
        "portfolio.sector_exposure",
        database,
        "select * from portfolio.sector_exposure order by abs(weight) desc, sector",
    )


def read_stress_scenarios(database: str) -> pd.DataFrame:
    """The risk assessment's stress scenarios: each one's loss in money and in % of
    equity, how it was computed, and the assessment's severity."""
    return read_table(
        "ai_analysis.risk_assessment",
        database,
        "select scenario, loss, loss_pct, detail, severity from ai_analysis.risk_assessment "
        "order by loss_pct desc nulls last, scenario",
    )


def desk_limits() -> dict[str, float]:
    """The desk's risk limits, from where the broker takes them: the paper broker's
    portfolio file (``ROBO_PORTFOLIO_FILE``), or ``ROBO_RISK_LIMITS`` for Alpaca."""
    from pydantic import ValidationError

    from robo_dagster.providers.broker import PortfolioFile

    if settings.broker_kind() != "paper":
        return settings.risk_limits()
    path = Path(settings.portfolio_file()).expanduser()
    try:
        return PortfolioFile.model_validate_json(path.read_text()).limits.model_dump()
    except FileNotFoundError:
        raise ValueError(f"portfolio file {path} does not exist (ROBO_PORTFOLIO_FILE)") from None
    except ValidationError as exc:
        raise ValueError(f"portfolio file {path} is malformed: {exc}") from None


# ---------------------------------------------------------------------------- recommendations
RECOMMENDATION_COLUMNS = (
    "symbol, action, current_weight, target_weight, confidence, horizon_days, score, "
    "rationale, signals, source, model, session"
)


def read_recommendations(database: str) -> pd.DataFrame:
    """The latest recommendations, strongest score first (every stored column: newer
    tables keep the signals against each call apart, in ``signals_against``)."""
    return read_table(
        "ai_analysis.trade_recommendations",
        database,
        "select * from ai_analysis.trade_recommendations order by abs(score) desc, symbol",
    )


def read_recommendation_history(database: str, symbol: str | None = None) -> pd.DataFrame:
    """Every recorded recommendation (one symbol's, with ``symbol``), oldest first."""
    where, params = ("where symbol = ?", [symbol]) if symbol else ("", [])
    return read_table(
        "ai_analysis.recommendation_history",
        database,
        f"select {RECOMMENDATION_COLUMNS}, run_id, recorded_at "
        f"from ai_analysis.recommendation_history {where} order by session, symbol",
        params,
    )


def read_scorecard(database: str, symbol: str | None = None) -> pd.DataFrame:
    """How past recommendations turned out (one symbol's, with ``symbol``), oldest first."""
    where, params = ("where symbol = ?", [symbol]) if symbol else ("", [])
    return read_table(
        "ai_analysis.recommendation_scorecard",
        database,
        "select symbol, action, confidence, target_weight, horizon_days, session, run_id, "
        "entry_date, "
        "exit_date, entry_close, exit_close, realized_return, matured, hit "
        f"from ai_analysis.recommendation_scorecard {where} order by session, symbol",
        params,
    )


SIGNAL_COLUMNS = ["symbol", "action", "signal", "value", "side"]


def parse_signals(raw: Any) -> list[tuple[str, float]]:
    """A recommendation's ``signals`` (a JSON list such as ``["momentum +0.62",
    "news -0.40"]``) as (name, value) pairs; a malformed entry raises, naming it."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return []
    items = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise ValueError(f"signals {raw!r} is not a JSON list")
    pairs: list[tuple[str, float]] = []
    for item in items:
        name, _, value = str(item).rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"signal {item!r} is not of the form 'name +0.62'") from None
        if not name or not math.isfinite(number):
            raise ValueError(f"signal {item!r} is not of the form 'name +0.62'")
        pairs.append((name, number))
    return pairs


def _direction(action: str, score: float) -> float:
    """+1 when the action points up, -1 down: a HOLD points the way its score does, and
    nowhere (0) when its score is 0 or unknown."""
    if action == "BUY":
        return 1.0
    if action == "SELL":
        return -1.0
    return float(np.sign(score)) if math.isfinite(score) else 0.0


def signals_for_and_against(recommendations: pd.DataFrame) -> pd.DataFrame:
    """One row per recommendation and signal, strongest first within each: ``side`` is
    "for" when the signal pushes the way the action points (up for a BUY, down for a
    SELL, the score's way for a HOLD) and "against" when it pushes the other way.

    Rows that store their ``signals_against`` apart keep the analyst's split; a single
    ``signals`` list is split by each signal's sign (a signal of a HOLD that points
    nowhere counts for it)."""
    apart = "signals_against" in recommendations.columns
    rows = []
    for rec in recommendations.to_dict("records"):
        direction = _direction(str(rec["action"]), float(rec["score"]))
        # With a stored split, the analyst said which side each signal is on.
        tagged: list[tuple[str, float, str | None]] = [
            (name, value, "for" if apart else None) for name, value in parse_signals(rec["signals"])
        ]
        if apart:
            tagged.extend(
                (name, value, "against") for name, value in parse_signals(rec["signals_against"])
            )
        for name, value, side in tagged:
            if side is None:
                side = "against" if value * direction < 0 else "for"
            rows.append((rec["symbol"], rec["action"], name, value, side))
    frame = pd.DataFrame(rows, columns=SIGNAL_COLUMNS)
    order = frame["value"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].sort_values("symbol", kind="stable").reset_index(drop=True)


def signal_summary(signals: pd.DataFrame) -> pd.DataFrame:
    """Per symbol, the signals for and against as text: "news +0.87, macd +0.73"."""

    def joined(side: str) -> pd.Series:
        chosen = signals[signals["side"] == side]
        return chosen.groupby("symbol")[["signal", "value"]].apply(
            lambda f: ", ".join(
                f"{n} {v:+.2f}" for n, v in zip(f["signal"], f["value"], strict=True)
            )
        )

    if signals.empty:
        return pd.DataFrame(columns=["symbol", "signals_for", "signals_against"])
    summary = pd.DataFrame({"signals_for": joined("for"), "signals_against": joined("against")})
    return summary.fillna("").rename_axis("symbol").reset_index()


SCORECARD_OVER_TIME_COLUMNS = ["session", *SCORECARD_SUMMARY_COLUMNS]


def scorecard_over_time(scorecard: pd.DataFrame) -> pd.DataFrame:
    """The scorecard's summary (hit rate and average return by action and by confidence
    bucket, as the domain computes it) for each session's recommendations."""
    if scorecard.empty:
        return pd.DataFrame(columns=SCORECARD_OVER_TIME_COLUMNS)
    frames = [
        summarize_scorecard(group.reset_index(drop=True)).assign(session=session)
        for session, group in scorecard.groupby("session", sort=True)
    ]
    return pd.concat(frames, ignore_index=True)[SCORECARD_OVER_TIME_COLUMNS]


# ---------------------------------------------------------------------------- market
def read_universe(database: str) -> pd.DataFrame:
    """The symbols the desk watches: name, sector, held, benchmark; held ones first."""
    return read_table(
        "market_data.universe",
        database,
        "select symbol, name, sector, is_held, is_benchmark from market_data.universe "
        "order by is_held desc, is_benchmark, symbol",
    )


def read_price_history(database: str, symbol: str, sessions: int = 260) -> pd.DataFrame:
    """One symbol's daily bars with their indicators, the latest ``sessions`` of them."""
    if sessions < 1:
        raise ValueError(f"sessions={sessions} must be at least 1")
    for table in ("market_data.price_bars", "market_data.technical_indicators"):
        read_table(table, database, f"select 1 from {table} limit 0")
    return read_table(
        "market_data.price_bars",
        database,
        "select * from (select b.date, b.open, b.high, b.low, b.close, b.volume, "
        "t.sma_20, t.sma_50, t.sma_200, t.bb_upper, t.bb_middle, t.bb_lower, t.rsi_14, "
        "t.macd, t.macd_signal, t.macd_hist "
        "from market_data.price_bars b left join market_data.technical_indicators t "
        "on t.symbol = b.symbol and t.date = b.date "
        "where b.symbol = ? order by b.date desc limit ?) order by date",
        [symbol, sessions],
    )


def read_news(database: str, symbol: str, limit: int = 50) -> pd.DataFrame:
    """One symbol's latest headlines with their sentiment and impact, newest first."""
    return read_table(
        "market_data.news",
        database,
        "select published_at, headline, source, impact, sentiment, sentiment_label "
        "from market_data.news where symbol = ? order by published_at desc limit ?",
        [symbol, limit],
    )


def read_earnings(database: str, symbol: str) -> pd.DataFrame:
    """One symbol's earnings dates, reported and scheduled, latest first."""
    return read_table(
        "market_data.earnings",
        database,
        "select report_date, fiscal_quarter, timing, status, eps_estimate, eps_actual, "
        "surprise_pct from market_data.earnings where symbol = ? order by report_date desc",
        [symbol],
    )


def next_earnings(earnings: pd.DataFrame) -> pd.Series | None:
    """The earliest earnings report not yet reported, or None."""
    if earnings.empty:
        return None
    upcoming = earnings[earnings["status"] != "reported"].sort_values("report_date")
    return None if upcoming.empty else upcoming.iloc[0]


# ---------------------------------------------------------------------------- alerts
ALERT_COLUMNS = (
    "id, severity, fingerprint, message, source, asset, check_name, run_id, first_seen, "
    "last_seen, resolved_at"
)


def read_open_alerts(database: str) -> pd.DataFrame:
    """The open alerts, worst first, then the most recently seen."""
    from robo_dagster.monitoring.alerts import TABLE, severity_rank_sql

    return read_table(
        TABLE,
        database,
        f"select {ALERT_COLUMNS} from {TABLE} where resolved_at is null "
        f"order by {severity_rank_sql('severity')} desc, last_seen desc, id",
    )


def read_alert_history(database: str, limit: int = 500) -> pd.DataFrame:
    """Every alert episode, open or resolved, newest first (at most ``limit``)."""
    from robo_dagster.monitoring.alerts import TABLE

    return read_table(
        TABLE,
        database,
        f"select {ALERT_COLUMNS} from {TABLE} order by last_seen desc, id desc limit ?",
        [limit],
    )


def alerts_per_day(history: pd.DataFrame) -> pd.DataFrame:
    """How many alert episodes began each day, by severity (UTC days)."""
    if history.empty:
        return pd.DataFrame(columns=["day", "severity", "alerts"])
    days = pd.to_datetime(history["first_seen"]).dt.floor("D")
    counted = history.assign(day=days).groupby(["day", "severity"], as_index=False).size()
    return counted.rename(columns={"size": "alerts"}).astype({"alerts": np.int64})

"""The desk's reviews: morning brief, risk assessment, evening review and scorecard.

These back the AI-analysis assets. They are rules over the tables the pipeline already
stores (bars, news, earnings, positions, risk, P&L, past recommendations), so an LLM or
the rule-based analyst reads the same facts a person reads in the UI. Every figure is
computed over all symbols at once (pivots, group-bys, merges); Python only loops to
format text.

Conventions shared by every function here:

- Returns and weights are fractions (0.05 = 5 %), except ``contribution_pct``, which is
  a share of the book's daily P&L in percent (the contributions sum to 100).
- Losses are positive numbers, as VaR is.
- Severities are the seed's alert levels, ``SEVERITIES``, lowest first.
- ``session`` arguments are dates; bar and news timestamps are naive (news in UTC).

Limit severities (``assess_risk`` and the morning brief's ``limit`` rows share them):

========================  ===========================  ==================  ==========
what                      CRITICAL                     ERROR               WARNING
========================  ===========================  ==================  ==========
VaR 95 % 1-day (% eq.)    > limit                      > 0.9 x limit       >= 0.8 x
position weight           > 1.2 x limit                > limit             >= 0.8 x
sector weight             > 1.2 x limit                > limit             >= 0.8 x
gross exposure            (none)                       > limit             >= 0.8 x
cash                      (none)                       (none)              < floor
========================  ===========================  ==================  ==========

``assess_risk`` adds one book-level CRITICAL rule: a market -10 % scenario losing more
than 4 x the VaR limit. The book is INFO when no rule fires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from robo_dagster.domain import calendar
from robo_dagster.domain.analysis_models import RECOMMENDATION_COLUMNS
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL
from robo_dagster.domain.portfolio import UNKNOWN_SECTOR
from robo_dagster.domain.sentiment import NEGATIVE_THRESHOLD

HIGH_IMPACT = 0.7
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")

# The seed escalated news "with impact > 0.8 and negative sentiment or high volatility"
# to an immediate (CRITICAL) analysis; 0.7 only queued one.
CRITICAL_IMPACT = 0.8
# A move is "large" beyond 2 daily standard deviations: about 1 session in 20 by chance,
# so the brief flags surprises, not noise.
LARGE_MOVE_SIGMAS = 2.0
VOL_WINDOW = 20
# Fewer returns than this give a standard deviation too noisy to call anything large.
MIN_VOL_OBSERVATIONS = 10
EARNINGS_HORIZON_SESSIONS = 5
EARNINGS_ACTION_SESSIONS = 1
NEAR_LIMIT = 0.8
VAR_ERROR_FRACTION = 0.9
HARD_BREACH = 1.2
MARKET_CRASH_VAR_MULTIPLE = 4.0
BETA_WINDOW_SESSIONS = 252
# The same floor as ``risk.beta_to``: below it a beta is mostly noise.
MIN_BETA_OBSERVATIONS = 20
VOL_SPIKE_MULTIPLIER = 2.0
# A HOLD is right when the name went nowhere: within +-2 % over the horizon, which is
# about one daily standard deviation of a large-cap stock, i.e. "no trade was needed".
HOLD_BAND = 0.02
TOP_MOVERS = 3

MARKET_SHOCKS: tuple[tuple[str, float], ...] = (("market -5%", -0.05), ("market -10%", -0.10))
SCENARIOS = ("market -5%", "market -10%", "volatility spike", "largest single-name gap")
ACTIONS = ("BUY", "SELL", "HOLD")
CONFIDENCE_BUCKETS = ("<0.5", "0.5-0.7", ">=0.7")

BRIEF_COLUMNS = ["section", "symbol", "detail", "value", "severity"]
SCENARIO_COLUMNS = ["scenario", "loss", "loss_pct", "detail"]
REVIEW_COLUMNS = ["section", "item", "symbol", "value", "detail"]
ATTRIBUTION_COLUMNS = ["symbol", "sector", "daily_pnl", "unrealized_pnl", "contribution_pct"]
SECTOR_ATTRIBUTION_COLUMNS = [
    "sector",
    "positions",
    "daily_pnl",
    "unrealized_pnl",
    "contribution_pct",
]
# What the scorecard needs of a stored recommendation (not the free text).
RECOMMENDATION_INPUT_COLUMNS = [
    c for c in RECOMMENDATION_COLUMNS if c not in ("rationale", "signals", "model")
]
SCORECARD_COLUMNS = [
    "entry_date",
    "exit_date",
    "entry_close",
    "exit_close",
    "realized_return",
    "matured",
    "hit",
]
SCORECARD_SUMMARY_COLUMNS = ["group_type", "group", "count", "matured", "hit_rate", "avg_return"]
RECONCILED_ITEMS = ("daily_pnl", "unrealized_pnl", "realized_pnl")
RECONCILE_TOLERANCE = 1e-6

_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

SessionLike: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp


# ---------------------------------------------------------------------------- helpers
def _day(value: SessionLike) -> pd.Timestamp:
    """A session-like value as a naive midnight Timestamp."""
    return pd.Timestamp(calendar.to_date(pd.Timestamp(value)))


def _dates(values: pd.Series) -> pd.Series:
    """Dates as naive datetime64[ns] days, whatever unit or type the warehouse returned
    (DuckDB hands back microseconds; merges need one dtype on both sides)."""
    return pd.to_datetime(values).dt.normalize().astype("datetime64[ns]")


def _utc_naive(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC, so tz-aware and naive feeds compare alike."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.astype("datetime64[ns]")


def _record(table: pd.DataFrame | pd.Series | Mapping[str, Any]) -> dict[str, Any]:
    """A one-row table (the stored ``portfolio_risk`` / ``portfolio_pnl``) as a dict."""
    if isinstance(table, pd.DataFrame):
        if table.empty:
            raise ValueError("expected a one-row table, got no rows")
        return dict(table.iloc[0].to_dict())
    if isinstance(table, pd.Series):
        return dict(table.to_dict())
    return dict(table)


def _float(record: Mapping[str, Any], key: str) -> float:
    """``record[key]`` as a float; NaN when it is absent or null."""
    value = record.get(key)
    return float(value) if value is not None and pd.notna(value) else float("nan")


def _fmt(values: pd.Series, spec: str, na: str = "n/a") -> pd.Series:
    """Each value formatted with ``spec`` (``na`` for missing), as strings."""
    return values.map(lambda v: na if pd.isna(v) else format(v, spec)).astype(object)


def _max_severity(severities: pd.Series | list[str], floor: str = "INFO") -> str:
    """The most severe level among ``severities`` (``floor`` when there are none)."""
    ranks = [_RANK[floor], *(_RANK[str(s)] for s in severities)]
    return SEVERITIES[max(ranks)]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _with_prev_close(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars sorted per symbol with the previous close in the symbol's own session
    sequence, so a symbol that missed a session is compared with its last real bar."""
    out = bars.assign(date=_dates(bars["date"])).drop_duplicates(["symbol", "date"], keep="last")
    out = out.sort_values(["symbol", "date"], ignore_index=True)
    out["prev_close"] = out.groupby("symbol", sort=False)["close"].shift(1)
    return out


def _sessions_from(start: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """``count`` sessions from ``start`` (itself included when it is a session)."""
    try:
        sessions = calendar.session_index(
            start.date(), (start + pd.Timedelta(days=3 * count + 10)).date()
        )
    except ValueError:  # past the calendar's horizon: weekdays are the best guess left
        sessions = pd.DatetimeIndex([])
    if len(sessions) < count:
        sessions = pd.bdate_range(start, periods=count)
    return pd.DatetimeIndex(sessions[:count])


def _watch_flags(universe: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """The symbols a brief covers (held or watched; the benchmark only when held) with
    a ``held`` flag. The seed's own symbols count as watched."""
    held = pd.Index(positions["symbol"].astype(str).unique())
    watched_mask = (
        universe["is_seed_symbol"].astype(bool) | universe["on_watchlist"].astype(bool)
    ) & ~universe["is_benchmark"].astype(bool)
    watched = pd.Index(universe.loc[watched_mask, "symbol"].astype(str))
    symbols = held.union(watched)
    return pd.DataFrame({"symbol": symbols, "held": symbols.isin(held)})


def limit_checks(
    positions: pd.DataFrame, risk: pd.DataFrame | Mapping[str, Any], limits: Mapping[str, float]
) -> pd.DataFrame:
    """Every limit that is near (>= 80 %) or past its threshold, most severe first.

    Columns: kind ('var' | 'position' | 'sector' | 'gross' | 'cash'), symbol (the
    position's, "" for book-level limits), name (symbol or sector), value, limit,
    severity, detail. The thresholds are in the module docstring. ``gross`` and
    ``cash`` are checked only when ``limits`` carries ``max_gross_exposure`` /
    ``cash_floor_pct``.
    """
    record = _record(risk)
    equity = _float(record, "equity")
    frames: list[pd.DataFrame] = []

    var_pct, var_limit = _float(record, "var_95_1d_pct"), float(limits["var_95_limit_pct"])
    var_ratio = var_pct / var_limit
    frames.append(
        pd.DataFrame(
            {
                "kind": ["var"],
                "symbol": [""],
                "name": ["VaR 95 % 1-day"],
                "value": [var_pct],
                "limit": [var_limit],
                "severity": [
                    "CRITICAL"
                    if var_ratio > 1
                    else "ERROR"
                    if var_ratio > VAR_ERROR_FRACTION
                    else "WARNING"
                    if var_ratio >= NEAR_LIMIT
                    else "INFO"
                ],
            }
        )
    )

    weights = positions.assign(weight=positions["weight"].astype(float).abs())
    # A position whose source gives no sector is in no sector: it is not judged
    # against the sector limit (portfolio_risk reports its weight apart).
    known = positions[positions["sector"].notna() & (positions["sector"] != UNKNOWN_SECTOR)]
    sectors = (
        known.groupby("sector", as_index=False)["weight"]
        .sum()
        .assign(weight=lambda f: f["weight"].abs())
    )
    for kind, names, values, limit in (
        ("position", weights["symbol"], weights["weight"], float(limits["max_position_weight"])),
        ("sector", sectors["sector"], sectors["weight"], float(limits["max_sector_weight"])),
    ):
        ratio = values.to_numpy(dtype=float) / limit
        frames.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "symbol": names.to_numpy() if kind == "position" else "",
                    "name": names.to_numpy(),
                    "value": values.to_numpy(dtype=float),
                    "limit": limit,
                    "severity": np.select(
                        [ratio > HARD_BREACH, ratio > 1, ratio >= NEAR_LIMIT],
                        ["CRITICAL", "ERROR", "WARNING"],
                        default="INFO",
                    ),
                }
            )
        )

    if "max_gross_exposure" in limits:
        gross, gross_limit = _float(record, "gross_exposure"), float(limits["max_gross_exposure"])
        ratio = gross / gross_limit
        gross_severity = "ERROR" if ratio > 1 else "WARNING" if ratio >= NEAR_LIMIT else "INFO"
        frames.append(
            pd.DataFrame(
                {
                    "kind": ["gross"],
                    "symbol": [""],
                    "name": ["gross exposure"],
                    "value": [gross],
                    "limit": [gross_limit],
                    "severity": [gross_severity],
                }
            )
        )
    if "cash_floor_pct" in limits and equity > 0:
        # Weights are shares of cash + market value, so cash is what the weights leave.
        cash_pct = 1.0 - float(positions["market_value"].astype(float).sum()) / equity
        floor = float(limits["cash_floor_pct"])
        frames.append(
            pd.DataFrame(
                {
                    "kind": ["cash"],
                    "symbol": [""],
                    "name": ["cash"],
                    "value": [cash_pct],
                    "limit": [floor],
                    "severity": ["WARNING" if cash_pct < floor else "INFO"],
                }
            )
        )

    checks = pd.concat(frames, ignore_index=True)
    checks = checks[checks["severity"] != "INFO"].copy()
    is_floor = checks["kind"] == "cash"
    label = checks["kind"].map(
        {"var": "", "position": "position ", "sector": "sector ", "gross": "", "cash": ""}
    )
    checks["detail"] = (
        label
        + checks["name"].astype(str)
        + " at "
        + _fmt(checks["value"], ".1%")
        + np.where(is_floor, " of equity, below its floor of ", " of equity vs its limit of ")
        + _fmt(checks["limit"], ".1%")
        + " ("
        + checks["severity"]
        + ")"
    )
    rank = checks["severity"].map(_RANK)
    return (
        checks.assign(_rank=rank)
        .sort_values(["_rank", "value"], ascending=[False, False])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def _md_table(frame: pd.DataFrame) -> str:
    # The cells are formatted already; tabulate would re-parse "+1,234.50" as a number.
    return "_none_" if frame.empty else str(frame.to_markdown(index=False, disable_numparse=True))


def _md_bullets(lines: pd.Series) -> str:
    return "_none_" if lines.empty else "\n".join("- " + lines.astype(str))


# ---------------------------------------------------------------------------- morning brief
def _last_moves(
    bars: pd.DataFrame, focus: pd.DataFrame, session: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """Last session's move and overnight gap per focus symbol, with the realized daily
    vol of the ``VOL_WINDOW`` returns before it."""
    recent = bars[bars["symbol"].isin(focus["symbol"])].assign(date=lambda f: _dates(f["date"]))
    recent = recent[recent["date"] < session].drop_duplicates(["symbol", "date"], keep="last")
    if recent.empty:
        empty = {c: pd.Series(dtype=float) for c in ("close", "prev_close", "move", "gap", "vol")}
        return focus.head(0).assign(**empty, sigmas=pd.Series(dtype=float)), None
    closes = recent.pivot(index="date", columns="symbol", values="close").sort_index()
    opens = recent.pivot(index="date", columns="symbol", values="open").reindex_like(closes)
    returns = closes / closes.shift(1) - 1.0
    # The vol excludes the move itself: a shock must not widen its own yardstick.
    window = returns.iloc[-(VOL_WINDOW + 1) : -1]
    vol = window.std(ddof=1).where(window.count() >= MIN_VOL_OBSERVATIONS)
    prev_close = closes.shift(1).iloc[-1]
    moves = pd.DataFrame(
        {
            "close": closes.iloc[-1],
            "prev_close": prev_close,
            "move": returns.iloc[-1],
            "gap": opens.iloc[-1] / prev_close - 1.0,
            "vol": vol,
        }
    )
    moves["sigmas"] = moves["move"].abs() / moves["vol"]
    moves = focus.merge(moves, left_on="symbol", right_index=True, how="inner")
    return moves.dropna(subset=["move"]).reset_index(drop=True), pd.Timestamp(closes.index[-1])


def morning_brief(
    bars: pd.DataFrame,
    news: pd.DataFrame,
    earnings: pd.DataFrame,
    universe: pd.DataFrame,
    positions: pd.DataFrame,
    risk: pd.DataFrame | Mapping[str, Any],
    limits: Mapping[str, float],
    session: SessionLike,
) -> tuple[pd.DataFrame, str, bool]:
    """The pre-market brief for ``session`` (the session about to open).

    Today's opening gap is unknown before the bell, so the brief reports the *last*
    session (the latest bar before ``session``): its close-to-close move and its
    overnight gap (open vs prior close), for held and watched symbols. A move beyond
    ``LARGE_MOVE_SIGMAS`` x the realized daily vol of the 20 sessions before it is large.

    Rows (``BRIEF_COLUMNS``: section, symbol, detail, value, severity):

    - ``move`` / ``gap``: value is the return; WARNING for a large move on a held name.
    - ``news``: headlines with impact >= ``HIGH_IMPACT`` on held or watched names,
      published from the last session's date to the end of ``session``'s (naive UTC);
      value is the sentiment. CRITICAL on a held name when impact > 0.8 and the
      sentiment is negative or the name made a large move (the seed's rule), else
      WARNING when held, INFO when only watched.
    - ``earnings``: reports from ``session`` to 5 sessions after it, plus reports after
      the last session's close (AMC), whose reaction is today's open; value is sessions
      until the report (0 for today or last night). WARNING when held and within 1.
    - ``limit``: limits near or past their threshold (``limit_checks``).
    - ``action``: one row per name (or "" for the book) that needs its recommendation
      refreshed; detail lists why, value counts the reasons.

    ``requires_action`` is True when any action is WARNING or worse, which is the case
    exactly for high-impact news, a large move or earnings within 1 session on a held
    name, or any limit near or past its threshold. Triggers on names that are only
    watched still get an (INFO) action row: the analyst may want to buy them.
    """
    day = _day(session)
    focus = _watch_flags(universe, positions)
    focus = focus.assign(role=np.where(focus["held"], "held", "watched"))

    # Moves and gaps of the last session.
    moves, last_session = _last_moves(bars, focus, day)
    moves["large"] = moves["sigmas"] > LARGE_MOVE_SIGMAS
    last_label = "" if last_session is None else str(last_session.date())
    move_rows = pd.DataFrame(
        {
            "section": "move",
            "symbol": moves["symbol"],
            "detail": moves["symbol"]
            + " ("
            + moves["role"]
            + ") moved "
            + _fmt(moves["move"], "+.2%")
            + " on "
            + last_label
            + " ("
            + _fmt(moves["prev_close"], ",.2f")
            + " -> "
            + _fmt(moves["close"], ",.2f")
            + "), "
            + _fmt(moves["sigmas"], ".1f")
            + " x its daily vol of "
            + _fmt(moves["vol"], ".2%")
            + np.where(moves["large"], ": LARGE MOVE", ""),
            "value": moves["move"],
            "severity": np.where(moves["large"] & moves["held"], "WARNING", "INFO"),
        }
    )
    gap_large = (moves["gap"].abs() > LARGE_MOVE_SIGMAS * moves["vol"]).to_numpy()
    gap_rows = pd.DataFrame(
        {
            "section": "gap",
            "symbol": moves["symbol"],
            "detail": moves["symbol"]
            + " ("
            + moves["role"]
            + ") opened "
            + _fmt(moves["gap"], "+.2%")
            + " vs its prior close on "
            + last_label
            + np.where(gap_large, ": LARGE GAP", ""),
            "value": moves["gap"],
            "severity": np.where(gap_large & moves["held"].to_numpy(), "WARNING", "INFO"),
        }
    )

    # High-impact news since the last session.
    window_start = last_session if last_session is not None else day - pd.Timedelta(days=1)
    stamps = _utc_naive(news["published_at"]) if len(news) else pd.Series(dtype="datetime64[ns]")
    recent_news = news[
        (stamps >= window_start).to_numpy()
        & (stamps < day + pd.Timedelta(days=1)).to_numpy()
        & (news["impact"].astype(float) >= HIGH_IMPACT).to_numpy()
    ].merge(focus, on="symbol", how="inner")
    recent_news = recent_news.merge(moves[["symbol", "large"]], on="symbol", how="left")
    recent_news["large"] = recent_news["large"].eq(True)
    negative = recent_news["sentiment"].astype(float) <= NEGATIVE_THRESHOLD
    critical = (
        recent_news["held"]
        & (recent_news["impact"].astype(float) > CRITICAL_IMPACT)
        & (negative | recent_news["large"])
    )
    recent_news = recent_news.assign(
        severity=np.select([critical, recent_news["held"]], ["CRITICAL", "WARNING"], default="INFO")
    ).sort_values(["impact", "published_at"], ascending=[False, False], ignore_index=True)
    news_rows = pd.DataFrame(
        {
            "section": "news",
            "symbol": recent_news["symbol"],
            "detail": recent_news["symbol"]
            + " ("
            + recent_news["role"]
            + '): "'
            + recent_news["headline"].astype(str)
            + '" ('
            + recent_news["source"].astype(str)
            + "), impact "
            + _fmt(recent_news["impact"], ".2f")
            + ", sentiment "
            + _fmt(recent_news["sentiment"], "+.2f")
            + " "
            + recent_news["sentiment_label"].astype(str),
            "value": recent_news["sentiment"].astype(float),
            "severity": recent_news["severity"],
        }
    )

    # Earnings: today and the next sessions, and last night's after-close reports.
    upcoming = _sessions_from(day, EARNINGS_HORIZON_SESSIONS + 1)
    reports = earnings.merge(focus, on="symbol", how="inner")
    report_day = (
        _dates(reports["report_date"]) if len(reports) else pd.Series(dtype="datetime64[ns]")
    )
    ahead = pd.Series(upcoming.searchsorted(report_day.to_numpy()), index=reports.index)
    in_window = (report_day >= upcoming[0]) & (report_day <= upcoming[-1])
    last_night = (
        (report_day == last_session) & (reports["timing"] == "AMC")
        if last_session is not None
        else pd.Series(False, index=reports.index)
    )
    reports = reports.assign(ahead=ahead.where(in_window, 0).astype(float), day=report_day)
    reports = reports[in_window | last_night].sort_values(["ahead", "symbol"], ignore_index=True)
    when = np.select(
        [reports["day"] < day, reports["ahead"] == 0, reports["ahead"] == 1],
        ["after the last close", "today", "next session"],
        default="in " + reports["ahead"].astype(int).astype(str) + " sessions",
    )
    earnings_rows = pd.DataFrame(
        {
            "section": "earnings",
            "symbol": reports["symbol"],
            "detail": reports["symbol"]
            + " ("
            + reports["role"].astype(str)
            + ") reports "
            + reports["fiscal_quarter"].astype(str)
            + " "
            + when
            + " ("
            + reports["day"].dt.strftime("%Y-%m-%d")
            + " "
            + reports["timing"].astype(str)
            + "), EPS estimate "
            + _fmt(reports["eps_estimate"], ".2f")
            + np.where(
                reports["eps_actual"].notna(),
                ", actual "
                + _fmt(reports["eps_actual"], ".2f")
                + " ("
                + _fmt(reports["surprise_pct"], "+.1f")
                + " % surprise)",
                "",
            ),
            "value": reports["ahead"],
            "severity": np.where(
                reports["held"] & (reports["ahead"] <= EARNINGS_ACTION_SESSIONS), "WARNING", "INFO"
            ),
        }
    )

    # Limits near or past their threshold.
    checks = limit_checks(positions, risk, limits)
    limit_rows = pd.DataFrame(
        {
            "section": "limit",
            "symbol": checks["symbol"],
            "detail": checks["detail"],
            "value": checks["value"],
            "severity": checks["severity"],
        }
    )

    # What needs a recommendation refresh, one row per name, reasons joined.
    triggers = pd.concat(
        [
            news_rows.assign(
                reason="high-impact news (sentiment " + _fmt(news_rows["value"], "+.2f") + ")"
            ),
            move_rows[moves["large"].to_numpy()].assign(
                reason="large move " + _fmt(move_rows["value"], "+.2%")
            ),
            earnings_rows[(reports["ahead"] <= EARNINGS_ACTION_SESSIONS).to_numpy()].assign(
                reason="earnings " + pd.Series(when, dtype=object)
            ),
            limit_rows.assign(reason=checks["detail"]),
        ],
        ignore_index=True,
    )
    triggers = triggers.merge(focus[["symbol", "held"]], on="symbol", how="left")
    # Only held names and the book itself can force action; watched names inform.
    forcing = (triggers["symbol"] == "") | triggers["held"].eq(True)
    triggers["rank"] = np.where(
        forcing, np.maximum(triggers["severity"].map(_RANK), _RANK["WARNING"]), _RANK["INFO"]
    )
    actions = triggers.groupby("symbol", as_index=False, sort=False).agg(
        reasons=("reason", lambda r: "; ".join(dict.fromkeys(r))),
        count=("reason", "nunique"),
        rank=("rank", "max"),
    )
    actions = actions.sort_values(["rank", "symbol"], ascending=[False, True], ignore_index=True)
    action_rows = pd.DataFrame(
        {
            "section": "action",
            "symbol": actions["symbol"],
            "detail": np.where(actions["symbol"] == "", "the book", actions["symbol"])
            + ": refresh the recommendation ("
            + actions["reasons"]
            + ")",
            "value": actions["count"].astype(float),
            "severity": actions["rank"].map(dict(enumerate(SEVERITIES))),
        }
    )
    requires_action = bool((actions["rank"] >= _RANK["WARNING"]).any())

    sections = [action_rows, move_rows, gap_rows, news_rows, earnings_rows, limit_rows]
    items = pd.concat(
        [s for s in sections if not s.empty] or [_empty(BRIEF_COLUMNS)], ignore_index=True
    )[BRIEF_COLUMNS]
    items["value"] = items["value"].astype(float)

    table = moves.assign(
        move=_fmt(moves["move"], "+.2%"),
        gap=_fmt(moves["gap"], "+.2%"),
        daily_vol=_fmt(moves["vol"], ".2%"),
        flag=np.where(moves["large"], "LARGE", ""),
    )[["symbol", "role", "move", "gap", "daily_vol", "flag"]]
    header = (
        f"**Action required**: {int((actions['rank'] >= _RANK['WARNING']).sum())} item(s) "
        "need a recommendation refresh."
        if requires_action
        else "No action required."
    )
    markdown = "\n\n".join(
        [
            f"# Morning brief for {day.date()}",
            header
            + (f" Last session: {last_label}." if last_label else " No prior session in the bars."),
            "## Actions",
            _md_bullets(action_rows["severity"] + ": " + action_rows["detail"]),
            f"## Last session's moves and gaps ({last_label or 'n/a'})",
            _md_table(table),
            "## High-impact news",
            _md_bullets(news_rows["severity"] + ": " + news_rows["detail"]),
            "## Earnings",
            _md_bullets(earnings_rows["detail"]),
            "## Limits",
            _md_bullets(limit_rows["detail"]),
        ]
    )
    return items, markdown, requires_action


# ---------------------------------------------------------------------------- risk
def _betas(
    bars: pd.DataFrame, symbols: pd.Index, benchmark: str, window: int = BETA_WINDOW_SESSIONS
) -> pd.Series:
    """OLS beta of each symbol's daily returns on the benchmark's over the last
    ``window`` returns, each over the dates both have (as ``risk.beta_to``), NaN below
    ``MIN_BETA_OBSERVATIONS``. One masked matrix computation for every symbol."""
    wanted = bars[bars["symbol"].isin([*symbols, benchmark])]
    wanted = wanted.assign(date=_dates(wanted["date"])).drop_duplicates(
        ["symbol", "date"], keep="last"
    )
    closes = wanted.pivot(index="date", columns="symbol", values="close").sort_index()
    if benchmark not in closes.columns or closes.empty:
        return pd.Series(np.nan, index=symbols, dtype=float)
    returns = (closes / closes.shift(1) - 1.0).iloc[1:].tail(window)
    y = returns.reindex(columns=symbols).to_numpy(dtype=float)
    x = returns[benchmark].to_numpy(dtype=float)[:, None]
    mask = ~np.isnan(y) & ~np.isnan(x)
    n = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_mean = np.where(mask, x, 0.0).sum(axis=0) / n
        y_mean = np.where(mask, y, 0.0).sum(axis=0) / n
        dx = np.where(mask, x - x_mean, 0.0)
        dy = np.where(mask, y - y_mean, 0.0)
        var = (dx * dx).sum(axis=0)
        beta = (dx * dy).sum(axis=0) / var
    beta = np.where((n >= MIN_BETA_OBSERVATIONS) & (var > 0), beta, np.nan)
    return pd.Series(beta, index=symbols, dtype=float)


def _worst_gaps(bars: pd.DataFrame, market_value: pd.Series) -> pd.DataFrame:
    """Per held symbol, the worst historical overnight gap for its side (down for a
    long, up for a short) and the loss it would cause on today's position."""
    held = _with_prev_close(bars[bars["symbol"].isin(market_value.index)])
    held["gap"] = held["open"] / held["prev_close"] - 1.0
    held = held.dropna(subset=["gap"])
    if held.empty:
        return pd.DataFrame(columns=["symbol", "gap", "date", "market_value", "loss"])
    grouped = held.groupby("symbol")["gap"]
    down, up = held.loc[grouped.idxmin()], held.loc[grouped.idxmax()]
    side = pd.DataFrame({"market_value": market_value}).rename_axis("symbol").reset_index()
    side = side.merge(down[["symbol", "gap", "date"]], on="symbol", how="inner")
    side = side.merge(up[["symbol", "gap", "date"]], on="symbol", suffixes=("_down", "_up"))
    is_long = side["market_value"] >= 0
    side["gap"] = np.where(is_long, side["gap_down"], side["gap_up"])
    side["date"] = np.where(is_long, side["date_down"], side["date_up"])
    side["loss"] = -side["gap"] * side["market_value"]
    return side[["symbol", "gap", "date", "market_value", "loss"]]


def assess_risk(
    positions: pd.DataFrame,
    bars: pd.DataFrame,
    risk: pd.DataFrame | Mapping[str, Any],
    limits: Mapping[str, float],
    benchmark: str = BENCHMARK_SYMBOL,
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Stress scenarios on today's book, a severity and the reasons for it.

    Scenarios (``SCENARIO_COLUMNS``: scenario, loss, loss_pct, detail; loss > 0 is a loss):

    - ``market -5%`` / ``market -10%``: each position's beta to ``benchmark`` (OLS on
      daily returns over the last 252 sessions up to the positions' price date) x the
      shock x its market value. A name with too little history is given beta 1.
    - ``volatility spike``: the book's historical 1-day VaR 95 % with every daily
      move doubled. Historical VaR is a quantile of the P&L, and doubling every P&L
      doubles each quantile, so this is 2 x ``var_95_1d``.
    - ``largest single-name gap``: for each held name the worst overnight gap
      (open / previous close - 1) in its whole history, applied to today's position;
      the scenario reports the name where it costs most.

    Severity follows the module docstring's limit table, plus CRITICAL when the
    market -10% loss exceeds 4 x the VaR limit. ``summary`` holds severity,
    var_95_1d_pct, var_limit, the concentration figures, gross exposure, the
    beta-weighted exposure, worst_scenario, worst_scenario_loss_pct and reasons.
    """
    record = _record(risk)
    equity = _float(record, "equity")
    var_limit = float(limits["var_95_limit_pct"])
    if "price_date" in positions and positions["price_date"].notna().any():
        bars = bars[_dates(bars["date"]) <= _dates(positions["price_date"]).max()]
    market_value = positions.groupby("symbol")["market_value"].sum().astype(float)

    betas = _betas(bars, market_value.index, benchmark)
    beta_used = betas.fillna(1.0)
    beta_exposure = float((beta_used * market_value).sum())
    defaulted = betas.index[betas.isna()].tolist()
    if not (bars["symbol"] == benchmark).any():
        beta_note = f"; {benchmark} has no prices in the data: beta 1 assumed for every position"
    elif defaulted:
        beta_note = f"; beta 1 assumed for {', '.join(defaulted)} (short history)"
    else:
        beta_note = ""
    shocks = np.array([shock for _, shock in MARKET_SHOCKS])
    market_rows = pd.DataFrame(
        {
            "scenario": [name for name, _ in MARKET_SHOCKS],
            "loss": -shocks * beta_exposure,
            "detail": [
                f"{benchmark} {shock:+.0%} x beta-weighted exposure {beta_exposure:,.0f} "
                f"({beta_exposure / equity:.2f} x equity){beta_note}"
                for _, shock in MARKET_SHOCKS
            ],
        }
    )

    var_amount = _float(record, "var_95_1d")
    if np.isnan(var_amount):
        var_amount = _float(record, "var_95_1d_pct") * equity
    spike = pd.DataFrame(
        {
            "scenario": ["volatility spike"],
            "loss": [VOL_SPIKE_MULTIPLIER * var_amount],
            "detail": [
                f"1-day VaR 95 % of {var_amount:,.0f} with daily vol doubled "
                f"({VOL_SPIKE_MULTIPLIER:g} x VaR)"
            ],
        }
    )

    gaps = _worst_gaps(bars, market_value)
    if gaps.empty:
        gap_row = pd.DataFrame(
            {"scenario": [SCENARIOS[3]], "loss": [np.nan], "detail": ["no gap history"]}
        )
    else:
        worst = gaps.loc[gaps["loss"].idxmax()]
        gap_row = pd.DataFrame(
            {
                "scenario": [SCENARIOS[3]],
                "loss": [float(worst["loss"])],
                "detail": [
                    f"{worst['symbol']}: its worst overnight gap {worst['gap']:+.2%} "
                    f"(on {pd.Timestamp(worst['date']).date()}) on a position of "
                    f"{worst['market_value']:,.0f}"
                ],
            }
        )

    scenarios = pd.concat([market_rows, spike, gap_row], ignore_index=True)
    scenarios["loss"] = scenarios["loss"].astype(float)
    scenarios["loss_pct"] = scenarios["loss"] / equity
    scenarios = scenarios[SCENARIO_COLUMNS]

    checks = limit_checks(positions, record, limits)
    reasons = checks[["severity", "detail"]]
    crash = scenarios.set_index("scenario").loc["market -10%", "loss_pct"]
    if crash > MARKET_CRASH_VAR_MULTIPLE * var_limit:
        crash_reason = pd.DataFrame(
            {
                "severity": ["CRITICAL"],
                "detail": [
                    f"a market -10% move would lose {crash:.1%} of equity, more than "
                    f"{MARKET_CRASH_VAR_MULTIPLE:g} x the VaR limit ({MARKET_CRASH_VAR_MULTIPLE * var_limit:.1%})"
                ],
            }
        )
        reasons = pd.concat([crash_reason, reasons], ignore_index=True)
    reasons = reasons.assign(_rank=reasons["severity"].map(_RANK)).sort_values(
        "_rank", ascending=False, kind="stable"
    )
    severity = _max_severity(reasons["severity"])

    weights = positions["weight"].astype(float).abs()
    classified = positions[positions["sector"].notna() & (positions["sector"] != UNKNOWN_SECTOR)]
    sector_weights = classified.groupby("sector")["weight"].sum().abs()
    worst_idx = scenarios["loss_pct"].idxmax() if scenarios["loss_pct"].notna().any() else None
    summary: dict[str, Any] = {
        "severity": severity,
        "var_95_1d_pct": _float(record, "var_95_1d_pct"),
        "var_limit": var_limit,
        "largest_position": str(positions.loc[weights.idxmax(), "symbol"]) if len(weights) else "",
        "largest_position_weight": float(weights.max()) if len(weights) else 0.0,
        "max_position_weight": float(limits["max_position_weight"]),
        "largest_sector": str(sector_weights.idxmax()) if len(sector_weights) else "",
        "largest_sector_weight": float(sector_weights.max()) if len(sector_weights) else 0.0,
        "max_sector_weight": float(limits["max_sector_weight"]),
        "gross_exposure": _float(record, "gross_exposure"),
        "beta_weighted_exposure": beta_exposure / equity,
        "worst_scenario": "" if worst_idx is None else str(scenarios.loc[worst_idx, "scenario"]),
        "worst_scenario_loss_pct": (
            float("nan") if worst_idx is None else float(scenarios.loc[worst_idx, "loss_pct"])
        ),
        "reasons": reasons["detail"].tolist(),  # each detail ends with its severity
    }

    shown = scenarios.assign(
        loss=_fmt(scenarios["loss"], ",.0f"), loss_pct=_fmt(scenarios["loss_pct"], ".2%")
    )
    markdown = "\n\n".join(
        [
            f"# Risk assessment: {severity}",
            f"VaR 95 % 1-day {summary['var_95_1d_pct']:.2%} of equity (limit {var_limit:.1%}); "
            f"largest position {summary['largest_position']} {summary['largest_position_weight']:.1%}; "
            f"largest sector {summary['largest_sector']} {summary['largest_sector_weight']:.1%}; "
            f"worst scenario {summary['worst_scenario']} ({summary['worst_scenario_loss_pct']:.2%}).",
            "## Reasons",
            _md_bullets(pd.Series(summary["reasons"], dtype=object)),
            "## Scenarios",
            _md_table(shown),
        ]
    )
    return scenarios, markdown, summary


# ---------------------------------------------------------------------------- P&L
def pnl_attribution(
    positions: pd.DataFrame, universe: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Today's P&L by position and by sector.

    ``contribution_pct`` is each row's share of the book's daily P&L in percent, so it
    sums to 100 (NaN when the book's daily P&L is exactly 0). With gains and losses
    mixed, single shares can exceed 100 %. The sector comes from the universe, falling
    back to the position's own, then "Unknown".
    """
    sector = positions["symbol"].map(
        universe.drop_duplicates("symbol").set_index("symbol")["sector"]
    )
    if "sector" in positions:
        sector = sector.fillna(positions["sector"])
    by_position = pd.DataFrame(
        {
            "symbol": positions["symbol"].astype(str),
            "sector": sector.fillna("Unknown").astype(str),
            "daily_pnl": positions["daily_pnl"].astype(float),
            "unrealized_pnl": positions["unrealized_pnl"].astype(float),
        }
    )
    total = float(by_position["daily_pnl"].sum())
    scale = 100.0 / total if total else float("nan")
    by_position["contribution_pct"] = by_position["daily_pnl"] * scale
    by_position = by_position.sort_values(
        ["daily_pnl", "symbol"], ascending=[False, True], ignore_index=True
    )
    by_sector = by_position.groupby("sector", as_index=False).agg(
        positions=("symbol", "count"),
        daily_pnl=("daily_pnl", "sum"),
        unrealized_pnl=("unrealized_pnl", "sum"),
    )
    by_sector["contribution_pct"] = by_sector["daily_pnl"] * scale
    by_sector = by_sector.sort_values(
        ["daily_pnl", "sector"], ascending=[False, True], ignore_index=True
    )
    return by_position[ATTRIBUTION_COLUMNS], by_sector[SECTOR_ATTRIBUTION_COLUMNS]


# ---------------------------------------------------------------------------- scorecard
def _confidence_bucket(confidence: pd.Series) -> np.ndarray:
    values = confidence.astype(float)
    return np.select(
        [values < 0.5, values < 0.7, values >= 0.7], list(CONFIDENCE_BUCKETS), default=""
    )


def recommendation_scorecard(
    recommendations: pd.DataFrame, bars: pd.DataFrame, as_of: SessionLike
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How past recommendations turned out.

    ``detail``: each recommendation with the realized close-to-close return from its
    ``session`` to ``horizon_days`` sessions later, counted in the symbol's own bars
    (entry on the first bar on or after the session, for a session without a bar).
    Only bars up to ``as_of`` are used, so nothing is scored on the future. It is
    ``matured`` when the exit bar exists by ``as_of``; unmatured rows keep a NaN return
    and a null ``hit``. A hit is a BUY that rose, a SELL that fell, or a HOLD that
    stayed within +-``HOLD_BAND`` (2 %): holding was right when there was nothing to
    trade.

    ``summary`` (``SCORECARD_SUMMARY_COLUMNS``): one row per action (BUY, SELL, HOLD)
    and per confidence bucket ('<0.5', '0.5-0.7', '>=0.7') that occurs; ``count`` all
    rows, ``matured`` those scored, ``hit_rate`` and ``avg_return`` (the raw return, so
    a good SELL has a negative one) over matured rows only. Empty input gives empty
    frames with these columns.
    """
    base_columns = list(recommendations.columns) or RECOMMENDATION_INPUT_COLUMNS
    if recommendations.empty:
        return _empty(
            base_columns + [c for c in SCORECARD_COLUMNS if c not in base_columns]
        ), _empty(SCORECARD_SUMMARY_COLUMNS)
    cutoff = _day(as_of)
    recs = recommendations.drop(
        columns=[c for c in SCORECARD_COLUMNS if c in recommendations], errors="ignore"
    ).reset_index(drop=True)
    recs["session"] = _dates(recs["session"])

    history = bars[["symbol", "date", "close"]].assign(date=lambda f: _dates(f["date"]))
    history = history[history["date"] <= cutoff].drop_duplicates(["symbol", "date"], keep="last")
    history = history.sort_values(["symbol", "date"], ignore_index=True)
    history["pos"] = history.groupby("symbol").cumcount().astype(float)
    history["symbol"] = history["symbol"].astype(str)

    left = pd.DataFrame(
        {
            "_row": np.arange(len(recs)),
            "symbol": recs["symbol"].astype(str),
            "session": recs["session"],
        }
    ).sort_values("session", kind="stable")
    entry = pd.merge_asof(
        left,
        history.rename(
            columns={"date": "entry_date", "close": "entry_close", "pos": "entry_pos"}
        ).sort_values("entry_date", kind="stable"),
        left_on="session",
        right_on="entry_date",
        by="symbol",
        direction="forward",
    ).sort_values("_row")
    entry["exit_pos"] = entry["entry_pos"] + recs["horizon_days"].astype(float).to_numpy()
    exits = entry.merge(
        history.rename(columns={"date": "exit_date", "close": "exit_close", "pos": "exit_pos"}),
        on=["symbol", "exit_pos"],
        how="left",
    ).sort_values("_row", ignore_index=True)

    matured = exits["exit_close"].notna().to_numpy()
    realized = np.where(matured, exits["exit_close"] / exits["entry_close"] - 1.0, np.nan)
    action = recs["action"].astype(str).str.upper().to_numpy()
    hit_values = np.select(
        [action == "BUY", action == "SELL", action == "HOLD"],
        [realized > 0, realized < 0, np.abs(realized) < HOLD_BAND],
        default=False,
    )
    scored = matured & np.isin(action, ACTIONS)
    hit = pd.array(np.where(scored, hit_values, False), dtype="boolean")
    hit[~scored] = pd.NA

    detail = recs.assign(
        entry_date=exits["entry_date"].to_numpy(),
        exit_date=exits["exit_date"].to_numpy(),
        entry_close=exits["entry_close"].to_numpy(dtype=float),
        exit_close=exits["exit_close"].to_numpy(dtype=float),
        realized_return=realized,
        matured=matured,
        hit=hit,
    )
    return detail, summarize_scorecard(detail)


def summarize_scorecard(detail: pd.DataFrame) -> pd.DataFrame:
    """Hit rate and average realized return by action and by confidence bucket, from the
    rows of ``recommendation_scorecard``; unmatured rows count but score nothing."""
    if detail.empty:
        return _empty(SCORECARD_SUMMARY_COLUMNS)
    action = detail["action"].to_numpy()
    matured = detail["matured"].to_numpy(dtype=bool)
    realized = detail["realized_return"].to_numpy(dtype=float)
    hits = detail["hit"].to_numpy(dtype=float, na_value=np.nan)
    long = pd.concat(
        [
            pd.DataFrame({"group_type": "action", "group": action}),
            pd.DataFrame(
                {"group_type": "confidence", "group": _confidence_bucket(detail["confidence"])}
            ),
        ],
        ignore_index=True,
    ).assign(
        matured=np.tile(matured, 2),
        hit=np.tile(hits, 2),
        realized_return=np.tile(realized, 2),
    )
    long = long[long["group"] != ""]
    summary = long.groupby(["group_type", "group"], as_index=False).agg(
        count=("matured", "size"),
        matured=("matured", "sum"),
        hits=("hit", "sum"),
        avg_return=("realized_return", "mean"),
    )
    summary["hit_rate"] = summary["hits"] / summary["matured"].where(summary["matured"] > 0)
    order = {name: i for i, name in enumerate((*ACTIONS, *CONFIDENCE_BUCKETS))}
    summary = summary.assign(_order=summary["group"].map(order).fillna(len(order))).sort_values(
        ["group_type", "_order", "group"], ignore_index=True
    )
    summary["matured"] = summary["matured"].astype(int)
    return summary[SCORECARD_SUMMARY_COLUMNS]


# ---------------------------------------------------------------------------- evening
def _session_returns(bars: pd.DataFrame, session: pd.Timestamp) -> pd.Series:
    """Close-to-close return on ``session`` per symbol (vs each symbol's prior bar)."""
    withprev = _with_prev_close(bars)
    today = withprev[withprev["date"] == session]
    return pd.Series(
        (today["close"] / today["prev_close"] - 1.0).to_numpy(dtype=float),
        index=today["symbol"].astype(str).to_numpy(),
        dtype=float,
    )


def evening_review(
    positions: pd.DataFrame,
    pnl: pd.DataFrame | Mapping[str, Any],
    bars: pd.DataFrame,
    universe: pd.DataFrame,
    morning_items: pd.DataFrame | None,
    session: SessionLike,
    benchmark: str = BENCHMARK_SYMBOL,
) -> tuple[pd.DataFrame, str]:
    """The after-close review of ``session``.

    Rows (``REVIEW_COLUMNS``: section, item, symbol, value, detail):

    - ``pnl``: realized, unrealized, total, daily and overnight P&L. Daily, unrealized
      and overnight are summed from the positions; realized is the broker's (via
      ``pnl``), since closed positions are no longer in ``positions``.
      ``reconcile_review`` checks them against ``pnl``.
    - ``return``: book_return (daily P&L over the equity before it, cash included, as
      ``summarize_pnl``), benchmark_return (its close-to-close return on ``session``)
      and excess_return (their difference), as fractions.
    - ``contributor`` / ``detractor``: the top 3 positive / negative daily P&L names;
      value is the daily P&L.
    - ``since_morning``: each of the morning brief's ``action`` items against today;
      value is the name's return on ``session`` (NaN for the book-level item).
    """
    day = _day(session)
    record = _record(pnl)
    by_position, _ = pnl_attribution(positions, universe)
    daily = float(by_position["daily_pnl"].sum())
    unrealized = float(by_position["unrealized_pnl"].sum())
    realized = _float(record, "realized_pnl")
    overnight = (
        float(positions["overnight_pnl"].astype(float).sum())
        if "overnight_pnl" in positions
        else float("nan")
    )
    equity = _float(record, "equity")
    book_return = daily / (equity - daily) if equity - daily else float("nan")
    returns = _session_returns(bars, day)
    benchmark_return = float(returns.get(benchmark, float("nan")))
    excess = book_return - benchmark_return

    pnl_rows = pd.DataFrame(
        {
            "section": "pnl",
            "item": ["realized_pnl", "unrealized_pnl", "total_pnl", "daily_pnl", "overnight_pnl"],
            "symbol": "",
            "value": [realized, unrealized, realized + unrealized, daily, overnight],
        }
    )
    pnl_rows["detail"] = (
        pnl_rows["item"].str.replace("_pnl", "", regex=False)
        + " P&L "
        + _fmt(pnl_rows["value"], "+,.2f")
    )
    return_rows = pd.DataFrame(
        {
            "section": "return",
            "item": ["book_return", "benchmark_return", "excess_return"],
            "symbol": ["", benchmark, ""],
            "value": [book_return, benchmark_return, excess],
            "detail": [
                f"the book returned {book_return:+.2%} on equity",
                f"{benchmark} returned {benchmark_return:+.2%}",
                f"excess return vs {benchmark}: {excess:+.2%}",
            ],
        }
    )

    movers = by_position.assign(move=by_position["symbol"].map(returns))
    movers["detail"] = (
        movers["symbol"]
        + " "
        + _fmt(movers["daily_pnl"], "+,.0f")
        + " ("
        + _fmt(movers["move"], "+.2%")
        + " on the day, "
        + _fmt(movers["contribution_pct"], ".0f")
        + " % of the daily P&L)"
    )
    best = movers[movers["daily_pnl"] > 0].nlargest(TOP_MOVERS, "daily_pnl")
    worst = movers[movers["daily_pnl"] < 0].nsmallest(TOP_MOVERS, "daily_pnl")
    mover_rows = pd.concat(
        [
            best.assign(section="contributor", item="daily_pnl"),
            worst.assign(section="detractor", item="daily_pnl"),
        ],
        ignore_index=True,
    ).rename(columns={"daily_pnl": "value"})[REVIEW_COLUMNS]

    if morning_items is not None and len(morning_items):
        flagged = morning_items[morning_items["section"] == "action"]
    else:
        flagged = _empty(BRIEF_COLUMNS)
    flagged_symbols = flagged["symbol"].fillna("").astype(str)
    change = flagged_symbols.map(returns).astype(float)
    held_pnl = flagged_symbols.map(by_position.set_index("symbol")["daily_pnl"]).astype(float)
    since_rows = pd.DataFrame(
        {
            "section": "since_morning",
            "item": "flagged",
            "symbol": flagged_symbols,
            "value": change,
            "detail": "this morning: "
            + flagged["detail"].astype(str)
            + np.where(
                flagged_symbols == "",
                "; see the risk assessment for the book's current figures",
                "; since then "
                + flagged_symbols
                + " moved "
                + _fmt(change, "+.2%")
                + " on the day"
                + np.where(held_pnl.notna(), ", P&L " + _fmt(held_pnl, "+,.0f"), " (not held)"),
            ),
        }
    )

    sections = [pnl_rows, return_rows, mover_rows, since_rows]
    rows = pd.concat([s[REVIEW_COLUMNS] for s in sections if not s.empty], ignore_index=True)
    rows["value"] = rows["value"].astype(float)

    markdown = "\n\n".join(
        [
            f"# Evening review for {day.date()}",
            f"Daily P&L **{daily:+,.2f}**: the book {book_return:+.2%} vs {benchmark} "
            f"{benchmark_return:+.2%}, excess **{excess:+.2%}**.",
            "## P&L",
            _md_table(pnl_rows.assign(value=_fmt(pnl_rows["value"], "+,.2f"))[["item", "value"]]),
            "## Top contributors",
            _md_bullets(best["detail"]),
            "## Top detractors",
            _md_bullets(worst["detail"]),
            "## Since the morning",
            _md_bullets(since_rows["detail"]),
        ]
    )
    return rows, markdown


def reconcile_review(
    review_rows: pd.DataFrame, pnl: pd.DataFrame | Mapping[str, Any]
) -> tuple[bool, float]:
    """Whether the review's daily, unrealized and realized P&L equal the
    ``portfolio_pnl`` row within ``RECONCILE_TOLERANCE`` relative (scaled by the larger
    of the P&L and 1, so a zero P&L needs an absolute match to 1e-6). Returns (ok, the
    largest absolute difference); a missing or NaN figure fails with an infinite one."""
    record = _record(pnl)
    figures = (
        review_rows[review_rows["section"] == "pnl"]
        .drop_duplicates("item")
        .set_index("item")["value"]
    )
    ours = figures.reindex(list(RECONCILED_ITEMS)).astype(float).to_numpy()
    theirs = np.array([_float(record, item) for item in RECONCILED_ITEMS])
    diff = np.abs(ours - theirs)
    if np.isnan(diff).any():
        return False, float("inf")
    scale = np.maximum(np.abs(theirs), 1.0)
    return bool((diff <= RECONCILE_TOLERANCE * scale).all()), float(diff.max())

"""The evening review: the session's P&L, the book against its benchmark, the top
movers and what became of the morning's flags; and its reconciliation with the
portfolio's P&L."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from robo_dagster.domain.formatting import format_money, format_percent
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL
from robo_dagster.domain.review.attribution import pnl_attribution
from robo_dagster.domain.review.common import (
    SessionLike,
    _day,
    _empty,
    _float,
    _fmt,
    _md_bullets,
    _md_table,
    _money,
    _pct,
    _record,
    _with_prev_close,
)
from robo_dagster.domain.review.morning import BRIEF_COLUMNS

TOP_MOVERS = 3
REVIEW_COLUMNS = ["section", "item", "symbol", "value", "detail"]
RECONCILED_ITEMS = ("daily_pnl", "unrealized_pnl", "realized_pnl")
RECONCILE_TOLERANCE = 1e-6


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
    figures = _book_pnl(positions, by_position, record)
    daily = figures["daily_pnl"]
    equity = _float(record, "equity")
    book_return = daily / (equity - daily) if equity - daily else float("nan")
    returns = _session_returns(bars, day)
    benchmark_return = float(returns.get(benchmark, float("nan")))
    excess = book_return - benchmark_return

    pnl_rows = _pnl_rows(figures)
    return_rows = _return_rows(book_return, benchmark_return, excess, benchmark)
    best, worst = _top_movers(by_position, returns)
    since_rows = _since_morning_rows(morning_items, returns, by_position)
    sections = [pnl_rows, return_rows, _mover_rows(best, worst), since_rows]
    rows = pd.concat([s[REVIEW_COLUMNS] for s in sections if not s.empty], ignore_index=True)
    rows["value"] = rows["value"].astype(float)

    headline = (
        f"Daily P&L **{format_money(daily, signed=True)}**: the book "
        f"{format_percent(book_return, 2, signed=True)} vs {benchmark} "
        f"{format_percent(benchmark_return, 2, signed=True)}, excess "
        f"**{format_percent(excess, 2, signed=True)}**."
    )
    markdown = _evening_markdown(day, headline, pnl_rows, best, worst, since_rows)
    return rows, markdown


def _session_returns(bars: pd.DataFrame, session: pd.Timestamp) -> pd.Series:
    """Close-to-close return on ``session`` per symbol (vs each symbol's prior bar)."""
    withprev = _with_prev_close(bars)
    today = withprev[withprev["date"] == session]
    return pd.Series(
        (today["close"] / today["prev_close"] - 1.0).to_numpy(dtype=float),
        index=today["symbol"].astype(str).to_numpy(),
        dtype=float,
    )


def _book_pnl(
    positions: pd.DataFrame, by_position: pd.DataFrame, record: Mapping[str, Any]
) -> dict[str, float]:
    """The book's P&L figures in row order. Realized P&L comes from the broker's
    ``record``: closed positions are no longer in ``positions``."""
    daily = float(by_position["daily_pnl"].sum())
    unrealized = float(by_position["unrealized_pnl"].sum())
    realized = _float(record, "realized_pnl")
    overnight = (
        float(positions["overnight_pnl"].astype(float).sum())
        if "overnight_pnl" in positions
        else float("nan")
    )
    return {
        "realized_pnl": realized,
        "unrealized_pnl": unrealized,
        "total_pnl": realized + unrealized,
        "daily_pnl": daily,
        "overnight_pnl": overnight,
    }


def _pnl_rows(figures: Mapping[str, float]) -> pd.DataFrame:
    """The ``pnl`` rows, one per figure of ``_book_pnl``."""
    rows = pd.DataFrame(
        {"section": "pnl", "item": list(figures), "symbol": "", "value": list(figures.values())}
    )
    rows["detail"] = (
        rows["item"].str.replace("_pnl", "", regex=False)
        + " P&L "
        + _money(rows["value"], signed=True)
    )
    return rows


def _return_rows(
    book_return: float, benchmark_return: float, excess: float, benchmark: str
) -> pd.DataFrame:
    """The ``return`` rows: the book, its benchmark and the excess of one over the other."""
    return pd.DataFrame(
        {
            "section": "return",
            "item": ["book_return", "benchmark_return", "excess_return"],
            "symbol": ["", benchmark, ""],
            "value": [book_return, benchmark_return, excess],
            "detail": [
                f"the book returned {format_percent(book_return, 2, signed=True)} on equity",
                f"{benchmark} returned {format_percent(benchmark_return, 2, signed=True)}",
                f"excess return vs {benchmark}: {format_percent(excess, 2, signed=True)}",
            ],
        }
    )


def _top_movers(by_position: pd.DataFrame, returns: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``TOP_MOVERS`` positions that made the most and that lost the most today,
    each with a ``detail`` sentence."""
    movers = by_position.assign(move=by_position["symbol"].map(returns))
    movers["detail"] = (
        movers["symbol"]
        + " "
        + _money(movers["daily_pnl"], 0, signed=True)
        + " ("
        + _pct(movers["move"], 2, signed=True)
        + " on the day, "
        + _fmt(movers["contribution_pct"], ".0f")
        + " % of the daily P&L)"
    )
    best = movers[movers["daily_pnl"] > 0].nlargest(TOP_MOVERS, "daily_pnl")
    worst = movers[movers["daily_pnl"] < 0].nsmallest(TOP_MOVERS, "daily_pnl")
    return best, worst


def _mover_rows(best: pd.DataFrame, worst: pd.DataFrame) -> pd.DataFrame:
    """The ``contributor`` and ``detractor`` rows; value is the daily P&L."""
    return pd.concat(
        [
            best.assign(section="contributor", item="daily_pnl"),
            worst.assign(section="detractor", item="daily_pnl"),
        ],
        ignore_index=True,
    ).rename(columns={"daily_pnl": "value"})[REVIEW_COLUMNS]


def _since_morning_rows(
    morning_items: pd.DataFrame | None, returns: pd.Series, by_position: pd.DataFrame
) -> pd.DataFrame:
    """The ``since_morning`` rows: each of the morning's ``action`` items with what its
    name did since (the book-level item points to the risk assessment instead)."""
    if morning_items is not None and len(morning_items):
        flagged = morning_items[morning_items["section"] == "action"]
    else:
        flagged = _empty(BRIEF_COLUMNS)
    flagged_symbols = flagged["symbol"].fillna("").astype(str)
    change = flagged_symbols.map(returns).astype(float)
    held_pnl = flagged_symbols.map(by_position.set_index("symbol")["daily_pnl"]).astype(float)
    return pd.DataFrame(
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
                + _pct(change, 2, signed=True)
                + " on the day"
                + np.where(
                    held_pnl.notna(), ", P&L " + _money(held_pnl, 0, signed=True), " (not held)"
                ),
            ),
        }
    )


def _evening_markdown(
    day: pd.Timestamp,
    headline: str,
    pnl_rows: pd.DataFrame,
    best: pd.DataFrame,
    worst: pd.DataFrame,
    since_rows: pd.DataFrame,
) -> str:
    """The review as markdown: the headline, the P&L table and the three lists."""
    return "\n\n".join(
        [
            f"# Evening review for {day.date()}",
            headline,
            "## P&L",
            _md_table(
                pnl_rows.assign(value=_money(pnl_rows["value"], signed=True))[["item", "value"]]
            ),
            "## Top contributors",
            _md_bullets(best["detail"]),
            "## Top detractors",
            _md_bullets(worst["detail"]),
            "## Since the morning",
            _md_bullets(since_rows["detail"]),
        ]
    )


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

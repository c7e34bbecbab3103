"""Earnings reports and fundamentals from a source's raw tables, point in time.

Real sources give reports as a list (symbol, report date, timing, estimate, actual) and
fundamentals as a snapshot. These functions turn them into the columns the analyses
read (``providers.market_data.EARNINGS_SCHEMA`` and ``FUNDAMENTALS_SCHEMA``) as of a
session, so that a replay of a past session never sees an actual reported after it.
Every function works on whole frames, for every symbol at once.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from robo_dagster.domain import calendar

# When an actual is published on its report date, New York time: before the open
# ("BMO") or just after the close ("AMC"), the usual slots of the wires.
PUBLICATION_SLOTS = {
    "BMO": pd.Timedelta(hours=7),
    "AMC": pd.Timedelta(hours=16, minutes=5),
}
EARNINGS_OUTPUT = [
    "symbol",
    "fiscal_quarter",
    "period_end",
    "report_date",
    "timing",
    "eps_estimate",
    "eps_actual",
    "status",
    "surprise_pct",
]


def surprise_pct(actual: pd.Series, estimate: pd.Series) -> pd.Series:
    """The EPS surprise in percent of the estimate's size (NaN without both)."""
    scale = estimate.abs().where(estimate.abs() > 0)
    return ((actual - estimate) / scale * 100.0).round(2)


def earnings_as_of(
    reports: pd.DataFrame, start: dt.date, end: dt.date, as_of: dt.date
) -> pd.DataFrame:
    """Reports dated in [start, end] as a desk saw them on ``as_of``: an actual exists
    only once its report date has come (``status`` reported), later ones are scheduled
    with no actual. The fiscal quarter is the calendar quarter before the report date.

    ``reports`` has symbol, report_date, timing (BMO or AMC), eps_estimate and
    eps_actual (NaN while unknown)."""
    report_date = pd.to_datetime(reports["report_date"]).dt.normalize()
    window = (report_date >= pd.Timestamp(start)) & (report_date <= pd.Timestamp(end))
    frame = reports.loc[window].assign(report_date=report_date[window]).copy()
    period = (frame["report_date"] - pd.offsets.QuarterEnd(1)).dt.to_period("Q")
    frame["fiscal_quarter"] = period.astype(str)
    frame["period_end"] = period.dt.end_time.dt.normalize()
    estimate = frame["eps_estimate"].astype(float)
    actual = frame["eps_actual"].astype(float)
    reported = (frame["report_date"] <= pd.Timestamp(as_of)) & actual.notna()
    frame["eps_estimate"] = estimate
    frame["eps_actual"] = actual.where(reported)
    frame["status"] = np.where(reported, "reported", "scheduled")
    frame["surprise_pct"] = surprise_pct(frame["eps_actual"], estimate)
    return frame[EARNINGS_OUTPUT].sort_values(["report_date", "symbol"], ignore_index=True)


def publication_times(report_date: pd.Series, timing: pd.Series) -> pd.Series:
    """When each actual reached the wire, as naive UTC: its report date at 07:00 New York
    time before the open (BMO) or 16:05 after the close (AMC)."""
    slot = timing.map(PUBLICATION_SLOTS)
    return (
        (pd.to_datetime(report_date).dt.normalize() + slot)
        .dt.tz_localize(calendar.EXCHANGE_TIMEZONE)
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
    )


def earnings_wire(reports: pd.DataFrame, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """The actuals published in (since, until] (naive UTC): the ``earnings_as_of``
    columns plus ``published_at`` and ``report_id`` (``<symbol>-<fiscal_quarter>``),
    ordered by (published_at, report_id). ``reports`` are ``earnings_as_of`` rows."""
    frame = reports[reports["status"] == "reported"].copy()
    frame["published_at"] = publication_times(frame["report_date"], frame["timing"])
    frame["report_id"] = frame["symbol"] + "-" + frame["fiscal_quarter"]
    published = frame["published_at"]
    frame = frame[(published > since) & (published <= until)]
    return frame[[*EARNINGS_OUTPUT, "published_at", "report_id"]].sort_values(
        ["published_at", "report_id"], ignore_index=True
    )


def fundamentals_as_of(snapshot: pd.DataFrame, prices: pd.Series, as_of: dt.date) -> pd.DataFrame:
    """Valuation per symbol on ``as_of`` from a fundamentals snapshot and that session's
    closes (``prices``: symbol -> close).

    ``snapshot`` has symbol, sector, market_cap, eps_ttm, eps_forward and
    book_value_per_share, and optionally ``as_of`` (the date each row became known):
    then the latest row on or before ``as_of`` counts, and a symbol without one is left
    out. The shares outstanding are the market cap over the price; P/E and forward P/E
    need a positive EPS, P/B a positive book value. A beta or a dividend yield the
    snapshot does not give stays NaN."""
    rows = snapshot.copy()
    if "as_of" in rows.columns:
        known = pd.to_datetime(rows["as_of"]) <= pd.Timestamp(as_of)
        rows = rows[known].sort_values("as_of", kind="stable")
    rows = rows.drop_duplicates("symbol", keep="last").set_index("symbol")
    price = prices.reindex(rows.index).astype(float)
    out = pd.DataFrame(index=rows.index)
    out["name"] = rows["name"] if "name" in rows.columns else None
    out["sector"] = rows["sector"] if "sector" in rows.columns else None
    for column in ("beta", "dividend_yield"):
        out[column] = rows[column].astype(float) if column in rows.columns else np.nan
    out["as_of"] = pd.Timestamp(as_of)
    out["price"] = price
    market_cap = rows["market_cap"].astype(float)
    out["shares_outstanding"] = (market_cap / price.where(price > 0)).round()
    out["market_cap"] = market_cap
    out["eps_ttm"] = rows["eps_ttm"].astype(float)
    out["eps_forward"] = rows["eps_forward"].astype(float)
    out["pe_ratio"] = (price / out["eps_ttm"]).where(out["eps_ttm"] > 0)
    out["forward_pe"] = (price / out["eps_forward"]).where(out["eps_forward"] > 0)
    book = rows["book_value_per_share"].astype(float)
    out["book_value_per_share"] = book
    out["pb_ratio"] = (price / book).where(book > 0)
    return out.reset_index()

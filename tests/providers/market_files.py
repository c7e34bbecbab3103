"""Realistic folders for the files source, written from the simulated market.

Per-symbol files are Yahoo daily exports (``Date,Open,High,Low,Close,Adj Close,Volume``,
with Yahoo's ``null`` for a missing value); the long table is
``symbol,date,open,high,low,close,volume``. The simulated bars are the truth: after the
files source scales by ``Adj Close / Close``, what is stored must equal them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import MarketSimulator

SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM", "SPY"]


@dataclass
class Planted:
    """The bad rows a folder was written with, as (symbol, date, reason)."""

    bad: list[tuple[str, str, str]] = field(default_factory=list)
    gap: tuple[str, str] | None = None
    split: tuple[str, str] | None = None


def simulated_bars(symbols: list[str], sessions: list[dt.date], seed: int = 7) -> pd.DataFrame:
    return MarketSimulator(seed).daily_bars(symbols, sessions)


def _yahoo(frame: pd.DataFrame, adjusted: bool) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "Date": pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"),
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
        }
    )
    if adjusted:
        out["Adj Close"] = frame["adj_close"]
    out["Volume"] = frame["volume"]
    return out


def write_yahoo_folder(
    root: Path, sessions: list[dt.date], symbols: list[str] = SYMBOLS, seed: int = 7
) -> tuple[pd.DataFrame, Planted]:
    """A bars/ folder of Yahoo exports with, planted: a 2-for-1 split in AAPL (raw prices
    before it doubled, Adj Close continuous), a missing session in MSFT (a gap, not a
    bad row), a conflicting duplicate in JPM, a NaN close (Yahoo's ``null``) in XOM, a
    bar on Thanksgiving in SPY and one with a high below its close in SPY. Returns the
    true (simulated) bars and what was planted."""
    truth = simulated_bars(symbols, sessions, seed)
    planted = Planted()
    (root / "bars").mkdir(parents=True, exist_ok=True)
    split_day = sessions[len(sessions) // 2]
    for symbol in symbols:
        rows = truth[truth["symbol"] == symbol].reset_index(drop=True).copy()
        rows["adj_close"] = rows["close"]
        adjusted = symbol != "XOM"  # a Stooq-like file without Adj Close
        if symbol == "AAPL":
            before = pd.to_datetime(rows["date"]).dt.date < split_day
            rows.loc[before, ["open", "high", "low", "close"]] *= 2.0
            planted.split = (symbol, split_day.isoformat())
        table = _yahoo(rows, adjusted).astype(object)
        if symbol == "MSFT":
            gap_day = sessions[10]
            table = table[table["Date"] != gap_day.isoformat()]
            planted.gap = (symbol, gap_day.isoformat())
        if symbol == "JPM":
            day = sessions[20].isoformat()
            copy = table[table["Date"] == day].copy()
            copy["Close"] = float(copy["Close"].iloc[0]) * 1.01
            copy["High"] = max(float(copy["High"].iloc[0]), float(copy["Close"].iloc[0]))
            table = pd.concat([table, copy], ignore_index=True)
            planted.bad += [(symbol, day, "conflicting duplicate (symbol, date)")] * 2
        if symbol == "XOM":
            day = sessions[30].isoformat()
            table.loc[table["Date"] == day, "Close"] = "null"
            planted.bad.append((symbol, day, "non-finite price"))
        if symbol == "SPY":
            holiday = calendar.closed_weekdays(sessions[0], sessions[-1])[0]
            extra = table.iloc[[0]].copy()
            extra["Date"] = holiday.isoformat()
            day = sessions[40].isoformat()
            table.loc[table["Date"] == day, "High"] = (
                float(table.loc[table["Date"] == day, "Close"].iloc[0]) * 0.99
            )
            table = pd.concat([table, extra], ignore_index=True).sort_values("Date")
            planted.bad += [
                (symbol, holiday.isoformat(), "not a trading session"),
                (symbol, day, "high below open or close"),
            ]
        table.to_csv(root / "bars" / f"{symbol}.csv", index=False)
    return truth, planted


def write_long_table(
    root: Path, sessions: list[dt.date], symbols: list[str] = SYMBOLS
) -> pd.DataFrame:
    """One clean ``bars.csv`` long table; returns the true bars."""
    truth = simulated_bars(symbols, sessions)
    root.mkdir(parents=True, exist_ok=True)
    long = truth.assign(date=pd.to_datetime(truth["date"]).dt.strftime("%Y-%m-%d"))
    long[["symbol", "date", "open", "high", "low", "close", "volume"]].to_csv(
        root / "bars.csv", index=False
    )
    return truth


def write_reports(root: Path, last: dt.date, symbols: list[str] = SYMBOLS) -> None:
    """sectors.csv, fundamentals.csv, earnings.csv and news.jsonl for ``symbols``."""
    sectors = {
        "AAPL": "Information Technology",
        "MSFT": "Information Technology",
        "JPM": "Financials",
        "XOM": "Energy",
        "SPY": "Index",
    }
    pd.DataFrame(
        {
            "symbol": symbols,
            "name": [f"{s} Inc." for s in symbols],
            "sector": [sectors[s] for s in symbols],
        }
    ).to_csv(root / "sectors.csv", index=False)
    stocks = [s for s in symbols if s != "SPY"]
    pd.DataFrame(
        {
            "symbol": stocks,
            "sector": [sectors[s] for s in stocks],
            "market_cap": [3.0e12, 2.8e12, 5.0e11, 4.5e11][: len(stocks)],
            "eps_ttm": [6.1, 11.2, 16.0, 8.9][: len(stocks)],
            "eps_forward": [6.8, 12.5, 17.1, 8.1][: len(stocks)],
            "book_value_per_share": [4.4, 34.0, 110.0, 62.0][: len(stocks)],
        }
    ).to_csv(root / "fundamentals.csv", index=False)
    reports = []
    for i, symbol in enumerate(stocks):
        past = calendar.session_on_or_before(last - dt.timedelta(days=20 + 7 * i))
        future = calendar.session_on_or_after(last + dt.timedelta(days=40 + 3 * i))
        reports.append(
            {
                "symbol": symbol,
                "report_date": past.isoformat(),
                "timing": "AMC",
                "eps_estimate": 1.50,
                "eps_actual": 1.50 * (1.08 if i % 2 == 0 else 0.93),
            }
        )
        reports.append(
            {
                "symbol": symbol,
                "report_date": future.isoformat(),
                "timing": "BMO",
                "eps_estimate": 1.60,
                "eps_actual": None,
            }
        )
    pd.DataFrame(reports).to_csv(root / "earnings.csv", index=False)
    with (root / "news.jsonl").open("w") as handle:
        for i, symbol in enumerate(stocks):
            published = pd.Timestamp(last).tz_localize("America/New_York") + pd.Timedelta(
                hours=10 + i
            )
            handle.write(
                json.dumps(
                    {
                        "symbol": symbol,
                        "published_at": published.isoformat(),
                        "headline": f"{symbol} beats expectations as revenue jumps"
                        if i % 2 == 0
                        else f"{symbol} plunges after regulators open a fraud probe",
                        "source": "Desk wire",
                        "impact": 0.9 if i % 2 else 0.6,
                    }
                )
                + "\n"
            )

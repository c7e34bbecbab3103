"""The files source: your own folder of daily bars and reports, through the whole graph."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from robo_dagster.domain import calendar
from robo_dagster.providers import DatasetNotProvided, ProviderError, UnknownSymbolError
from robo_dagster.providers.files import FilesMarketData
from robo_dagster.resources import build_resources
from tests.conftest import AS_OF, materialize_all
from tests.domain.test_indicators import SETTLED, talib_reference
from tests.providers.market_files import (
    write_long_table,
    write_reports,
    write_yahoo_folder,
)

SESSIONS = calendar.sessions_between("2025-09-02", AS_OF)


def read(path: str, sql: str) -> pd.DataFrame:
    with duckdb.connect(path, read_only=True) as conn:
        return conn.execute(sql).fetchdf()


def portfolio(tmp: Path, trades: list[dict[str, Any]], opened_on: str = "2025-09-02") -> str:
    path = tmp / "book.json"
    path.write_text(
        json.dumps(
            {
                "account_id": "FILES-0001",
                "opening_cash": 1_000_000.0,
                "opened_on": opened_on,
                "trades": trades,
            }
        )
    )
    return str(path)


BOOK = [
    {"date": "2025-09-03", "symbol": "AAPL", "side": "BUY", "quantity": 300},
    {"date": "2025-09-03", "symbol": "MSFT", "side": "BUY", "quantity": 200},
    {"date": "2025-10-01", "symbol": "JPM", "side": "BUY", "quantity": 400},
]


def files_env(monkeypatch: pytest.MonkeyPatch, folder: Path, book: str) -> None:
    monkeypatch.setenv("ROBO_MARKET_DATA", "files")
    monkeypatch.setenv("ROBO_DATA_DIR", str(folder))
    monkeypatch.setenv("ROBO_PORTFOLIO_FILE", book)


# ---------------------------------------------------------------------------- graph
def test_yahoo_exports_with_bad_rows_quarantine_exactly_those_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    truth, planted = write_yahoo_folder(folder, SESSIONS)
    files_env(monkeypatch, folder, portfolio(tmp_path, BOOK))
    path = str(tmp_path / "robo.duckdb")
    result = materialize_all(
        build_resources(path, as_of=AS_OF), sessions=len(SESSIONS), raise_on_error=False
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["price_bars_valid"].passed  # blocking: nothing downstream runs on it
    assert "quarantined without a valid bar: 4" in checks["price_bars_valid"].description
    quarantine = read(path, "select symbol, date, reason from market_data.price_bars_quarantine")
    found = Counter(
        zip(
            quarantine["symbol"],
            quarantine["date"].dt.date.astype(str),
            quarantine["reason"],
            strict=True,
        )
    )
    assert found == Counter(planted.bad)

    stored = read(path, "select * from market_data.price_bars").set_index(["symbol", "date"])
    expected = truth.assign(date=pd.to_datetime(truth["date"])).set_index(["symbol", "date"])
    bad = {(s, pd.Timestamp(d)) for s, d, _ in planted.bad}
    assert planted.gap is not None and planted.split is not None
    bad |= {(planted.gap[0], pd.Timestamp(planted.gap[1]))}
    keep = [k for k in expected.index if k not in bad]
    assert sorted(stored.index) == sorted(keep)  # every good bar once, nothing else
    # The split is undone by Adj Close / Close: AAPL is continuous, as the truth is.
    np.testing.assert_allclose(
        stored.loc[keep, ["open", "high", "low", "close"]].to_numpy(),
        expected.loc[keep, ["open", "high", "low", "close"]].to_numpy(),
        rtol=1e-12,
    )
    assert not checks["price_bars_complete"].passed  # the gap in MSFT

    # A re-run adds nothing twice: the quarantine keeps the latest verdict.
    again = materialize_all(
        build_resources(path, as_of=AS_OF), sessions=len(SESSIONS), raise_on_error=False
    )
    assert not again.success
    assert len(read(path, "select * from market_data.price_bars_quarantine")) == len(planted.bad)


def test_a_long_table_with_reports_runs_the_whole_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    truth = write_long_table(folder, SESSIONS)
    write_reports(folder, SESSIONS[-1])
    files_env(monkeypatch, folder, portfolio(tmp_path, BOOK))
    path = str(tmp_path / "robo.duckdb")
    result = materialize_all(build_resources(path, as_of=AS_OF), sessions=len(SESSIONS))
    assert result.success
    bars = read(path, "select * from market_data.price_bars")
    assert len(bars) == len(truth) and bars["date"].max() == pd.Timestamp(AS_OF)
    universe = read(path, "select * from market_data.universe order by symbol")
    assert universe["symbol"].tolist() == ["AAPL", "JPM", "MSFT", "SPY", "XOM"]
    assert universe.set_index("symbol").loc["JPM", "sector"] == "Financials"
    fundamentals = read(path, "select * from market_data.fundamentals").set_index("symbol")
    close = bars[bars["date"] == bars["date"].max()].set_index("symbol")["close"]
    assert fundamentals.loc["AAPL", "pe_ratio"] == pytest.approx(close["AAPL"] / 6.1)
    earnings = read(path, "select * from market_data.earnings")
    assert set(earnings["status"]) == {"reported", "scheduled"}
    assert earnings.loc[earnings["status"] == "scheduled", "eps_actual"].isna().all()
    news = read(path, "select * from market_data.news")
    assert len(news) == 4 and news["sentiment"].notna().all()
    assert read(path, "select count(*) as n from market_data.option_chains")["n"].item() == 0
    features = read(path, "select * from ai_analysis.analysis_features")
    assert set(features["signals_not_provided"]) == {"options"}
    recs = read(path, "select * from ai_analysis.trade_recommendations")
    assert len(recs) and recs["rationale"].str.contains("not provided by the source: options").all()
    risk = read(path, "select * from portfolio.portfolio_risk").iloc[0]
    assert np.isfinite(risk["beta"])  # SPY is in the folder
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["price_bars_valid"].passed and checks["price_bars_complete"].passed


def test_without_spy_beta_is_reported_as_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    write_long_table(folder, SESSIONS, symbols=["AAPL", "MSFT", "JPM"])
    files_env(monkeypatch, folder, portfolio(tmp_path, BOOK))
    path = str(tmp_path / "robo.duckdb")
    assert materialize_all(build_resources(path, as_of=AS_OF), sessions=len(SESSIONS)).success
    risk = read(path, "select * from portfolio.portfolio_risk").iloc[0]
    assert pd.isna(risk["beta"]) and "SPY has no prices" in risk["beta_note"]
    features = read(path, "select distinct signals_not_provided from ai_analysis.analysis_features")
    assert features["signals_not_provided"].tolist() == ["news,earnings,valuation,options"]
    assessment = read(path, "select * from ai_analysis.risk_assessment")
    assert assessment["detail"].str.contains("SPY has no prices in the data").any()


# ---------------------------------------------------------------------------- layout
def test_a_missing_column_names_the_file_and_the_column(tmp_path: Path) -> None:
    (tmp_path / "bars").mkdir()
    (tmp_path / "bars" / "AAPL.csv").write_text("Date,Open,High,Low,Close\n2026-11-24,1,2,1,2\n")
    with pytest.raises(ProviderError, match=r"AAPL\.csv: no column 'volume'"):
        FilesMarketData(data_dir=str(tmp_path)).universe()


def test_an_unknown_layout_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="no bars found"):
        FilesMarketData(data_dir=str(tmp_path)).universe()
    write_long_table(tmp_path, SESSIONS[-5:])
    (tmp_path / "bars").mkdir()
    (tmp_path / "bars" / "AAPL.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    with pytest.raises(ProviderError, match="keep one layout"):
        FilesMarketData(data_dir=str(tmp_path)).universe()
    (tmp_path / "bars.csv").unlink()
    (tmp_path / "bars" / "not a ticker!.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    with pytest.raises(ProviderError, match="is not a ticker"):
        FilesMarketData(data_dir=str(tmp_path)).universe()


def test_a_bar_after_as_of_is_never_read(tmp_path: Path) -> None:
    write_long_table(tmp_path, SESSIONS)
    pinned = FilesMarketData(data_dir=str(tmp_path), as_of="2026-11-20")
    assert pinned.session() == dt.date(2026, 11, 20)
    assert FilesMarketData(data_dir=str(tmp_path)).session() == dt.date.fromisoformat(AS_OF)
    bars = pinned.daily_bars(["AAPL"], SESSIONS[-20:-3])
    assert bars["date"].max() == pd.Timestamp("2026-11-20")
    with pytest.raises(ProviderError, match="the market's latest closed session is 2026-11-20"):
        pinned.daily_bars(["AAPL"], [dt.date.fromisoformat(AS_OF)])
    with pytest.raises(UnknownSymbolError, match="NVDA"):
        pinned.daily_bars(["NVDA"], SESSIONS[-10:-9])


def test_what_the_folder_lacks_is_not_provided(tmp_path: Path) -> None:
    write_long_table(tmp_path, SESSIONS[-30:])
    source = FilesMarketData(data_dir=str(tmp_path))
    for fetch in (
        lambda: source.news(["AAPL"], SESSIONS[-5], SESSIONS[-1]),
        lambda: source.earnings(["AAPL"], SESSIONS[-5], SESSIONS[-1]),
        lambda: source.fundamentals(["AAPL"]),
        lambda: source.option_chains(["AAPL"]),
        lambda: source.quotes(["AAPL"], pd.Timestamp("2026-11-24 15:00")),
    ):
        with pytest.raises(DatasetNotProvided):
            fetch()


def test_bad_report_rows_are_clear_errors(tmp_path: Path) -> None:
    write_long_table(tmp_path, SESSIONS[-30:])
    write_reports(tmp_path, SESSIONS[-1])
    (tmp_path / "earnings.csv").write_text(
        "symbol,report_date,timing,eps_estimate,eps_actual\nAAPL,2026-11-01,LUNCH,1.0,1.1\n"
    )
    with pytest.raises(ProviderError, match=r"BMO or AMC.*LUNCH"):
        FilesMarketData(data_dir=str(tmp_path)).earnings(["AAPL"], SESSIONS[-30], SESSIONS[-1])
    (tmp_path / "news.jsonl").write_text(
        json.dumps(
            {
                "symbol": "AAPL",
                "published_at": "2026-11-24T15:00:00Z",
                "headline": "x",
                "source": "y",
                "impact": 7,
            }
        )
        + "\n"
    )
    with pytest.raises(ProviderError, match="impact must be a number from 0 to 1"):
        FilesMarketData(data_dir=str(tmp_path)).news(["AAPL"], SESSIONS[-5], SESSIONS[-1])


# ---------------------------------------------------------------------------- real data
# Slow (40-135 s): ten years of real bars through the whole graph. CI runs it with -m slow.
@pytest.mark.slow
def test_real_goog_2004_2013_through_the_files_source_matches_talib(tmp_path: Path) -> None:
    """GOOG's daily bars from 2004-08-19 to 2013-03-01 as the ``backtesting`` package
    ships them, run through ``python -m robo_dagster.cli.quickstart`` on the files source
    with ROBO_HISTORY_START in 2004: the indicators in DuckDB equal TA-Lib's."""
    from backtesting.test import GOOG

    folder = tmp_path / "data"
    (folder / "bars").mkdir(parents=True)
    # The package's CSV keeps the dates in an unnamed index column: name it as Yahoo does.
    GOOG.rename_axis("Date").to_csv(folder / "bars" / "GOOG.csv")
    book = portfolio(
        tmp_path,
        [{"date": "2012-06-01", "symbol": "GOOG", "side": "BUY", "quantity": 500}],
        opened_on="2012-06-01",
    )
    path = tmp_path / "robo.duckdb"
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "ROBO_MARKET_DATA": "files",
        "ROBO_DATA_DIR": str(folder),
        "ROBO_HISTORY_START": "2004-08-19",
        "ROBO_PORTFOLIO_FILE": book,
        "ROBO_DUCKDB_PATH": str(path),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "robo_dagster.cli.quickstart",
            "--sessions",
            "5000",
            "--replays",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "has 2148 sessions" in run.stdout
    stored = read(str(path), "select * from market_data.technical_indicators order by date")
    assert len(stored) == len(GOOG) == 2148
    assert stored["date"].iloc[0] == pd.Timestamp("2004-08-19")
    reference = talib_reference(GOOG.rename(columns=str.lower).reset_index(drop=True))
    for column, want in reference.items():
        np.testing.assert_allclose(
            stored[column].to_numpy()[SETTLED:], want[SETTLED:], rtol=1e-6, err_msg=column
        )
    risk = read(str(path), "select * from portfolio.portfolio_risk").iloc[0]
    assert pd.isna(risk["beta"]) and "SPY" in risk["beta_note"]
    # The quickstart ends by publishing the readers' snapshot, equal to the live file.
    snapshot = read(
        str(tmp_path / "robo.snapshot.duckdb"),
        "select * from market_data.technical_indicators order by date",
    )
    pd.testing.assert_frame_equal(snapshot, stored)

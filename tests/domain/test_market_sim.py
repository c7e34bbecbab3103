"""The simulated market: deterministic, calendar-aware, internally consistent."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import (
    BENCHMARK_SYMBOL,
    SEED_SYMBOLS,
    MarketSimulator,
    build_universe,
    validate_symbols,
)

SYMBOLS = [*SEED_SYMBOLS, BENCHMARK_SYMBOL, "AMZN", "JPM"]
SESSIONS = calendar.sessions_between("2024-06-01", "2026-11-27")


@pytest.fixture(scope="module")
def sim() -> MarketSimulator:
    return MarketSimulator(seed=7)


@pytest.fixture(scope="module")
def bars(sim: MarketSimulator) -> pd.DataFrame:
    return sim.daily_bars(SYMBOLS, SESSIONS)


def test_one_bar_per_symbol_and_session_and_none_on_closed_days(bars: pd.DataFrame) -> None:
    assert len(bars) == len(SYMBOLS) * len(SESSIONS)
    assert not bars.duplicated(["symbol", "date"]).any()
    dates = set(bars["date"].dt.date)
    assert dt.date(2026, 11, 26) not in dates  # Thanksgiving
    assert dt.date(2026, 11, 27) in dates  # early close, still a session
    assert all(d.weekday() < 5 for d in dates)


def test_bars_are_ohlc_consistent(bars: pd.DataFrame) -> None:
    assert (bars[["open", "high", "low", "close"]] > 0).all().all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["volume"] > 0).all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, len(SESSIONS) - 1), min_size=1, max_size=8, unique=True))
def test_any_batching_gives_the_same_bars(indices: list[int]) -> None:
    sim = MarketSimulator(seed=7)
    whole = sim.daily_bars(SYMBOLS, SESSIONS).set_index(["date", "symbol"])
    chosen = [SESSIONS[i] for i in indices]
    together = sim.daily_bars(["TSLA", "AAPL"], chosen).set_index(["date", "symbol"])
    one_by_one = pd.concat([sim.daily_bars(["AAPL", "TSLA"], [d]) for d in chosen]).set_index(
        ["date", "symbol"]
    )
    pd.testing.assert_frame_equal(together.sort_index(), one_by_one.sort_index())
    pd.testing.assert_frame_equal(together.sort_index(), whole.loc[together.index].sort_index())


def test_a_symbols_bars_do_not_depend_on_the_rest_of_the_universe(sim: MarketSimulator) -> None:
    days = SESSIONS[-30:]
    small = sim.daily_bars(["NVDA"], days)
    big_universe = build_universe([], 300)["symbol"].tolist()
    big = sim.daily_bars(big_universe, days)
    pd.testing.assert_frame_equal(
        small.reset_index(drop=True), big[big["symbol"] == "NVDA"].reset_index(drop=True)
    )


def test_seed_changes_the_market_and_same_seed_repeats_it() -> None:
    day = [SESSIONS[-1]]
    a = MarketSimulator(7).daily_bars(["AAPL"], day)
    assert a.equals(MarketSimulator(7).daily_bars(["AAPL"], day))
    assert not a.equals(MarketSimulator(8).daily_bars(["AAPL"], day))


def test_returns_have_the_factor_structure(bars: pd.DataFrame) -> None:
    closes = bars.pivot(index="date", columns="symbol", values="close")
    returns = np.log(closes).diff().dropna()
    vol = returns.std() * np.sqrt(252)
    # Each symbol's own volatility, within sampling error of ~600 days.
    assert vol["TSLA"] == pytest.approx(0.60, rel=0.15)
    assert vol["MSFT"] == pytest.approx(0.25, rel=0.15)
    assert vol[BENCHMARK_SYMBOL] == pytest.approx(0.175, rel=0.15)
    corr = returns.corr()
    # Same sector (AAPL, MSFT, NVDA: IT) correlates more than across sectors.
    assert corr.loc["AAPL", "MSFT"] > corr.loc["AAPL", "JPM"]
    assert (corr[BENCHMARK_SYMBOL].drop(BENCHMARK_SYMBOL) > 0.3).all()


def test_year_boundaries_are_continuous(sim: MarketSimulator) -> None:
    days = calendar.sessions_between("2025-12-24", "2026-01-07")
    frame = sim.daily_bars(["AAPL"], days).set_index("date")
    log_returns = np.log(frame["close"]).diff().dropna()
    assert (log_returns.abs() < 0.12).all()  # no jump where the yearly bridge changes


def test_non_sessions_and_bad_tickers_are_refused(sim: MarketSimulator) -> None:
    with pytest.raises(ValueError, match="not XNYS trading sessions"):
        sim.daily_bars(["AAPL"], [dt.date(2026, 11, 26)])
    with pytest.raises(ValueError, match="malformed ticker"):
        validate_symbols(["AAPL", "bad ticker!"])


def test_news_follows_the_idiosyncratic_move(sim: MarketSimulator) -> None:
    news = sim.news(SYMBOLS, dt.date(2025, 1, 1), dt.date(2026, 11, 25))
    assert {"news_id", "published_at", "symbol", "source", "headline", "impact"} <= set(
        news.columns
    )
    assert news["news_id"].is_unique
    assert news["impact"].between(0, 1).all()
    assert BENCHMARK_SYMBOL not in set(news["symbol"])
    by_tone = news.groupby("tone")["impact"].mean()
    assert by_tone["negative"] > by_tone["neutral"]


def test_earnings_have_actuals_only_once_reported(sim: MarketSimulator) -> None:
    as_of = dt.date(2026, 11, 25)
    reports = sim.earnings(list(SEED_SYMBOLS), dt.date(2026, 6, 1), dt.date(2027, 3, 1), as_of)
    done = reports[reports["status"] == "reported"]
    todo = reports[reports["status"] == "scheduled"]
    assert (done["report_date"] <= pd.Timestamp(as_of)).all() and done["eps_actual"].notna().all()
    assert (todo["report_date"] > pd.Timestamp(as_of)).all() and todo["eps_actual"].isna().all()
    assert all(calendar.is_session(d) for d in reports["report_date"].dt.date)


def test_option_chains_are_priced_around_spot(sim: MarketSimulator) -> None:
    as_of = dt.date(2026, 11, 25)
    chains = sim.option_chains(["AAPL", "TSLA"], as_of)
    spot = sim.daily_bars(["AAPL", "TSLA"], [as_of]).set_index("symbol")["close"]
    assert (chains["underlying_price"] == chains["symbol"].map(spot)).all()
    assert (chains["bid"] <= chains["ask"]).all()
    assert chains["expiry"].nunique() == 4
    assert ((chains["strike"] / chains["underlying_price"]).between(0.78, 1.22)).all()
    assert (chains["expiry"].dt.date > as_of).all()

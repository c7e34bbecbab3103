"""The simulated intraday quote stream agrees with the daily bars it ends in."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL, SEED_SYMBOLS, MarketSimulator
from robo_dagster.providers import ProviderError, SimulatedMarketData
from tests.conftest import WATCHLIST

SYMBOLS = [*SEED_SYMBOLS, BENCHMARK_SYMBOL, *WATCHLIST]
SESSION = dt.date(2026, 11, 24)  # a regular Tuesday: 14:30-21:00 UTC
EARLY = dt.date(2026, 11, 27)  # the day after Thanksgiving closes at 13:00 New York time


@pytest.fixture(scope="module")
def sim() -> MarketSimulator:
    return MarketSimulator(seed=7)


def _bar(sim: MarketSimulator, day: dt.date) -> pd.DataFrame:
    return sim.daily_bars(SYMBOLS, [day]).set_index("symbol")


def _utc(local: str) -> pd.Timestamp:
    return pd.Timestamp(local, tz=calendar.EXCHANGE_TIMEZONE).tz_convert("UTC").tz_localize(None)


def test_the_open_and_close_minutes_quote_the_daily_bar(sim: MarketSimulator) -> None:
    bar = _bar(sim, SESSION)
    at_open = sim.intraday_quotes(SYMBOLS, _utc("2026-11-24 09:30")).set_index("symbol")
    at_close = sim.intraday_quotes(SYMBOLS, _utc("2026-11-24 16:00:45")).set_index("symbol")
    assert (at_open["price"] == bar.loc[at_open.index, "open"]).all()
    assert (at_close["price"] == bar.loc[at_close.index, "close"]).all()
    assert (at_close["quoted_at"] == _utc("2026-11-24 16:00")).all()  # the minute, naive UTC


def test_every_minute_stays_inside_the_days_range(sim: MarketSimulator) -> None:
    bar = _bar(sim, SESSION)
    minutes = pd.date_range(_utc("2026-11-24 09:30"), _utc("2026-11-24 16:00"), freq="13min")
    path = pd.concat([sim.intraday_quotes(SYMBOLS, m) for m in minutes], ignore_index=True)
    low = path["symbol"].map(bar["low"])
    high = path["symbol"].map(bar["high"])
    assert ((path["price"] >= low) & (path["price"] <= high)).all()
    # A path, not a straight line: the prices move between the open and the close.
    assert path.groupby("symbol")["price"].nunique().min() > 5


def test_quotes_are_deterministic_whatever_the_batch(sim: MarketSimulator) -> None:
    at = _utc("2026-11-24 11:17:30")
    whole = sim.intraday_quotes(SYMBOLS, at).set_index("symbol")
    again = MarketSimulator(seed=7).intraday_quotes(list(reversed(SYMBOLS)), at).set_index("symbol")
    pd.testing.assert_frame_equal(whole, again.loc[whole.index])
    for symbol in ("TSLA", "SPY", "JPM"):
        alone = sim.intraday_quotes([symbol], at).set_index("symbol")
        assert alone.loc[symbol, "price"] == whole.loc[symbol, "price"]
    other_seed = MarketSimulator(seed=8).intraday_quotes(SYMBOLS, at).set_index("symbol")
    assert not np.allclose(other_seed["price"], whole["price"])


def test_previous_close_and_change_come_from_the_prior_session(sim: MarketSimulator) -> None:
    quotes = sim.intraday_quotes(SYMBOLS, _utc("2026-11-27 10:05")).set_index("symbol")
    prior = _bar(sim, dt.date(2026, 11, 25))  # Thanksgiving in between is skipped
    assert (quotes["previous_close"] == prior.loc[quotes.index, "close"]).all()
    expected = (quotes["price"] / quotes["previous_close"] - 1.0) * 100.0
    np.testing.assert_allclose(quotes["change_pct"], expected)


def test_the_early_close_ends_the_stream_at_13_00(sim: MarketSimulator) -> None:
    last = sim.intraday_quotes(SYMBOLS, _utc("2026-11-27 12:59")).set_index("symbol")
    assert len(last) == len(SYMBOLS)
    close = sim.intraday_quotes(SYMBOLS, _utc("2026-11-27 13:00")).set_index("symbol")
    assert (close["price"] == _bar(sim, EARLY).loc[close.index, "close"]).all()
    with pytest.raises(ValueError, match="closed at 13:00 New York time"):
        sim.intraday_quotes(SYMBOLS, _utc("2026-11-27 13:30"))


@pytest.mark.parametrize(
    ("local", "why"),
    [
        ("2026-11-26 11:00", "Thanksgiving"),
        ("2026-11-28 11:00", "weekend"),
        ("2026-11-24 09:29", "opens at 09:30"),
        ("2026-11-24 16:01", "closed at 16:00"),
    ],
)
def test_no_quote_outside_trading_hours(sim: MarketSimulator, local: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        sim.intraday_quotes(SYMBOLS, _utc(local))


def test_the_provider_validates_symbols_and_wraps_closed_markets() -> None:
    market = SimulatedMarketData(as_of="2026-11-20", watchlist=WATCHLIST, seed=7)
    # The wall clock given, not as_of, decides: a quote after as_of is served.
    quotes = market.quotes(["aapl", "SPY"], _utc("2026-11-24 12:00"))
    assert list(quotes["symbol"]) == ["AAPL", "SPY"]
    with pytest.raises(ProviderError, match="Thanksgiving"):
        market.quotes(["AAPL"], _utc("2026-11-26 12:00"))
    with pytest.raises(ProviderError, match="unknown symbol"):
        market.quotes(["ZZZZ"], _utc("2026-11-24 12:00"))

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
    RISK_FREE_RATE,
    SEED_SYMBOLS,
    MarketSimulator,
    build_universe,
    generated_symbols,
    validate_symbols,
)
from robo_dagster.domain.options import implied_volatility

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
    # A symbol's own volatility dominates: TSLA's is well above MSFT's in any 2.5 years.
    # (How close each comes to its long-run level: test_volatility_keeps_its_long_run_level.)
    assert vol["TSLA"] > 1.6 * vol["MSFT"]
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


# ------------------------------------------------------------------ stylized facts
FIVE_YEARS = calendar.sessions_between("2020-01-02", "2024-12-31")
FACT_SYMBOLS = generated_symbols(120)


def standardized_returns(seed: int) -> pd.DataFrame:
    bars = MarketSimulator(seed=seed).daily_bars(FACT_SYMBOLS, FIVE_YEARS)
    closes = bars.pivot(index="date", columns="symbol", values="close")
    returns = np.log(closes).diff().dropna()
    return (returns - returns.mean()) / returns.std()


def abs_autocorrelation(z: np.ndarray, lag: int) -> np.ndarray:
    """Per column, the autocorrelation of |z| at ``lag``."""
    a = np.abs(z) - np.abs(z).mean(axis=0)
    return (a[lag:] * a[:-lag]).mean(axis=0) / (a * a).mean(axis=0)


@pytest.mark.parametrize("seed", [7, 1, 3])
def test_five_years_of_a_symbol_show_the_stylized_facts_of_real_returns(seed: int) -> None:
    """Real GOOG 2004-2013: excess kurtosis 7.6, |r| lag-1 autocorrelation 0.16, 0.75 %
    of days beyond 4 sigma. Gaussian, independent returns give about 0, 0 and 0.006 %."""
    z = standardized_returns(seed).to_numpy()
    kurtosis = (z**4).mean(axis=0) - 3.0
    assert 3.0 <= np.median(kurtosis) <= 10.0
    lag1 = np.median(abs_autocorrelation(z, 1))
    assert 0.1 <= lag1 <= 0.3
    # Decaying over 20 lags, but still there: clustering lasts weeks.
    lags_15_to_20 = np.median([abs_autocorrelation(z, k) for k in range(15, 21)], axis=1)
    assert 0.0 < lags_15_to_20.mean() < 0.8 * lag1
    beyond_4_sigma = np.median((np.abs(z) > 4).mean(axis=0))
    assert 0.003 <= beyond_4_sigma <= 0.015
    # The leverage effect, mild: a fall today, a larger move tomorrow.
    leverage = [np.corrcoef(z[:-1, i], np.abs(z[1:, i]))[0, 1] for i in range(z.shape[1])]
    assert -0.2 < np.median(leverage) < 0.0


def test_volatility_keeps_its_long_run_level(sim: MarketSimulator) -> None:
    """Clustering moves a symbol's volatility from year to year, not its long-run level."""
    sessions = calendar.sessions_between("2015-01-02", "2026-11-27")
    symbols = [*FACT_SYMBOLS, "TSLA", "MSFT"]
    bars = sim.daily_bars([*symbols, BENCHMARK_SYMBOL], sessions)
    returns = np.log(bars.pivot(index="date", columns="symbol", values="close")).diff()
    # Every symbol shares the one market path, whose 12 years may run hot or cold: take
    # its realized variance (SPY's) as it came, and the sector and own parts at their
    # long-run levels.
    prof = sim.profiles(symbols).set_index("symbol")
    market_var = returns[BENCHMARK_SYMBOL].var()
    own_var = prof["sector_daily_vol"] ** 2 + prof["idio_daily_vol"] ** 2
    expected = np.sqrt(252 * (prof["beta"] ** 2 * market_var + own_var))
    ratio = returns[symbols].std() * np.sqrt(252) / expected
    assert 0.95 <= ratio.median() <= 1.05
    assert ratio.between(0.7, 1.4).all()
    spy = returns[BENCHMARK_SYMBOL].std() * np.sqrt(252)
    assert 0.6 * 0.175 < spy < 1.6 * 0.175
    yearly = returns["TSLA"].groupby(returns.index.year).std() * np.sqrt(252)
    assert yearly.max() / yearly.min() > 1.3  # calm years and turbulent ones


def test_a_turbulent_day_has_a_wide_bar(sim: MarketSimulator) -> None:
    """The high-low range follows the day's own volatility, so it clusters as |r| does."""
    bars = sim.daily_bars(FACT_SYMBOLS[:40], FIVE_YEARS)
    spread = np.log(bars["high"] / bars["low"])
    moves = np.log(bars["close"]).groupby(bars["symbol"]).diff().abs()
    frame = pd.DataFrame({"symbol": bars["symbol"], "spread": spread, "move": moves}).dropna()
    by_symbol = frame.groupby("symbol")[["spread", "move"]].corr().xs("spread", level=1)["move"]
    assert by_symbol.median() > 0.3


def test_options_are_dear_in_turbulent_weeks_and_revert_with_the_expiry(
    sim: MarketSimulator,
) -> None:
    sessions = calendar.sessions_between("2025-01-02", "2025-12-31")
    bars, vols = sim._bars_and_vols(["TSLA"], sessions)
    calm, wild = bars["date"].iloc[np.argmin(vols)], bars["date"].iloc[np.argmax(vols)]

    def atm_iv(day: pd.Timestamp) -> pd.Series:
        """The at-the-money call's implied volatility, from its mid, per expiry."""
        chain = sim.option_chains(["TSLA"], day.date())
        chain = chain[chain["option_type"] == "call"]
        nearest = (chain["strike"] / chain["underlying_price"] - 1).abs()
        chain = chain[nearest == nearest.groupby(chain["expiry"]).transform("min")]
        iv = implied_volatility(
            (chain["bid"] + chain["ask"]) / 2,
            chain["underlying_price"],
            chain["strike"],
            chain["days_to_expiry"] / 365.0,
            RISK_FREE_RATE,
            True,
            chain["dividend_yield"],
        )
        return pd.Series(iv, index=chain["days_to_expiry"]).groupby(level=0).mean()

    calm_iv, wild_iv = atm_iv(calm), atm_iv(wild)
    assert wild_iv.iloc[0] > calm_iv.iloc[0] * 1.2
    # Longer expiries expect the turbulence to fade, and the calm to end.
    assert wild_iv.iloc[-1] < wild_iv.iloc[0]
    assert calm_iv.iloc[-1] > calm_iv.iloc[0]

"""A deterministic simulated market: the embedded default behind every provider.

Daily log returns follow a factor model,

    r[i, t] = mu_i + beta_i * s_m * m[t] + s_s * f[sector(i), t] + s_e_i * e[i, t],

with a market factor ``m``, one factor per sector ``f`` and an idiosyncratic part ``e``,
each of unit variance on average but with stochastic volatility (``stochastic_vol``,
``VOL_DYNAMICS``): volatility clusters, tails are fat (the idiosyncratic part draws
Student-t shocks) and a fall raises the next days' volatility. ``s_e_i`` is chosen so
that each symbol has its own total volatility in the long run. The benchmark ``SPY`` is
the market factor itself (beta 1, no sector, no idiosyncratic part), so "beta to the
market factor" is a regression on SPY.

Determinism: every draw is a hash of (seed, stream, entity, day), so a bar never depends
on which other days or symbols are asked for at the same time. Each volatility path runs
from the epoch (2015), which costs draws but no sums to keep. Price *levels* need the
sum of all earlier returns; to avoid summing those from the epoch every time, each
factor's path is a Brownian bridge per calendar year in business time: the year's total
is drawn from its own key with the year's summed variance, and the year's daily steps
are conditioned on it. The level at any day needs only the yearly totals before it plus
the steps of its own year. A bar's range scales with the day's own volatility.

Intraday quotes use the same trick one level down: a session's minute-by-minute path is
a Brownian bridge from the day's simulated open to its close, clipped into the day's
range, so the live stream never contradicts the daily bar it ends in.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from robo_dagster.domain import calendar
from robo_dagster.domain.options import black_scholes_price, smile_vol
from robo_dagster.domain.random_streams import (
    normal_pair,
    normals,
    second_uniforms,
    stable_hash,
    stream_keys,
    uniforms,
)
from robo_dagster.domain.stochastic_vol import (
    VolDynamics,
    bridge_to_total,
    fat_tailed,
    log_vol_path,
    variance_from_log_vol,
)

SEED_SYMBOLS: tuple[str, ...] = ("AAPL", "GOOGL", "MSFT", "TSLA", "NVDA")
BENCHMARK_SYMBOL = "SPY"
DEFAULT_WATCHLIST: tuple[str, ...] = ("AMZN", "META", "JPM", "XOM", "UNH")
SECTORS: tuple[str, ...] = (
    "Information Technology",
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Materials",
    "Real Estate",
    "Utilities",
)
BENCHMARK_SECTOR = "Index"
TRADING_DAYS_PER_YEAR = 252
RISK_FREE_RATE = 0.04
MARKET_DAILY_VOL = 0.011
SECTOR_DAILY_VOL = 0.006
MIN_IDIO_DAILY_VOL = 0.004
# Intraday: a regular session's minutes, and the share of a day's volatility that moves
# the price between the open and the close (the rest is the overnight gap).
REGULAR_SESSION_MINUTES = 390
INTRADAY_VOL_SHARE = 0.7
TICKER_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


@dataclass(frozen=True)
class KnownCompany:
    name: str
    sector: str
    beta: float
    vol: float
    price0: float
    pe0: float
    shares_m: float
    dividend_yield: float


# Plausible, not historical: the simulator starts these in 2015 and lets them drift.
KNOWN_COMPANIES: dict[str, KnownCompany] = {
    "AAPL": KnownCompany(
        "Apple Inc.", "Information Technology", 1.20, 0.28, 95.0, 16.0, 15_000, 0.005
    ),
    "GOOGL": KnownCompany(
        "Alphabet Inc.", "Communication Services", 1.10, 0.30, 70.0, 24.0, 12_300, 0.0
    ),
    "MSFT": KnownCompany(
        "Microsoft Corp.", "Information Technology", 1.05, 0.25, 170.0, 28.0, 7_430, 0.008
    ),
    "TSLA": KnownCompany(
        "Tesla Inc.", "Consumer Discretionary", 1.90, 0.60, 100.0, 60.0, 3_200, 0.0
    ),
    "NVDA": KnownCompany(
        "NVIDIA Corp.", "Information Technology", 1.70, 0.50, 50.0, 40.0, 24_400, 0.0003
    ),
    "AMZN": KnownCompany(
        "Amazon.com Inc.", "Consumer Discretionary", 1.15, 0.32, 90.0, 45.0, 10_500, 0.0
    ),
    "META": KnownCompany(
        "Meta Platforms Inc.", "Communication Services", 1.25, 0.38, 150.0, 25.0, 2_540, 0.004
    ),
    "JPM": KnownCompany("JPMorgan Chase & Co.", "Financials", 1.05, 0.24, 80.0, 11.0, 2_870, 0.024),
    "XOM": KnownCompany("Exxon Mobil Corp.", "Energy", 0.85, 0.27, 75.0, 12.0, 4_000, 0.034),
    "UNH": KnownCompany(
        "UnitedHealth Group Inc.", "Health Care", 0.70, 0.22, 200.0, 20.0, 920, 0.015
    ),
    "SPY": KnownCompany("SPDR S&P 500 ETF", BENCHMARK_SECTOR, 1.0, 0.0, 240.0, 22.0, 920, 0.013),
}

_NAME_HEADS = (
    "North",
    "Blue",
    "Iron",
    "Silver",
    "Summit",
    "Harbor",
    "Pioneer",
    "Granite",
    "Cedar",
    "Atlas",
    "Vertex",
    "Crescent",
    "Sterling",
    "Beacon",
    "Redwood",
    "Falcon",
    "Orion",
    "Delta",
)
_NAME_TAILS = (
    "Dynamics",
    "Holdings",
    "Systems",
    "Labs",
    "Industries",
    "Networks",
    "Energy",
    "Health",
    "Capital",
    "Materials",
    "Logistics",
    "Foods",
    "Robotics",
    "Semiconductor",
    "Bancorp",
)


def validate_symbols(symbols: list[str] | tuple[str, ...]) -> list[str]:
    """Upper-cased, de-duplicated tickers; raises ValueError naming any malformed one."""
    cleaned: list[str] = []
    bad: list[str] = []
    for raw in symbols:
        ticker = str(raw).strip().upper()
        if not TICKER_PATTERN.match(ticker):
            bad.append(repr(raw))
        elif ticker not in cleaned:
            cleaned.append(ticker)
    if bad:
        raise ValueError(
            f"malformed ticker(s) {', '.join(bad)}: a ticker is 1-10 characters, A-Z, 0-9, '.' or '-'"
        )
    return cleaned


def generated_symbols(count: int) -> list[str]:
    """``count`` synthetic tickers (``SIM0001``...) that grow the universe for benchmarks."""
    return [f"SIM{i:04d}" for i in range(1, count + 1)]


def build_universe(watchlist: list[str] | tuple[str, ...], size: int = 0) -> pd.DataFrame:
    """The tradable universe: the seed's symbols, the benchmark, the watchlist, then
    generated symbols until there are ``size`` in all (``size`` 0 adds none)."""
    watch = validate_symbols(list(watchlist))
    symbols = [*SEED_SYMBOLS, BENCHMARK_SYMBOL]
    symbols += [s for s in watch if s not in symbols]
    if size > len(symbols):
        symbols += generated_symbols(size - len(symbols))
    frame = pd.DataFrame({"symbol": symbols})
    frame["is_seed_symbol"] = frame["symbol"].isin(SEED_SYMBOLS)
    frame["on_watchlist"] = frame["symbol"].isin(watch)
    frame["is_benchmark"] = frame["symbol"] == BENCHMARK_SYMBOL
    return frame


def _epoch_year() -> int:
    return calendar.CALENDAR_START.year


# Each stream's volatility process (``stochastic_vol``). Calibrated so that a symbol's
# daily returns over five years show the stylized facts of real equities (median excess
# kurtosis 3-10, |r| autocorrelated 0.15-0.2 at lag 1 and decaying, about 0.5 % of days
# beyond 4 sigma, returns negatively correlated with the next day's |r|) for any seed; see
# tests/domain/test_market_sim.py. The market clusters most and has the strongest
# leverage; a symbol's own news has the fattest tails.
VOL_DYNAMICS: dict[str, VolDynamics] = {
    "market": VolDynamics(persistence=0.98, vol_of_vol=0.14, leverage=-0.6),
    "sector": VolDynamics(persistence=0.96, vol_of_vol=0.12, leverage=-0.3),
    "idio": VolDynamics(persistence=0.95, vol_of_vol=0.15, leverage=-0.3, tail_dof=5.0),
}


# How fast option markets expect volatility to revert: a half-life of about a month.
IV_REVERSION_PER_DAY = 0.97


@dataclass(frozen=True)
class StreamYear:
    """One stream over one year: steps and levels (days × entities) in units of its
    unconditional daily volatility, the level before the year, and the daily variances."""

    sessions: pd.DatetimeIndex
    steps: np.ndarray
    levels: np.ndarray
    base: np.ndarray
    variance: np.ndarray


@dataclass(frozen=True)
class YearCloses:
    """Log closes (days × symbols), the log close before the year, and each day's
    conditional daily volatility of the log return."""

    sessions: pd.DatetimeIndex
    log_close: np.ndarray
    prev_log_close: np.ndarray
    daily_vol: np.ndarray


class MarketSimulator:
    """The simulated market for one seed. Every method is a pure function of its
    arguments and the seed."""

    def __init__(self, seed: int = 7) -> None:
        self.seed = int(seed)

    # ------------------------------------------------------------------ profiles
    def profiles(self, symbols: list[str]) -> pd.DataFrame:
        """Static properties of each symbol: name, sector, beta, volatility, drift,
        starting price, earnings yield, shares and dividend yield."""
        symbols = list(symbols)
        ids = np.array([stable_hash(s) for s in symbols], dtype=np.uint64)
        u = uniforms(stream_keys(self.seed, "profile", ids, np.arange(10)))  # (10, n)
        sector_idx = np.minimum((u[0] * len(SECTORS)).astype(int), len(SECTORS) - 1)
        frame = pd.DataFrame(
            {
                "symbol": symbols,
                "name": [
                    f"{_NAME_HEADS[int(a * len(_NAME_HEADS))]} {_NAME_TAILS[int(b * len(_NAME_TAILS))]}"
                    for a, b in zip(u[1], u[2], strict=True)
                ],
                "sector": [SECTORS[i] for i in sector_idx],
                "beta": 0.5 + 1.2 * u[3],
                "vol": 0.18 + 0.45 * u[4] ** 1.5,
                "price0": np.exp(np.log(8.0) + (np.log(400.0) - np.log(8.0)) * u[5]),
                "pe0": 9.0 + 30.0 * u[6],
                "shares_m": np.exp(np.log(40.0) + (np.log(3000.0) - np.log(40.0)) * u[7]),
                "dividend_yield": np.where(u[8] < 0.4, 0.0, 0.035 * u[9]),
            }
        )
        # Known companies keep their own profile: one assignment per column, not per
        # company (sensors ask for profiles every few seconds).
        known = [(i, KNOWN_COMPANIES[s]) for i, s in enumerate(symbols) if s in KNOWN_COMPANIES]
        if known:
            rows = np.array([i for i, _ in known])
            for column in ("name", "sector"):
                values = frame[column].to_numpy(dtype=object, copy=True)
                values[rows] = [getattr(c, column) for _, c in known]
                frame[column] = values
            for column in ("beta", "vol", "price0", "pe0", "shares_m", "dividend_yield"):
                numbers = frame[column].to_numpy(dtype=float, copy=True)
                numbers[rows] = [getattr(c, column) for _, c in known]
                frame[column] = numbers
        is_benchmark = (frame["symbol"] == BENCHMARK_SYMBOL).to_numpy()
        market_var = (frame["beta"] * MARKET_DAILY_VOL) ** 2
        total_var = (frame["vol"] ** 2) / TRADING_DAYS_PER_YEAR
        idio_var = (total_var - market_var - SECTOR_DAILY_VOL**2).clip(lower=MIN_IDIO_DAILY_VOL**2)
        frame["idio_daily_vol"] = np.where(is_benchmark, 0.0, np.sqrt(idio_var))
        frame["sector_daily_vol"] = np.where(is_benchmark, 0.0, SECTOR_DAILY_VOL)
        frame["vol"] = np.sqrt(
            TRADING_DAYS_PER_YEAR
            * (market_var + frame["sector_daily_vol"] ** 2 + frame["idio_daily_vol"] ** 2)
        )
        # A log drift of ~7 % a year before the convexity correction.
        frame["daily_drift"] = (
            0.07 / TRADING_DAYS_PER_YEAR - 0.5 * frame["vol"] ** 2 / TRADING_DAYS_PER_YEAR
        )
        frame["avg_volume"] = (frame["shares_m"] * 1e6 * (0.002 + 0.01 * u[9])).round()
        frame["entity_id"] = ids
        return frame

    # ------------------------------------------------------------------ factor paths
    @cached_property
    def _sessions(self) -> pd.DatetimeIndex:
        return calendar.exchange_calendar().sessions

    def _year_sessions(self, year: int) -> pd.DatetimeIndex:
        s = self._sessions
        return s[(s.year == year)]

    def _session_number(self, sessions: pd.DatetimeIndex) -> np.ndarray:
        return self._sessions.get_indexer(sessions)

    def _stream_years(
        self, stream: str, entities: np.ndarray, years: list[int]
    ) -> dict[int, StreamYear]:
        """One stream's bridged steps and levels (in units of its unconditional daily
        volatility) and daily variances, for each of ``years``.

        The volatility path runs from the epoch's first session, so a day's values never
        depend on which other days are asked for; the years in between cost their draws
        and their variance sums, not their steps. A level is the sum of all steps since
        the epoch, so ``levels[-1]`` of a year is the sum of its total and those before.
        """
        first = _epoch_year()
        if min(years) < first:
            raise ValueError(
                f"the simulated market starts in {first}: there are no bars for {min(years)}"
            )
        dynamics = VOL_DYNAMICS[stream]
        span = np.arange(first, max(years) + 1)
        year_draws = normals(stream_keys(self.seed, stream + ":year", entities, span))
        start = normals(stream_keys(self.seed, stream + ":vol0", entities, np.array([0])))[0]
        h_before = math.sqrt(dynamics.log_vol_variance) * start
        shock_before = np.zeros(len(entities))
        base = np.zeros(len(entities))
        wanted = set(years)
        out: dict[int, StreamYear] = {}
        for i, year in enumerate(span):
            sessions = self._year_sessions(int(year))
            days = sessions.map(pd.Timestamp.toordinal).to_numpy(dtype=np.int64)
            shocks, innovations = normal_pair(stream_keys(self.seed, stream, entities, days))
            h = log_vol_path(shocks, innovations, h_before, shock_before, dynamics)
            variance = variance_from_log_vol(h, dynamics)
            total = np.sqrt(variance.sum(axis=0)) * year_draws[i]
            if int(year) in wanted:
                free = np.sqrt(variance) * fat_tailed(shocks, dynamics)
                steps = bridge_to_total(free, variance, total)
                levels = base + np.cumsum(steps, axis=0)
                out[int(year)] = StreamYear(sessions, steps, levels, base.copy(), variance)
            base = base + total
            h_before, shock_before = h[-1], shocks[-1]
        return out

    def _log_closes(self, years: list[int], prof: pd.DataFrame) -> dict[int, YearCloses]:
        """Log closes, the log close before each year's first session, and each day's
        conditional daily volatility, for the sessions of each of ``years``."""
        sector_ids = np.array([stable_hash("sector:" + s) for s in SECTORS], dtype=np.uint64)
        market = self._stream_years("market", np.array([1], dtype=np.uint64), years)
        sectors = self._stream_years("sector", sector_ids, years)
        idio = self._stream_years("idio", prof["entity_id"].to_numpy(np.uint64), years)
        sector_col = np.array(
            [SECTORS.index(s) if s in SECTORS else 0 for s in prof["sector"]], dtype=int
        )
        s_market = prof["beta"].to_numpy() * MARKET_DAILY_VOL
        s_sec = prof["sector_daily_vol"].to_numpy()
        s_idio = prof["idio_daily_vol"].to_numpy()
        drift = prof["daily_drift"].to_numpy()
        log_p0 = np.log(prof["price0"].to_numpy())

        def level(m: np.ndarray, sec: np.ndarray, e: np.ndarray, n: np.ndarray) -> np.ndarray:
            return (
                log_p0
                + drift * (n[:, None] + 1.0)
                + s_market * m
                + s_sec * sec[:, sector_col]
                + s_idio * e
            )

        out: dict[int, YearCloses] = {}
        for year in years:
            m, sec, e = market[year], sectors[year], idio[year]
            number = self._session_number(m.sessions).astype(float)
            log_close = level(m.levels, sec.levels, e.levels, number)
            prev = level(m.base[None, :], sec.base[None, :], e.base[None, :], number[:1] - 1.0)
            daily_vol = np.sqrt(
                s_market**2 * m.variance
                + s_sec**2 * sec.variance[:, sector_col]
                + s_idio**2 * e.variance
            )
            out[year] = YearCloses(m.sessions, log_close, prev[0], daily_vol)
        return out

    # ------------------------------------------------------------------ public data
    def daily_bars(
        self, symbols: list[str], sessions: list[dt.date] | pd.DatetimeIndex
    ) -> pd.DataFrame:
        """Daily OHLCV bars for ``symbols`` on the given trading sessions.

        The bars are internally consistent (low <= open, close <= high; volume > 0) and the
        same (seed, symbol, session) always gives the same bar.
        """
        return self._bars_and_vols(symbols, sessions)[0]

    def _bars_and_vols(
        self, symbols: list[str], sessions: list[dt.date] | pd.DatetimeIndex
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """``daily_bars``, and each bar's conditional daily volatility in the same order."""
        wanted = pd.DatetimeIndex(pd.to_datetime(list(sessions))).normalize().unique().sort_values()
        not_sessions = wanted.difference(self._sessions)
        if len(not_sessions):
            raise ValueError(
                "not XNYS trading sessions: "
                + ", ".join(d.date().isoformat() for d in not_sessions[:5])
            )
        if len(wanted) == 0 or not symbols:
            raise ValueError("daily_bars needs at least one symbol and one session")
        # Profiles in ticker order make each year's frame come out sorted by (date,
        # symbol): sorting millions of rows afterwards cost more than generating them.
        prof = self.profiles(sorted(set(symbols)))
        frames = []
        vols = []
        years = sorted(set(wanted.year))
        for year, closes in self._log_closes(years, prof).items():
            log_prev = np.vstack([closes.prev_log_close[None, :], closes.log_close[:-1]])
            rows = closes.sessions.get_indexer(wanted[wanted.year == year])
            vols.append(closes.daily_vol[rows].ravel())
            frames.append(
                self._ohlcv(
                    prof,
                    closes.sessions[rows],
                    closes.log_close[rows],
                    log_prev[rows],
                    closes.daily_vol[rows],
                )
            )
        return pd.concat(frames, ignore_index=True), np.concatenate(vols)

    def _ohlcv(
        self,
        prof: pd.DataFrame,
        sessions: pd.DatetimeIndex,
        log_close: np.ndarray,
        log_prev: np.ndarray,
        daily_vol: np.ndarray,
    ) -> pd.DataFrame:
        """Bars around the closes. The gap noise and the range scale with the day's own
        volatility (``daily_vol``, days × symbols), so turbulent days have wide bars; the
        volume grows with the move against the symbol's usual volatility."""
        days = sessions.map(pd.Timestamp.toordinal).to_numpy(dtype=np.int64)
        ids = prof["entity_id"].to_numpy(np.uint64)
        keys_a = stream_keys(self.seed, "bar:a", ids, days)
        keys_b = stream_keys(self.seed, "bar:b", ids, days)
        gap_noise, vol_noise = normal_pair(keys_a)
        hi_noise, lo_noise = normal_pair(keys_b)
        usual_vol = (prof["vol"].to_numpy() / np.sqrt(TRADING_DAYS_PER_YEAR))[None, :]
        ret = log_close - log_prev
        # About a third of a day's move happens overnight, plus a little gap noise.
        log_open = log_prev + 0.3 * ret + 0.15 * daily_vol * gap_noise
        close = np.exp(log_close)
        open_ = np.exp(log_open)
        high = np.maximum(open_, close) * np.exp(0.35 * daily_vol * np.abs(hi_noise))
        low = np.minimum(open_, close) * np.exp(-0.35 * daily_vol * np.abs(lo_noise))
        surprise = np.abs(ret) / np.maximum(usual_vol, 1e-9)
        volume = prof["avg_volume"].to_numpy()[None, :] * np.exp(
            0.25 * vol_noise + 0.2 * surprise - 0.1
        )
        n_days, n_sym = close.shape
        return pd.DataFrame(
            {
                "date": np.repeat(sessions.to_numpy(), n_sym),
                "symbol": np.tile(prof["symbol"].to_numpy(), n_days),
                "open": open_.ravel().round(4),
                "high": high.ravel().round(4),
                "low": low.ravel().round(4),
                "close": close.ravel().round(4),
                "volume": np.maximum(volume.ravel().round(), 1.0).astype(np.int64),
            }
        )

    def idiosyncratic_shocks(self, symbols: list[str], sessions: pd.DatetimeIndex) -> pd.DataFrame:
        """The standardised idiosyncratic move of each symbol on each session
        (sessions × symbols): what the news of the day is about."""
        prof = self.profiles(list(symbols))
        ids = prof["entity_id"].to_numpy(np.uint64)
        parts = []
        for year, path in self._stream_years("idio", ids, sorted(set(sessions.year))).items():
            part = pd.DataFrame(path.steps, index=path.sessions, columns=prof["symbol"])
            parts.append(part.loc[sessions[sessions.year == year]])
        return pd.concat(parts)

    # ------------------------------------------------------------------ intraday
    def intraday_quotes(self, symbols: list[str], at: pd.Timestamp) -> pd.DataFrame:
        """Last-trade quotes of ``symbols`` at the minute of ``at`` (naive UTC).

        The intraday log price of a session is a Brownian bridge over its minutes from the
        simulated open to the simulated close, so the stream agrees with ``daily_bars``:
        the open minute quotes the bar's open, the close minute its close, and every quote
        is clipped into the bar's [low, high]. The bridge's steps are counter-based draws
        keyed by (seed, symbol, session, minute), so a quote never depends on which other
        symbols or minutes are asked for. Returns symbol, quoted_at (the minute, naive UTC),
        price, previous_close (the prior session's close) and change_pct, one row per
        symbol in ticker order.

        Raises ValueError outside a session's trading hours (before the open, after the
        close, on a weekend or a holiday): there is no live price to quote then.
        """
        minute_utc = _naive_utc(at).floor("min")
        session, minute, minutes = session_minute(minute_utc)
        wanted = sorted(validate_symbols(list(symbols)))
        if not wanted:
            raise ValueError("intraday_quotes needs at least one symbol")
        previous = calendar.previous_session(session)
        bars = self.daily_bars(wanted, [previous, session])
        today = bars[bars["date"] == pd.Timestamp(session)].set_index("symbol").loc[wanted]
        before = bars[bars["date"] == pd.Timestamp(previous)].set_index("symbol").loc[wanted]
        prof = self.profiles(wanted)
        open_, close = today["open"].to_numpy(), today["close"].to_numpy()
        low, high = today["low"].to_numpy(), today["high"].to_numpy()
        bridge = self._intraday_bridge(prof, session, minutes)[minute]
        sigma = INTRADAY_VOL_SHARE * prof["vol"].to_numpy() / np.sqrt(TRADING_DAYS_PER_YEAR)
        sigma = sigma / np.sqrt(REGULAR_SESSION_MINUTES)
        weight = minute / minutes
        log_price = (1.0 - weight) * np.log(open_) + weight * np.log(close) + sigma * bridge
        price = np.clip(np.exp(log_price).round(4), low, high)
        if minute == 0:
            price = open_.copy()
        elif minute == minutes:
            price = close.copy()
        previous_close = before["close"].to_numpy()
        return pd.DataFrame(
            {
                "symbol": wanted,
                "quoted_at": minute_utc,
                "price": price,
                "previous_close": previous_close,
                "change_pct": (price / previous_close - 1.0) * 100.0,
            }
        )

    def _intraday_bridge(self, prof: pd.DataFrame, session: dt.date, minutes: int) -> np.ndarray:
        """A standard Brownian bridge pinned to 0 at both ends of the session
        ((minutes + 1) × symbols): row k is the walk after k one-minute steps, minus the
        share k / minutes of the whole walk."""
        ids = prof["entity_id"].to_numpy(np.uint64)
        # Minute j of the session's day is counter ordinal * 1024 + j (a session has at most
        # 390 minutes), so no two minutes of any day share a draw.
        counters = pd.Timestamp(session).toordinal() * 1024 + np.arange(1, minutes + 1)
        steps = normals(stream_keys(self.seed, "intraday", ids, counters.astype(np.int64)))
        walk = np.vstack([np.zeros((1, len(ids))), np.cumsum(steps, axis=0)])
        share = np.arange(minutes + 1)[:, None] / minutes
        return walk - share * walk[-1]

    # ------------------------------------------------------------------ news
    def news(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Headlines for ``symbols`` published on sessions from ``start`` to ``end``.

        Their tone follows the symbol's idiosyncratic move that day, and the vendor's
        impact score grows with the size of the move.
        """
        sessions = calendar.session_index(start, end)
        columns = ["news_id", "published_at", "symbol", "source", "headline", "impact", "tone"]
        if len(sessions) == 0:
            return pd.DataFrame(columns=columns)
        symbols = [s for s in symbols if s != BENCHMARK_SYMBOL]
        if not symbols:
            return pd.DataFrame(columns=columns)
        prof = self.profiles(symbols)
        shocks = self.idiosyncratic_shocks(symbols, sessions).to_numpy()
        ids = prof["entity_id"].to_numpy(np.uint64)
        days = sessions.map(pd.Timestamp.toordinal).to_numpy(dtype=np.int64)
        records = []
        for slot, base_rate in enumerate((0.30, 0.10)):
            keys = stream_keys(self.seed, f"news:{slot}", ids, days)
            u_exists, u_pick = uniforms(keys), second_uniforms(keys)
            big_move = np.abs(shocks) > 1.8
            exists = (u_exists < base_rate) | (big_move & (slot == 0))
            d_idx, s_idx = np.nonzero(exists)
            shock = shocks[d_idx, s_idx]
            pick = u_pick[d_idx, s_idx]
            tone = np.where(shock > 0.6, "positive", np.where(shock < -0.6, "negative", "neutral"))
            impact = np.clip(0.15 + 0.22 * np.abs(shock) + 0.2 * pick, 0.0, 1.0).round(2)
            minutes = (330 + (pick * 600).astype(int)) % 960  # 05:30 to 21:30
            records.append(
                pd.DataFrame(
                    {
                        "date": sessions[d_idx],
                        "minute": minutes,
                        "symbol": prof["symbol"].to_numpy()[s_idx],
                        "name": prof["name"].to_numpy()[s_idx],
                        "tone": tone,
                        "impact": impact,
                        "pick": pick,
                        "key": keys[d_idx, s_idx],
                    }
                )
            )
        raw = pd.concat(records, ignore_index=True)
        if raw.empty:
            return pd.DataFrame(columns=columns)
        template_idx = (raw["pick"].to_numpy() * 997).astype(int)
        headlines = np.empty(len(raw), dtype=object)
        for tone_name, templates in _HEADLINES.items():
            hit = (raw["tone"] == tone_name).to_numpy()
            chosen = np.array(templates, dtype=object)[template_idx[hit] % len(templates)]
            headlines[hit] = [
                t.format(name=n) for t, n in zip(chosen, raw["name"].to_numpy()[hit], strict=True)
            ]
        published = (
            (raw["date"] + pd.to_timedelta(raw["minute"], unit="m"))
            .dt.tz_localize(calendar.EXCHANGE_TIMEZONE)
            .dt.tz_convert("UTC")
            .dt.tz_localize(None)
        )
        out = pd.DataFrame(
            {
                "news_id": [f"{int(k):016x}" for k in raw["key"].to_numpy()],
                "published_at": published,
                "symbol": raw["symbol"],
                "source": np.array(_SOURCES, dtype=object)[template_idx % len(_SOURCES)],
                "headline": headlines,
                "impact": raw["impact"].astype(float),
                "tone": raw["tone"],
            }
        )
        return out.sort_values(["published_at", "symbol", "news_id"], ignore_index=True)

    # ------------------------------------------------------------------ earnings
    def earnings(
        self, symbols: list[str], start: dt.date, end: dt.date, as_of: dt.date
    ) -> pd.DataFrame:
        """Quarterly earnings reports dated from ``start`` to ``end``; actuals and the
        surprise only for reports on or before ``as_of``."""
        prof = self.profiles([s for s in symbols if s != BENCHMARK_SYMBOL])
        if prof.empty:
            return pd.DataFrame()
        ids = prof["entity_id"].to_numpy(np.uint64)
        first_q = _quarter_number(start) - 1
        last_q = _quarter_number(end)
        quarters = np.arange(first_q, last_q + 1)
        u = uniforms(stream_keys(self.seed, "earnings:lag", ids, np.array([0])))[0]
        lag_days = (18 + 27 * u).astype(int)
        timing = np.where(
            second_uniforms(stream_keys(self.seed, "earnings:lag", ids, np.array([0])))[0] < 0.5,
            "BMO",
            "AMC",
        )
        quarter_ends = [_quarter_end(int(q)) for q in quarters]
        report_raw = np.array(
            [[qe + dt.timedelta(days=int(lag)) for lag in lag_days] for qe in quarter_ends],
            dtype=object,
        )
        sessions = calendar.exchange_calendar().sessions
        report_idx = sessions.searchsorted(pd.to_datetime(report_raw.ravel()))
        report_dates = (
            sessions[np.minimum(report_idx, len(sessions) - 1)].to_numpy().reshape(report_raw.shape)
        )
        eps = self._quarterly_eps(prof, quarters)
        est_noise, surprise_noise = normal_pair(
            stream_keys(self.seed, "earnings:surprise", ids, quarters)
        )
        estimate = eps * (1.0 + 0.02 * est_noise)
        surprise = 0.02 + 0.07 * surprise_noise
        actual = estimate * (1.0 + surprise)
        n_q, n_s = eps.shape
        frame = pd.DataFrame(
            {
                "symbol": np.tile(prof["symbol"].to_numpy(), n_q),
                "fiscal_quarter": np.repeat([_quarter_label(int(q)) for q in quarters], n_s),
                "period_end": np.repeat(pd.to_datetime(quarter_ends), n_s),
                "report_date": report_dates.ravel(),
                "timing": np.tile(timing, n_q),
                "eps_estimate": estimate.ravel().round(2),
                "eps_actual": actual.ravel().round(2),
            }
        )
        frame = frame[
            (frame["report_date"] >= pd.Timestamp(start))
            & (frame["report_date"] <= pd.Timestamp(end))
        ].copy()
        reported = frame["report_date"] <= pd.Timestamp(as_of)
        frame["status"] = np.where(reported, "reported", "scheduled")
        frame.loc[~reported, "eps_actual"] = np.nan
        frame["surprise_pct"] = (
            (frame["eps_actual"] - frame["eps_estimate"]) / frame["eps_estimate"].abs() * 100.0
        ).round(2)
        return frame.sort_values(["report_date", "symbol"], ignore_index=True)

    def _quarterly_eps(self, prof: pd.DataFrame, quarters: np.ndarray) -> np.ndarray:
        """Quarterly EPS (quarters × symbols): the 2015 earnings yield, grown with a
        per-symbol trend, with noise. Kept positive."""
        ids = prof["entity_id"].to_numpy(np.uint64)
        growth = (
            0.02 + 0.12 * uniforms(stream_keys(self.seed, "earnings:growth", ids, np.array([0])))[0]
        )
        base = prof["price0"].to_numpy() / prof["pe0"].to_numpy() / 4.0
        years = (quarters - _quarter_number(calendar.CALENDAR_START))[:, None] / 4.0
        noise = normals(stream_keys(self.seed, "earnings:eps", ids, quarters))
        return np.maximum(base * (1.0 + growth) ** years * (1.0 + 0.08 * noise), 0.01)

    # ------------------------------------------------------------------ fundamentals
    def fundamentals(self, symbols: list[str], as_of: dt.date) -> pd.DataFrame:
        """Sector, market cap, EPS (trailing and forward), P/E, P/B and dividend yield."""
        prof = self.profiles(list(symbols))
        close = self.daily_bars(list(symbols), [as_of]).set_index("symbol")["close"]
        quarters = np.arange(_quarter_number(as_of) - 6, _quarter_number(as_of) + 5)
        reports = self.earnings(
            list(symbols),
            _quarter_end(quarters[0]),
            _quarter_end(quarters[-1]) + dt.timedelta(days=60),
            as_of,
        )
        if reports.empty:
            ttm = pd.Series(dtype=float)
            forward = pd.Series(dtype=float)
        else:
            done = reports[reports["status"] == "reported"].sort_values("report_date")
            ttm = done.groupby("symbol")["eps_actual"].apply(
                lambda s: s.tail(4).sum() if len(s) >= 4 else np.nan
            )
            todo = reports[reports["status"] == "scheduled"].sort_values("report_date")
            nxt = todo.groupby("symbol")["eps_estimate"].first()
            forward = nxt * 4.0
        frame = prof[["symbol", "name", "sector", "beta", "shares_m", "dividend_yield"]].copy()
        frame["as_of"] = pd.Timestamp(as_of)
        frame["price"] = frame["symbol"].map(close)
        frame["shares_outstanding"] = (frame.pop("shares_m") * 1e6).round()
        frame["market_cap"] = frame["price"] * frame["shares_outstanding"]
        frame["eps_ttm"] = frame["symbol"].map(ttm)
        frame["eps_forward"] = frame["symbol"].map(forward)
        frame["pe_ratio"] = (frame["price"] / frame["eps_ttm"]).where(frame["eps_ttm"] > 0)
        frame["forward_pe"] = (frame["price"] / frame["eps_forward"]).where(
            frame["eps_forward"] > 0
        )
        book = prof["price0"].to_numpy() / (
            1.5
            + 4.0
            * uniforms(
                stream_keys(self.seed, "book", prof["entity_id"].to_numpy(np.uint64), np.array([0]))
            )[0]
        )
        frame["book_value_per_share"] = book.round(2)
        frame["pb_ratio"] = frame["price"] / frame["book_value_per_share"]
        frame["beta"] = frame["beta"].round(2)
        frame["dividend_yield"] = frame["dividend_yield"].round(4)
        is_fund = frame["symbol"] == BENCHMARK_SYMBOL
        frame.loc[is_fund, ["eps_ttm", "eps_forward", "pe_ratio", "forward_pe"]] = np.nan
        return frame.reset_index(drop=True)

    # ------------------------------------------------------------------ options
    def option_chains(self, symbols: list[str], as_of: dt.date, expiries: int = 4) -> pd.DataFrame:
        """Listed calls and puts on the next ``expiries`` monthly expirations, strikes
        from 80 % to 120 % of spot, quoted around the Black–Scholes value at an implied
        volatility with a smile. The at-the-money level is the variance expected over each
        expiry's life: the day's own volatility reverting towards the symbol's long-run
        one (``IV_REVERSION_PER_DAY``), so options are dear in turbulent weeks."""
        prof = self.profiles(list(symbols)).set_index("symbol")
        bars, daily_vols = self._bars_and_vols(list(symbols), [as_of])
        spot = bars.set_index("symbol")["close"]
        current = pd.Series(daily_vols * np.sqrt(TRADING_DAYS_PER_YEAR), index=bars["symbol"])
        session = pd.DatetimeIndex([pd.Timestamp(as_of)])
        shock = self.idiosyncratic_shocks(list(symbols), session).iloc[0]
        exp_dates = _monthly_expiries(as_of, expiries)
        moneyness = np.round(np.arange(0.80, 1.2001, 0.04), 2)
        sym = np.array(list(symbols), dtype=object)
        s_spot = spot.loc[sym].to_numpy()
        inc = np.select([s_spot < 25, s_spot < 100, s_spot < 250], [0.5, 1.0, 2.5], 5.0)
        grid_strike = np.round(s_spot[:, None] * moneyness[None, :] / inc[:, None]) * inc[:, None]
        n_sym, n_k, n_e = len(sym), len(moneyness), len(exp_dates)
        sym_idx = np.repeat(np.arange(n_sym), n_e * n_k * 2)
        exp_idx = np.tile(np.repeat(np.arange(n_e), n_k * 2), n_sym)
        k_idx = np.tile(np.repeat(np.arange(n_k), 2), n_sym * n_e)
        is_call = np.tile(np.array([True, False]), n_sym * n_e * n_k)
        strike = grid_strike[sym_idx, k_idx]
        dte = np.array([(d - as_of).days for d in exp_dates])[exp_idx]
        t_years = dte / 365.0
        ids = prof.loc[sym, "entity_id"].to_numpy(np.uint64)
        contract_ids = ids[sym_idx] ^ (
            np.uint64(1)
            + exp_idx.astype(np.uint64) * np.uint64(1000)
            + k_idx.astype(np.uint64) * np.uint64(2)
            + is_call.astype(np.uint64)
        )
        day = np.array([pd.Timestamp(as_of).toordinal()])
        u_vol = normals(stream_keys(self.seed, "options:atm", ids, day))[0]
        long_run = prof.loc[sym, "vol"].to_numpy()[sym_idx]
        now = current.loc[sym].to_numpy()[sym_idx]
        trading_days = np.maximum(dte * TRADING_DAYS_PER_YEAR / 365.0, 1.0)
        phi = IV_REVERSION_PER_DAY
        weight = (1.0 - phi**trading_days) / (trading_days * (1.0 - phi))
        expected = np.sqrt(long_run**2 + weight * (now**2 - long_run**2))
        atm = expected * (1.05 + 0.08 * u_vol)[sym_idx]
        keys = stream_keys(self.seed, "options:quote", contract_ids, day)[0]
        noise_a, noise_b = normal_pair(keys)
        log_m = np.log(strike / s_spot[sym_idx])
        vol = smile_vol(atm, log_m, t_years) * (1.0 + 0.01 * noise_a)
        q = prof.loc[sym, "dividend_yield"].to_numpy()[sym_idx]
        mid = black_scholes_price(s_spot[sym_idx], strike, t_years, RISK_FREE_RATE, vol, is_call, q)
        half_spread = np.maximum(0.01, 0.015 * mid)
        bid = np.maximum(np.round(mid - half_spread, 2), 0.0)
        ask = np.round(mid + half_spread, 2)
        # Bad news tilts trading towards puts, so the put/call ratio carries information.
        put_tilt = np.exp(-0.35 * shock.loc[sym].to_numpy())[sym_idx]
        liquidity = prof.loc[sym, "avg_volume"].to_numpy()[sym_idx] / 2_000.0
        volume = (
            liquidity
            * np.exp(-((log_m / 0.12) ** 2))
            * np.exp(-dte / 120.0)
            * np.where(is_call, 1.0, put_tilt)
        )
        volume = np.maximum(np.round(volume * np.exp(0.3 * noise_b)), 0).astype(np.int64)
        open_interest = (volume * (4 + 10 * uniforms(keys))).round().astype(np.int64)
        frame = pd.DataFrame(
            {
                "symbol": sym[sym_idx],
                "as_of": pd.Timestamp(as_of),
                "expiry": pd.to_datetime(np.array(exp_dates, dtype=object)[exp_idx]),
                "days_to_expiry": dte.astype(np.int64),
                "strike": strike,
                "option_type": np.where(is_call, "call", "put"),
                "underlying_price": s_spot[sym_idx],
                "dividend_yield": q,
                "bid": bid,
                "ask": ask,
                "volume": volume,
                "open_interest": open_interest,
            }
        )
        return frame.drop_duplicates(
            ["symbol", "expiry", "strike", "option_type"], ignore_index=True
        )


def _naive_utc(at: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
    moment = pd.Timestamp(at)
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC").tz_localize(None)
    return moment


def session_minute(at: pd.Timestamp | dt.datetime | str) -> tuple[dt.date, int, int]:
    """The session trading at ``at`` (naive UTC), the minute of it that ``at`` falls in
    (0 is the open, the last is the close) and the session's length in minutes.

    Raises ValueError, naming why, when the exchange does not trade at ``at``: weekend,
    holiday, before the open or after the close (13:00 New York time on an early close).
    """
    moment = _naive_utc(at).floor("min")
    local = moment.tz_localize("UTC").tz_convert(calendar.EXCHANGE_TIMEZONE)
    day = local.date()
    stamp = f"{moment:%Y-%m-%d %H:%M} UTC ({local:%H:%M} New York time)"
    reason = calendar.closed_reason(day)
    if reason is not None:
        raise ValueError(f"no intraday quote at {stamp}: {reason}")
    opens, closes = calendar.session_open(day), calendar.session_close(day)
    if local < opens:
        raise ValueError(
            f"no intraday quote at {stamp}: the session of {day.isoformat()} opens at "
            f"{opens:%H:%M} New York time"
        )
    if local > closes:
        raise ValueError(
            f"no intraday quote at {stamp}: the session of {day.isoformat()} closed at "
            f"{closes:%H:%M} New York time"
        )
    minute = int((local - opens).total_seconds() // 60)
    minutes = int((closes - opens).total_seconds() // 60)
    return day, minute, minutes


def _quarter_number(day: dt.date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def _quarter_end(q: int) -> dt.date:
    year, idx = divmod(int(q), 4)
    month = 3 * (idx + 1)
    return (pd.Timestamp(year=year, month=month, day=1) + pd.offsets.MonthEnd(0)).date()


def _quarter_label(q: int) -> str:
    year, idx = divmod(int(q), 4)
    return f"{year}Q{idx + 1}"


def _monthly_expiries(as_of: dt.date, count: int) -> list[dt.date]:
    """The next ``count`` standard monthly expirations (the third Friday, or the session
    before it on a holiday) at least a week after ``as_of``."""
    out: list[dt.date] = []
    month = pd.Timestamp(as_of).replace(day=1)
    while len(out) < count:
        expiry = calendar.session_on_or_before(_third_friday(month.year, month.month))
        if (expiry - as_of).days >= 7:
            out.append(expiry)
        month = month + pd.offsets.MonthBegin(1)
    return out


def _third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (4 - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 14)


_SOURCES = ("SimWire", "Market Desk", "Street Ledger", "Tape Reader", "Sector Watch")

_HEADLINES: dict[str, tuple[str, ...]] = {
    "positive": (
        "{name} beats expectations as revenue jumps",
        "{name} shares rally after strong guidance",
        "{name} wins major contract, analysts upgrade the stock",
        "{name} raises outlook on record demand",
        "Investors cheer {name} buyback and dividend increase",
        "{name} surges on breakthrough product launch",
    ),
    "negative": (
        "{name} misses estimates and cuts guidance",
        "{name} shares slump after regulator opens probe",
        "{name} warns of weak demand, analysts downgrade",
        "{name} hit by recall and supply disruption",
        "{name} plunges as CEO resigns amid accounting concerns",
        "Lawsuit and losses weigh on {name}",
    ),
    "neutral": (
        "{name} to present at industry conference",
        "{name} announces date of quarterly results",
        "{name} names new chief financial officer",
        "{name} files annual report with regulators",
        "{name} completes previously announced reorganization",
        "{name} schedules investor day",
    ),
}

"""Market data: the provider interface and its embedded default, the simulated market."""

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field, field_validator

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import (
    DEFAULT_WATCHLIST,
    MarketSimulator,
    build_universe,
    validate_symbols,
)


class ProviderError(RuntimeError):
    """A provider could not deliver what was asked (failed, empty or not yet available)."""


class UnknownSymbolError(ProviderError, ValueError):
    """A symbol outside the provider's universe was requested."""


class MarketDataProvider(ConfigurableResource):
    """The interface every market-data source implements.

    ``as_of`` pins the market's "today" to a date (for reproducible runs and tests);
    unset, it is the latest XNYS session that has closed by the wall clock.
    """

    as_of: str | None = Field(
        default=None, description="Pin the market clock to this date (YYYY-MM-DD)."
    )

    @field_validator("as_of")
    @classmethod
    def _valid_as_of(cls, value: str | None) -> str | None:
        if value:
            dt.date.fromisoformat(value)
        return value or None

    def session(self) -> dt.date:
        """The latest closed trading session the provider serves data for."""
        if self.as_of:
            return calendar.session_on_or_before(self.as_of)
        return calendar.last_closed_session()

    def universe(self) -> pd.DataFrame:
        """Symbols with name and sector, flagged as seed, watchlist or benchmark."""
        raise NotImplementedError

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        """OHLCV bars (date, symbol, open, high, low, close, volume)."""
        raise NotImplementedError

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Headlines (news_id, published_at, symbol, source, headline, impact)."""
        raise NotImplementedError

    def earnings(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Earnings reports dated in [start, end], with actuals once reported."""
        raise NotImplementedError

    def headlines_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        """The live feed: headlines published in (since, until], naive UTC, any session."""
        raise NotImplementedError

    def fundamentals(self, symbols: Sequence[str]) -> pd.DataFrame:
        """One row of fundamentals per symbol as of ``session()``."""
        raise NotImplementedError

    def option_chains(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Listed option quotes as of ``session()``."""
        raise NotImplementedError


class SimulatedMarketData(MarketDataProvider):
    """The embedded default: a deterministic, calendar-aware simulated market.

    No network and no keys. The same seed and date always give the same data, however
    the request is batched.
    """

    seed: int = Field(default=7, description="Seed of the simulated market.")
    watchlist: list[str] = Field(
        default_factory=lambda: list(DEFAULT_WATCHLIST),
        description="Tickers watched beside the seed's AAPL, GOOGL, MSFT, TSLA and NVDA.",
    )
    universe_size: int = Field(
        default=0,
        ge=0,
        description="Grow the universe to this many symbols (0: no generated ones).",
    )

    @property
    def _sim(self) -> MarketSimulator:
        return MarketSimulator(self.seed)

    def universe(self) -> pd.DataFrame:
        return _simulated_universe(self.seed, tuple(self.watchlist), self.universe_size).copy()

    def _known(self, symbols: Sequence[str]) -> list[str]:
        wanted = validate_symbols(list(symbols))
        if not wanted:
            raise ProviderError("no symbols requested")
        known = set(self.universe()["symbol"])
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise UnknownSymbolError(
                f"unknown symbol(s) {', '.join(unknown[:10])}"
                f"{' and more' if len(unknown) > 10 else ''}: not in the simulated universe "
                "(add them to ROBO_WATCHLIST)"
            )
        return wanted

    def _closed(self, day: dt.date) -> dt.date:
        latest = self.session()
        if day > latest:
            raise ProviderError(
                f"session {day.isoformat()} has not closed yet: the market's latest closed "
                f"session is {latest.isoformat()}"
            )
        return day

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        days = sorted({calendar.to_date(s) for s in sessions})
        if not days:
            raise ProviderError("no sessions requested")
        self._closed(days[-1])
        wanted = self._known(symbols)
        try:
            return self._sim.daily_bars(wanted, days)
        except ValueError as exc:
            raise ProviderError(str(exc)) from exc

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._sim.news(self._known(symbols), start, self._closed(end))

    def earnings(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._sim.earnings(self._known(symbols), start, end, self.session())

    def headlines_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        first = calendar.session_on_or_before(since.date())
        last = calendar.session_on_or_before(until.date())
        feed = self._sim.news(self._known(symbols), first, last)
        published = feed["published_at"]
        return feed[(published > since) & (published <= until)].reset_index(drop=True)

    def fundamentals(self, symbols: Sequence[str]) -> pd.DataFrame:
        return self._sim.fundamentals(self._known(symbols), self.session())

    def option_chains(self, symbols: Sequence[str]) -> pd.DataFrame:
        return self._sim.option_chains(self._known(symbols), self.session())


@lru_cache(maxsize=8)
def _simulated_universe(seed: int, watchlist: tuple[str, ...], size: int) -> pd.DataFrame:
    base = build_universe(watchlist, size)
    profiles = MarketSimulator(seed).profiles(list(base["symbol"]))[["symbol", "name", "sector"]]
    return base.merge(profiles, on="symbol")[
        ["symbol", "name", "sector", "is_seed_symbol", "on_watchlist", "is_benchmark"]
    ]

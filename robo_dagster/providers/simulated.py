"""The embedded default market-data source: the deterministic simulated market."""

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar

import pandas as pd
from pydantic import Field

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import (
    DEFAULT_WATCHLIST,
    MarketSimulator,
    build_universe,
)
from robo_dagster.domain.reports import earnings_wire
from robo_dagster.providers.errors import ProviderError
from robo_dagster.providers.market_data import (
    EARNINGS_COLUMNS,
    MarketDataProvider,
    known_symbols,
)


class SimulatedMarketData(MarketDataProvider):
    """The embedded default: a deterministic, calendar-aware simulated market.

    No network and no keys. The same seed and date always give the same data, however
    the request is batched.
    """

    source_name: ClassVar[str] = "sim"

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

    def universe(self, held: Sequence[str] = ()) -> pd.DataFrame:
        return _simulated_universe(self.seed, tuple(self.watchlist), self.universe_size).copy()

    def _known(self, symbols: Sequence[str]) -> list[str]:
        where = "not in the simulated universe (add them to ROBO_WATCHLIST)"
        return known_symbols(symbols, set(self.universe()["symbol"]), where)

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        days = self.closed_sessions(sessions)
        if days[0] < calendar.CALENDAR_START:
            raise ProviderError(
                f"session {days[0].isoformat()}: the simulated market starts on "
                f"{calendar.CALENDAR_START.isoformat()}; for an earlier ROBO_HISTORY_START use "
                "your own files (ROBO_MARKET_DATA=files)"
            )
        wanted = self._known(symbols)
        try:
            return self._sim.daily_bars(wanted, days)
        except ValueError as exc:
            raise ProviderError(str(exc)) from exc

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._sim.news(self._known(symbols), start, self.closed(end))

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

    def quotes(self, symbols: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
        wanted = self._known(symbols)
        try:
            return self._sim.intraday_quotes(wanted, at)
        except ValueError as exc:
            raise ProviderError(str(exc)) from exc

    def earnings_published_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        """In the simulator an actual is published on its report date at 07:00 New York
        time when the report comes before the open ("BMO") and at 16:05 when it comes
        after the close ("AMC"), the usual slots of real wires. Every report dated on or
        before ``until``'s date carries its actual, so the time filter alone decides."""
        wanted = self._known(symbols)
        # A report dated D is published on D in New York, which is also D in UTC (07:00
        # and 16:05 New York are 11:00-12:00 and 20:05-21:05 UTC), so these dates cover
        # the window with a day to spare.
        start, end = since.date() - dt.timedelta(days=1), until.date()
        columns = [*EARNINGS_COLUMNS, "published_at", "report_id"]
        if end < start:
            return pd.DataFrame(columns=columns)
        frame = self._sim.earnings(wanted, start, end, as_of=end)
        if frame.empty:
            return pd.DataFrame(columns=columns)
        return earnings_wire(frame, since, until)

    def fundamentals(self, symbols: Sequence[str]) -> pd.DataFrame:
        return self._sim.fundamentals(self._known(symbols), self.session())

    def option_chains(self, symbols: Sequence[str]) -> pd.DataFrame:
        return self._sim.option_chains(self._known(symbols), self.session())

    def first_session(self) -> dt.date:
        """The later of the history start and the simulator's epoch."""
        start = max(calendar.history_start(), calendar.CALENDAR_START)
        return calendar.session_on_or_after(start)

    def describe(self) -> str:
        return f"simulated market (seed {self.seed}, {len(self.universe())} symbols)"


@lru_cache(maxsize=8)
def _simulated_universe(seed: int, watchlist: tuple[str, ...], size: int) -> pd.DataFrame:
    base = build_universe(watchlist, size)
    profiles = MarketSimulator(seed).profiles(list(base["symbol"]))[["symbol", "name", "sector"]]
    return base.merge(profiles, on="symbol")[
        ["symbol", "name", "sector", "is_seed_symbol", "on_watchlist", "is_benchmark"]
    ]

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

EARNINGS_COLUMNS = [
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
# When the simulated wire publishes an actual on its report date, New York time: before
# the open ("BMO") or just after the close ("AMC").
PUBLICATION_SLOTS = {
    "BMO": pd.Timedelta(hours=7),
    "AMC": pd.Timedelta(hours=16, minutes=5),
}


class ProviderError(RuntimeError):
    """A provider could not deliver what was asked (failed, empty or not yet available)."""


class ProviderUnavailable(ProviderError):
    """A transient failure (a timeout, HTTP 429 or 5xx): the same call may succeed later.
    ``retry_after`` is the provider's ``Retry-After`` in seconds, when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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

    def quotes(self, symbols: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
        """Live quotes at the wall-clock time ``at`` (naive UTC), not ``as_of``: symbol,
        quoted_at, price, previous_close and change_pct (percent versus the prior
        session's close). Raises ProviderError when the market does not trade at ``at``."""
        raise NotImplementedError

    def earnings_published_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        """The live earnings wire: actuals published in (since, until], naive UTC, by the
        wall clock rather than ``as_of``. The ``earnings`` columns plus ``published_at``
        and ``report_id`` (``<symbol>-<fiscal_quarter>``), ordered by (published_at,
        report_id)."""
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
        frame = frame[frame["status"] == "reported"].copy()
        slot = frame["timing"].map(PUBLICATION_SLOTS)
        frame["published_at"] = (
            (pd.to_datetime(frame["report_date"]) + slot)
            .dt.tz_localize(calendar.EXCHANGE_TIMEZONE)
            .dt.tz_convert("UTC")
            .dt.tz_localize(None)
        )
        frame["report_id"] = frame["symbol"] + "-" + frame["fiscal_quarter"]
        published = frame["published_at"]
        frame = frame[(published > since) & (published <= until)]
        return frame[columns].sort_values(["published_at", "report_id"], ignore_index=True)

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

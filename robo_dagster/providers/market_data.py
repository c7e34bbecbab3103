"""Market data: the interface every source implements, and the columns it returns.

Three sources implement it: the embedded simulator (``providers.simulated``), a folder
of files (``providers.files``) and Alpaca (``providers.alpaca``). A dataset a source
lacks raises ``DatasetNotProvided``; nothing is simulated in its place."""

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field, field_validator

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import (
    BENCHMARK_SECTOR,
    BENCHMARK_SYMBOL,
    SEED_SYMBOLS,
    validate_symbols,
)
from robo_dagster.providers.datasets import DatasetNotProvided
from robo_dagster.providers.errors import ProviderError, UnknownSymbolError

# The columns (and pandas dtypes) of each dataset, whatever the source. A source may add
# columns of its own; these are the ones the analyses read, and the schema of a dataset
# that is not provided.
UNIVERSE_SCHEMA = {
    "symbol": "object",
    "name": "object",
    "sector": "object",
    "is_seed_symbol": "bool",
    "on_watchlist": "bool",
    "is_benchmark": "bool",
}
NEWS_SCHEMA = {
    "news_id": "object",
    "published_at": "datetime64[ns]",
    "symbol": "object",
    "source": "object",
    "headline": "object",
    "impact": "float64",
}
EARNINGS_SCHEMA = {
    "symbol": "object",
    "fiscal_quarter": "object",
    "period_end": "datetime64[ns]",
    "report_date": "datetime64[ns]",
    "timing": "object",
    "eps_estimate": "float64",
    "eps_actual": "float64",
    "status": "object",
    "surprise_pct": "float64",
}
EARNINGS_COLUMNS = list(EARNINGS_SCHEMA)
FUNDAMENTALS_SCHEMA = {
    "symbol": "object",
    "name": "object",
    "sector": "object",
    "beta": "float64",
    "dividend_yield": "float64",
    "as_of": "datetime64[ns]",
    "price": "float64",
    "shares_outstanding": "float64",
    "market_cap": "float64",
    "eps_ttm": "float64",
    "eps_forward": "float64",
    "pe_ratio": "float64",
    "forward_pe": "float64",
    "book_value_per_share": "float64",
    "pb_ratio": "float64",
}
OPTION_CHAIN_SCHEMA = {
    "symbol": "object",
    "as_of": "datetime64[ns]",
    "expiry": "datetime64[ns]",
    "days_to_expiry": "int64",
    "strike": "float64",
    "option_type": "object",
    "underlying_price": "float64",
    "dividend_yield": "float64",
    "bid": "float64",
    "ask": "float64",
    "volume": "float64",
    "open_interest": "float64",
}
OPTIONS_SUMMARY_SCHEMA = {
    "symbol": "object",
    "underlying_price": "float64",
    "atm_iv": "float64",
    "put_call_volume_ratio": "float64",
    "put_call_oi_ratio": "float64",
    "skew_25d": "float64",
    "contracts": "int64",
    "expiries": "int64",
}
# A session's headlines run until ~21:30 New York time, which is the next UTC day:
# published_at is naive UTC, so a session's news window closes 30 hours after its date.
NEWS_EVENING = pd.Timedelta(days=1, hours=6)
QUOTE_COLUMNS = ["symbol", "quoted_at", "price", "previous_close", "change_pct"]


class MarketDataProvider(ConfigurableResource):
    """The interface every market-data source implements.

    ``as_of`` pins the market's "today" to a date (for reproducible runs and tests);
    unset, it is the latest XNYS session that has closed by the wall clock.
    """

    source_name: ClassVar[str] = "abstract"

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

    def as_of_note(self) -> str | None:
        """When ``as_of`` is not a session, what the market's date became instead (the
        session before): the assets say so in their log and metadata."""
        if not self.as_of:
            return None
        pinned = calendar.to_date(self.as_of)
        if calendar.is_session(pinned):
            return None
        reason = calendar.closed_reason(pinned) or f"{pinned} is not a session"
        return f"ROBO_AS_OF {pinned}: {reason}; the market's date is the session before, {self.session()}"

    def closed(self, day: dt.date) -> dt.date:
        """``day``, when the market has closed it (the latest is ``session()``: the last
        closed session, ``ROBO_AS_OF``, or a folder's newest bar); else a ProviderError,
        so that a partial bar is never fetched."""
        latest = self.session()
        if day > latest:
            raise ProviderError(
                f"session {day.isoformat()} has not closed yet: the market's latest closed "
                f"session is {latest.isoformat()}"
            )
        return day

    def closed_sessions(self, sessions: Sequence[dt.date]) -> list[dt.date]:
        """``sessions`` sorted and de-duplicated, each one closed (see ``closed``)."""
        days = sorted({calendar.to_date(s) for s in sessions})
        if not days:
            raise ProviderError("no sessions requested")
        self.closed(days[-1])
        return days

    def first_session(self) -> dt.date:
        """The first session the source can serve: the history start (``ROBO_HISTORY_START``)
        unless the source's data begins later."""
        return calendar.session_on_or_after(calendar.history_start())

    def universe(self, held: Sequence[str] = ()) -> pd.DataFrame:
        """Symbols with name and sector (``UNIVERSE_SCHEMA``), flagged as seed, watchlist
        or benchmark. A sector the source does not know is null. ``held`` are the
        broker's holdings: a source that can serve any listed symbol adds them; one with
        a fixed universe ignores them (the universe asset then names what is missing)."""
        raise NotImplementedError

    def how_to_add_symbols(self) -> str:
        """How a user makes a symbol part of this source's universe."""
        return "add them to ROBO_WATCHLIST"

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
        """Listed option quotes as of ``session()`` (``OPTION_CHAIN_SCHEMA``)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the UI and ``robo-dagster status``: the source and its scope."""
        return self.source_name


def valid_closes(
    market: MarketDataProvider, symbols: Sequence[str], sessions: Sequence[dt.date]
) -> pd.Series:
    """(symbol, date) -> close, from ``market``'s bars over ``sessions`` that pass
    validation: a quarantined bar never prices a fill or marks a book."""
    from robo_dagster.domain.quality import split_valid_bars

    if not symbols or not sessions:
        return pd.Series(
            [], dtype=float, index=pd.MultiIndex.from_tuples([], names=["symbol", "date"])
        )
    bars = market.daily_bars(list(symbols), list(sessions))
    valid, _ = split_valid_bars(bars, calendar.session_index(min(sessions), max(sessions)))
    valid = valid.assign(date=pd.to_datetime(valid["date"]).dt.date)
    return valid.set_index(["symbol", "date"])["close"]


def flag_universe(frame: pd.DataFrame, watchlist: Sequence[str]) -> pd.DataFrame:
    """``frame`` (symbol, name, sector) with the universe's flags, in
    ``UNIVERSE_SCHEMA`` order: a seed symbol, on the watchlist, the benchmark (whose
    sector is the index's)."""
    watch = {str(s).upper() for s in watchlist}
    out = frame.assign(
        sector=frame["sector"].astype(object),
        is_seed_symbol=frame["symbol"].isin(SEED_SYMBOLS),
        on_watchlist=frame["symbol"].isin(watch),
        is_benchmark=frame["symbol"] == BENCHMARK_SYMBOL,
    )
    out.loc[out["is_benchmark"], "sector"] = BENCHMARK_SECTOR
    return out[list(UNIVERSE_SCHEMA)]


def known_symbols(symbols: Sequence[str], known: set[str], where: str) -> list[str]:
    """``symbols`` validated and de-duplicated; one outside ``known`` is an
    ``UnknownSymbolError`` that says ``where`` they were looked for."""
    wanted = validate_symbols(list(symbols))
    if not wanted:
        raise ProviderError("no symbols requested")
    unknown = [s for s in wanted if s not in known]
    if unknown:
        more = " and more" if len(unknown) > 10 else ""
        raise UnknownSymbolError(f"unknown symbol(s) {', '.join(unknown[:10])}{more}: {where}")
    return wanted


class HeadlineSource(MarketDataProvider):
    """A source whose news is a feed of timestamped headlines (files, Alpaca): the
    ``news`` asset's window and the news sensor's live feed are both slices of
    ``headlines_in``."""

    def headlines_in(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        """Headlines on ``symbols`` published in [since, until] (naive UTC), oldest first."""
        raise NotImplementedError

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        until = pd.Timestamp(min(end, self.session())) + NEWS_EVENING
        frame = self.headlines_in(symbols, pd.Timestamp(start), until)
        if frame.empty:
            raise DatasetNotProvided(
                "news", f"{self.describe()} has no headline on these symbols from {start} to {end}"
            )
        return frame

    def headlines_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        frame = self.headlines_in(symbols, since, until)
        return frame[frame["published_at"] > since].reset_index(drop=True)

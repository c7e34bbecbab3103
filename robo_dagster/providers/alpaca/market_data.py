"""Alpaca as the market-data source (``ROBO_MARKET_DATA=alpaca``).

- **Universe**: the seed's five symbols, SPY, ``ROBO_WATCHLIST`` and the broker's
  holdings, each checked against ``/v2/assets`` (active and tradable). Alpaca gives no
  sector: it comes from ``sectors.csv`` or ``fundamentals.csv`` in ``ROBO_DATA_DIR``
  when that is set, and is otherwise unknown.
- **Bars**: ``/v2/stocks/bars``, daily, several symbols per request, ``adjustment=all``
  (split- and dividend-adjusted, as the indicators need), the configured feed, every
  page. A daily bar's ``t`` is midnight New York time; its New York date is the session.
- **News**: ``/v1beta1/news``, every page. An article on several symbols is one row per
  symbol (``news_id`` is ``<id>-<symbol>``). Alpaca scores no impact: ``impact`` is NaN,
  the analyst weighs such a headline as ``UNSCORED_IMPACT`` and the news sensor lets it
  trigger nothing.
- **Option chains**: ``/v1beta1/options/snapshots/{underlying}`` for contracts 7 to 120
  days out with strikes from 80 % to 120 % of the close: quotes, and Alpaca's own implied
  volatility and delta beside the ones solved here. Snapshots are live: with
  ``ROBO_AS_OF`` pinned to a past session, only quotes from before the next session's
  open count, so a replay never sees the future.
- **Quotes** for the price-move sensor: ``/v2/stocks/snapshots``.
- **Earnings and fundamentals**: Alpaca has neither. They come from the files in
  ``ROBO_DATA_DIR`` when it is set, and are otherwise not provided.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL, SEED_SYMBOLS, validate_symbols
from robo_dagster.providers.alpaca.connection import (
    AlpacaConnection,
    iter_chunks,
    parse,
)
from robo_dagster.providers.alpaca.models import (
    BarsPage,
    NewsPage,
    OptionSnapshotsPage,
    Snapshot,
)
from robo_dagster.providers.datasets import DatasetNotProvided
from robo_dagster.providers.errors import ProviderError, UnknownSymbolError
from robo_dagster.providers.folder import ReportFiles
from robo_dagster.providers.market_data import (
    OPTION_CHAIN_SCHEMA,
    QUOTE_COLUMNS,
    HeadlineSource,
    flag_universe,
)

BAR_SYMBOLS_PER_REQUEST = 100
NEWS_SYMBOLS_PER_REQUEST = 50
BAR_PAGE_LIMIT = 10_000  # data points per page, across all symbols (Alpaca's maximum)
NEWS_PAGE_LIMIT = 50
OPTION_PAGE_LIMIT = 1_000
OPTION_DAYS = (7, 120)
OPTION_MONEYNESS = (0.8, 1.2)
OCC_SYMBOL = re.compile(
    r"^(?P<root>[A-Z0-9.]{1,6})(?P<expiry>\d{6})(?P<type>[CP])(?P<strike>\d{8})$"
)


def rfc3339(moment: pd.Timestamp) -> str:
    """A UTC timestamp as Alpaca's query parameters take it: ``2026-11-25T00:00:00Z``."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def naive_utc(moment: dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).tz_localize(None)


def new_york_date(moment: dt.datetime) -> dt.date:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(calendar.EXCHANGE_TIMEZONE).date()


def parse_occ_symbol(symbol: str) -> tuple[str, dt.date, str, float] | None:
    """(root, expiry, call/put, strike) of an OCC option symbol such as
    ``AAPL261218C00250000``, or None when it is not one."""
    match = OCC_SYMBOL.match(symbol)
    if not match:
        return None
    expiry = dt.datetime.strptime(match["expiry"], "%y%m%d").date()
    kind = "call" if match["type"] == "C" else "put"
    return match["root"], expiry, kind, int(match["strike"]) / 1000.0


class AlpacaMarketData(HeadlineSource):
    """Market data from Alpaca's market-data API: see the module docstring."""

    source_name: ClassVar[str] = "alpaca"

    connection: AlpacaConnection
    watchlist: list[str] = Field(
        default_factory=list, description="Tickers watched beside the seed's five."
    )
    supplement_dir: str | None = Field(
        default=None,
        description="ROBO_DATA_DIR: files with what Alpaca lacks (earnings, fundamentals, sectors).",
    )

    def describe(self) -> str:
        extra = f", with files from {self.supplement_dir}" if self.supplement_dir else ""
        return f"Alpaca ({self.connection.feed} feed at {self.connection.data_url}{extra})"

    def how_to_add_symbols(self) -> str:
        return "add them to ROBO_WATCHLIST (they must be active, tradable Alpaca assets)"

    # ------------------------------------------------------------------ universe
    def _supplement(self) -> ReportFiles | None:
        return ReportFiles(self.supplement_dir) if self.supplement_dir else None

    def universe(self, held: Sequence[str] = ()) -> pd.DataFrame:
        watch = validate_symbols(list(self.watchlist))
        wanted = validate_symbols([*SEED_SYMBOLS, BENCHMARK_SYMBOL, *watch, *held])
        assets = self.connection.assets().set_index("symbol")
        listed = assets.reindex(wanted)
        tradable = set(assets.index[assets["tradable"].astype(bool)])
        unknown = [s for s in wanted if s not in tradable]
        if unknown:
            raise UnknownSymbolError(
                f"{', '.join(unknown)}: not an active, tradable asset at Alpaca "
                "(/v2/assets); check ROBO_WATCHLIST"
            )
        frame = pd.DataFrame({"symbol": wanted, "name": listed["name"].to_numpy()})
        supplement = self._supplement()
        sectors = supplement.sectors() if supplement else pd.DataFrame(columns=["symbol", "sector"])
        frame["sector"] = frame["symbol"].map(sectors.set_index("symbol")["sector"])
        return flag_universe(frame, watch)

    # ------------------------------------------------------------------ bars
    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        days = self.closed_sessions(sessions)
        wanted = validate_symbols(list(symbols))
        if not wanted:
            raise ProviderError("no symbols requested")
        frames = []
        for chunk in iter_chunks(wanted, BAR_SYMBOLS_PER_REQUEST):
            pages = self.connection.pages(
                "data",
                "/v2/stocks/bars",
                BarsPage,
                {
                    "symbols": ",".join(chunk),
                    "timeframe": "1Day",
                    "start": rfc3339(pd.Timestamp(days[0])),
                    "end": rfc3339(pd.Timestamp(days[-1]) + pd.Timedelta(hours=23, minutes=59)),
                    "adjustment": "all",
                    "feed": self.connection.feed,
                    "limit": BAR_PAGE_LIMIT,
                    "sort": "asc",
                },
            )
            rows = [
                (new_york_date(bar.t), symbol, bar.o, bar.h, bar.low, bar.c, bar.v)
                for page in pages
                for symbol, bars in (page.bars or {}).items()
                for bar in bars
            ]
            frames.append(
                pd.DataFrame(
                    rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"]
                )
            )
        bars = pd.concat(frames, ignore_index=True)
        bars = bars[bars["symbol"].isin(wanted)]
        bars = bars[(bars["date"] >= days[0]) & (bars["date"] <= days[-1])]
        bars = bars.assign(date=pd.to_datetime(bars["date"]), volume=bars["volume"].astype(float))
        return bars.sort_values(["date", "symbol"], kind="stable", ignore_index=True)

    # ------------------------------------------------------------------ news
    def headlines_in(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        wanted = validate_symbols(list(symbols))
        rows = []
        for chunk in iter_chunks(wanted, NEWS_SYMBOLS_PER_REQUEST):
            pages = self.connection.pages(
                "data",
                "/v1beta1/news",
                NewsPage,
                {
                    "symbols": ",".join(chunk),
                    "start": rfc3339(since),
                    "end": rfc3339(until),
                    "limit": NEWS_PAGE_LIMIT,
                    "sort": "asc",
                    "include_content": "false",
                },
            )
            chosen = set(chunk)
            rows += [
                (
                    f"{article.id}-{symbol}",
                    naive_utc(article.created_at),
                    symbol,
                    article.source or "alpaca",
                    article.headline,
                )
                for page in pages
                for article in page.news
                for symbol in article.symbols
                if symbol in chosen
            ]
        frame = pd.DataFrame(
            rows, columns=["news_id", "published_at", "symbol", "source", "headline"]
        )
        frame = frame.drop_duplicates("news_id").assign(impact=np.nan)
        return frame.sort_values(["published_at", "news_id"], ignore_index=True)

    # ------------------------------------------------------------------ options
    def _chain(self, symbol: str, spot: float, session: dt.date) -> pd.DataFrame:
        first, last = (session + dt.timedelta(days=d) for d in OPTION_DAYS)
        pages = self.connection.pages(
            "data",
            f"/v1beta1/options/snapshots/{symbol}",
            OptionSnapshotsPage,
            {
                "feed": "indicative",
                "limit": OPTION_PAGE_LIMIT,
                "expiration_date_gte": first.isoformat(),
                "expiration_date_lte": last.isoformat(),
                "strike_price_gte": f"{spot * OPTION_MONEYNESS[0]:.2f}",
                "strike_price_lte": f"{spot * OPTION_MONEYNESS[1]:.2f}",
            },
        )
        # With a pinned past session, a quote from its next session on is the future.
        cutoff = None
        if self.as_of:
            cutoff = calendar.session_open(
                calendar.session_on_or_after(session + dt.timedelta(days=1))
            )
        rows = []
        for page in pages:
            for contract, snap in page.snapshots.items():
                parsed = parse_occ_symbol(contract)
                quote = snap.latest_quote
                if parsed is None or quote is None:
                    continue
                if cutoff is not None and pd.Timestamp(quote.t) >= cutoff:
                    continue
                _, expiry, kind, strike = parsed
                greeks = snap.greeks
                rows.append(
                    {
                        "symbol": symbol,
                        "contract": contract,
                        "expiry": pd.Timestamp(expiry),
                        "days_to_expiry": (expiry - session).days,
                        "strike": strike,
                        "option_type": kind,
                        "bid": quote.bp,
                        "ask": quote.ap,
                        "quoted_at": naive_utc(quote.t),
                        "volume": snap.daily_bar.v if snap.daily_bar else np.nan,
                        "vendor_implied_vol": snap.implied_volatility,
                        "vendor_delta": greeks.delta if greeks else None,
                    }
                )
        return pd.DataFrame(rows)

    def option_chains(self, symbols: Sequence[str]) -> pd.DataFrame:
        session = self.session()
        wanted = validate_symbols(list(symbols))
        closes = self.daily_bars(wanted, [session])
        spot = closes[closes["date"] == pd.Timestamp(session)].set_index("symbol")["close"]
        chains = [self._chain(s, float(spot[s]), session) for s in wanted if s in spot.index]
        chains = [c for c in chains if not c.empty]
        if not chains:
            why = (
                f"no option quote from before the session after {session} (snapshots are live)"
                if self.as_of
                else "Alpaca returned no option quote for the universe"
            )
            raise DatasetNotProvided("option_chains", why)
        frame = pd.concat(chains, ignore_index=True)
        frame["as_of"] = pd.Timestamp(session)
        frame["underlying_price"] = frame["symbol"].map(spot).astype(float)
        frame["dividend_yield"] = np.nan  # Alpaca gives none
        frame["open_interest"] = np.nan  # not in a snapshot
        columns = [
            *OPTION_CHAIN_SCHEMA,
            "contract",
            "quoted_at",
            "vendor_implied_vol",
            "vendor_delta",
        ]
        frame = frame[columns].astype({"volume": float, "open_interest": float})
        return frame.astype({"vendor_implied_vol": float, "vendor_delta": float})

    # ------------------------------------------------------------------ quotes
    def quotes(self, symbols: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
        """The latest trade per symbol against the previous session's close."""
        wanted = validate_symbols(list(symbols))
        today = pd.Timestamp(at).tz_localize("UTC").tz_convert(calendar.EXCHANGE_TIMEZONE).date()
        rows = []
        for chunk in iter_chunks(wanted, BAR_SYMBOLS_PER_REQUEST):
            body = self.connection.get_json(
                "data",
                "/v2/stocks/snapshots",
                {"symbols": ",".join(chunk), "feed": self.connection.feed},
            )
            if not isinstance(body, dict):
                raise ProviderError(
                    "Alpaca data API /v2/stocks/snapshots: malformed reply: expected an object"
                )
            for symbol, raw in body.items():
                if raw is None:  # a symbol Alpaca does not know
                    continue
                snap = parse(f"Alpaca data API /v2/stocks/snapshots {symbol}", Snapshot, raw)
                trade = snap.latest_trade
                if trade is None:
                    continue
                daily, previous = snap.daily_bar, snap.prev_daily_bar
                # Before the day's first trade, the daily bar is still the last session's.
                reference = (
                    previous if daily is not None and new_york_date(daily.t) == today else daily
                )
                if reference is None:
                    continue
                rows.append((symbol, naive_utc(trade.t), trade.p, reference.c))
        frame = pd.DataFrame(rows, columns=QUOTE_COLUMNS[:4])
        frame["change_pct"] = (frame["price"] / frame["previous_close"] - 1.0) * 100.0
        return frame

    # ------------------------------------------------------------------ from files
    def _files(self, dataset: str) -> ReportFiles:
        supplement = self._supplement()
        if supplement is None:
            raise DatasetNotProvided(
                dataset, f"Alpaca has no {dataset}; set ROBO_DATA_DIR to a folder with them"
            )
        return supplement

    def earnings(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._files("earnings").earnings(symbols, start, end, self.session())

    def earnings_published_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        return self._files("earnings").earnings_wire(symbols, since, until)

    def fundamentals(self, symbols: Sequence[str]) -> pd.DataFrame:
        files = self._files("fundamentals")
        files.require("fundamentals.csv", "fundamentals")
        session = self.session()
        closes = self.daily_bars(list(symbols), [session])
        prices = closes[closes["date"] == pd.Timestamp(session)].set_index("symbol")["close"]
        return files.fundamentals(symbols, prices, session)

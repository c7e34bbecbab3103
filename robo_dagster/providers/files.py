"""Bring your own data: a folder of daily bars and optional reports, read with DuckDB.

``ROBO_MARKET_DATA=files`` with ``ROBO_DATA_DIR=<folder>``. The folder holds:

- ``bars/``: one file per symbol, ``<SYMBOL>.csv`` or ``<SYMBOL>.parquet``, with the
  columns of a Yahoo or Stooq daily export: ``Date,Open,High,Low,Close,Adj Close,Volume``
  (``Adj Close`` optional; when present, open, high, low and close are scaled by
  ``Adj Close / Close``, so splits and dividends do not show as moves). Or instead a
  single long table ``bars.csv`` / ``bars.parquet``: ``symbol,date,open,high,low,close,
  volume``. Header names are matched without regard to case or spaces.
- optional: ``fundamentals.csv`` (symbol, sector, market_cap, eps_ttm, eps_forward,
  book_value_per_share, and optionally as_of), ``earnings.csv`` (symbol, report_date,
  timing BMO/AMC, eps_estimate, eps_actual), ``news.jsonl`` (symbol, published_at,
  headline, source, impact in [0, 1]) and ``sectors.csv`` (symbol, name, sector).

The universe is the symbols in the folder. The market's "today" is the newest bar,
unless ``ROBO_AS_OF`` pins an earlier day: a bar after it is never read. Rows are parsed
in SQL (no per-row Python); a value that does not parse becomes NULL and its bar is
quarantined by ``price_bars`` with the reason, as are bars on non-session dates,
inconsistent OHLC and duplicates. A missing column or an unknown layout is one clear
error naming the file and the column. What the folder lacks (option chains, intraday
quotes, and any optional file) is not provided: nothing is simulated in its place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

import pandas as pd
from pydantic import Field

from robo_dagster.domain import calendar
from robo_dagster.providers.datasets import DatasetNotProvided
from robo_dagster.providers.errors import ProviderError
from robo_dagster.providers.folder import (
    DataFolder,
    ReportFiles,
    bar_spans,
    bars_sql,
    folder_signature,
    query,
    scan_folder,
)
from robo_dagster.providers.market_data import HeadlineSource, flag_universe, known_symbols


class FilesMarketData(HeadlineSource):
    """Market data from a folder of the user's own files (``ROBO_DATA_DIR``): see the
    module docstring for the layout."""

    source_name: ClassVar[str] = "files"

    data_dir: str = Field(description="The folder with bars/ (or bars.csv) and optional files.")
    watchlist: list[str] = Field(
        default_factory=list, description="Tickers flagged as watched in the universe."
    )

    def _folder(self) -> DataFolder:
        return scan_folder(self.data_dir)

    @property
    def _reports(self) -> ReportFiles:
        return ReportFiles(self.data_dir)

    def _last_readable(self) -> dt.date | None:
        """The ``ROBO_AS_OF`` bound: no bar after it is ever read."""
        return calendar.to_date(self.as_of) if self.as_of else None

    def _spans(self) -> pd.DataFrame:
        """Per symbol, its first and last bar date and how many rows it has (up to the
        ``ROBO_AS_OF`` bound)."""
        return bar_spans(self.data_dir, folder_signature(self.data_dir), self._last_readable())

    def session(self) -> dt.date:
        """The newest bar's session, or the ``ROBO_AS_OF`` session when pinned."""
        if self.as_of:
            return calendar.session_on_or_before(self.as_of)
        spans = self._spans()
        if spans.empty:
            raise ProviderError(f"{self.data_dir}: no bar has a readable date")
        return calendar.session_on_or_before(pd.Timestamp(spans["last"].max()).date())

    def first_session(self) -> dt.date:
        """The later of the history start and the first bar in the folder."""
        spans = self._spans()
        start = calendar.history_start()
        if not spans.empty:
            start = max(start, pd.Timestamp(spans["first"].min()).date())
        return calendar.session_on_or_after(start)

    def describe(self) -> str:
        return f"files in {self.data_dir} ({len(self._spans())} symbols)"

    def how_to_add_symbols(self) -> str:
        return f"add bars/<SYMBOL>.csv to {self.data_dir}"

    def universe(self, held: Sequence[str] = ()) -> pd.DataFrame:
        symbols = sorted(self._spans()["symbol"])
        if not symbols:
            raise ProviderError(f"{self.data_dir}: no symbol has a bar up to {self.as_of}")
        frame = pd.DataFrame({"symbol": symbols})
        frame = frame.merge(self._reports.sectors(), on="symbol", how="left")
        return flag_universe(frame, self.watchlist)

    def _known(self, symbols: Sequence[str]) -> list[str]:
        where = f"no bars for them in {self.data_dir} ({self.how_to_add_symbols()})"
        return known_symbols(symbols, set(self._spans()["symbol"]), where)

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        """The files' rows for ``symbols`` from the first to the last of ``sessions``,
        including rows on dates that are not sessions and rows whose date does not
        parse, so that ``price_bars`` quarantines them with their reason."""
        days = self.closed_sessions(sessions)
        wanted = self._known(symbols)
        bound = min(self._last_readable() or days[-1], days[-1])
        return query(
            self.data_dir,
            f"""
            select date, symbol, open, high, low, close, volume
            from ({bars_sql(self._folder(), wanted)})
            where symbol in (select unnest(?))
              and (date is null or (date >= ? and date <= ?))
            order by date, symbol
            """,
            [wanted, pd.Timestamp(days[0]), pd.Timestamp(bound)],
        )

    def headlines_in(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        return self._reports.news(symbols, since, until)

    def earnings(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._reports.earnings(symbols, start, end, self.session())

    def earnings_published_between(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        return self._reports.earnings_wire(symbols, since, until)

    def fundamentals(self, symbols: Sequence[str]) -> pd.DataFrame:
        self._reports.require("fundamentals.csv", "fundamentals")
        session = self.session()
        wanted = self._known(symbols)
        closes = self.daily_bars(wanted, [session])
        on_session = closes[closes["date"] == pd.Timestamp(session)]
        prices = on_session.drop_duplicates("symbol", keep=False).set_index("symbol")["close"]
        return self._reports.fundamentals(wanted, prices, session)

    def option_chains(self, symbols: Sequence[str]) -> pd.DataFrame:
        raise DatasetNotProvided("option_chains", "the files source has no option chains")

    def quotes(self, symbols: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
        raise DatasetNotProvided("quotes", "the files source has no intraday quotes")

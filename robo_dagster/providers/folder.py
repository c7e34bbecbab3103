"""The layout of a folder of market data files, read with DuckDB (no per-row Python).

``scan_folder`` checks the layout and every header once per change of the folder;
``bars_sql`` is the folder's bars as one SQL relation; ``ReportFiles`` reads the optional
files (sectors, fundamentals, earnings, news) that the files source serves and that
Alpaca takes as a supplement. The layout itself is described in ``providers.files``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from robo_dagster.domain.market_sim import TICKER_PATTERN
from robo_dagster.domain.reports import earnings_as_of, earnings_wire, fundamentals_as_of
from robo_dagster.providers.datasets import DatasetNotProvided
from robo_dagster.providers.errors import ProviderError

BAR_FILE_COLUMNS = ("date", "open", "high", "low", "close", "volume")
LONG_TABLE_COLUMNS = ("symbol", *BAR_FILE_COLUMNS)
OPTIONAL_FILES: dict[str, tuple[str, ...]] = {
    "fundamentals.csv": (
        "symbol",
        "sector",
        "market_cap",
        "eps_ttm",
        "eps_forward",
        "book_value_per_share",
    ),
    "earnings.csv": ("symbol", "report_date", "timing", "eps_estimate", "eps_actual"),
    "news.jsonl": ("symbol", "published_at", "headline", "source", "impact"),
    "sectors.csv": ("symbol", "name", "sector"),
}
EXPORT_HINT = "a Yahoo or Stooq daily export has Date,Open,High,Low,Close,Adj Close,Volume"
LONG_HINT = "the long table has symbol,date,open,high,low,close,volume"


def normalize_name(name: str) -> str:
    """A header as DuckDB's ``normalize_names`` spells it: lower case, spaces as ``_``."""
    return "_".join(str(name).strip().lower().split())


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_sql_text(v) for v in values) + "]"


@dataclass(frozen=True)
class BarFile:
    """One file of bars: its path, the symbol it holds (None for the long table), its
    format, its header as written, and each needed column's name as the file spells it."""

    path: str
    symbol: str | None
    kind: str  # "csv" or "parquet"
    columns: tuple[tuple[str, str], ...]
    header: tuple[str, ...] = ()

    def spelled(self, column: str) -> str | None:
        """``column`` as the file spells it, or None when the file lacks it."""
        return dict(self.columns).get(column)


@dataclass(frozen=True)
class DataFolder:
    """What a scan of ``ROBO_DATA_DIR`` found: the bar files and the optional files."""

    root: str
    bar_files: tuple[BarFile, ...]
    optional: tuple[str, ...]

    @property
    def long_table(self) -> bool:
        return any(f.symbol is None for f in self.bar_files)


def _header(path: Path) -> list[str]:
    """The column names of a CSV's first line, or of a Parquet file's schema."""
    if path.suffix == ".parquet":
        with duckdb.connect() as conn:
            rows = conn.execute(
                "select name from parquet_schema(?) where name <> 'schema'", [str(path)]
            ).fetchall()
        return [str(name) for (name,) in rows]
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = next(csv.reader(handle), [])
    return [name for name in first if name.strip()]


def _columns(
    path: Path, needed: Sequence[str], optional: Sequence[str], hint: str
) -> dict[str, str]:
    """Each needed (and present optional) column's name as ``path`` spells it; a
    missing one is a clear error naming the file and the column."""
    spelled = {normalize_name(name): name for name in _header(path)}
    missing = [name for name in needed if name not in spelled]
    if missing:
        found = ", ".join(spelled.values()) or "no header"
        raise ProviderError(
            f"{path}: no column {', '.join(repr(m) for m in missing)} (found {found}; {hint})"
        )
    return {name: spelled[name] for name in [*needed, *optional] if name in spelled}


def csv_relation(path: Path, needed: Sequence[str], optional: Sequence[str] = ()) -> str:
    """A SELECT over the CSV at ``path`` with its columns renamed to their normalized
    names (``Adj Close`` is ``adj_close``), every value as text."""
    spelled = _columns(path, needed, optional, f"{path.name} has {','.join(needed)}")
    select = ", ".join(f'"{name}" as {column}' for column, name in spelled.items())
    return (
        f"(select {select} from read_csv({_sql_text(str(path))}, header = true, "
        "all_varchar = true))"
    )


def folder_signature(root: str) -> tuple[tuple[str, int, int], ...]:
    """Every file's relative path, modification time and size: a changed file makes a
    new signature, so the scan cache never serves stale columns."""
    base = Path(root)
    entries = []
    for path in sorted([*base.glob("*"), *base.glob("bars/*")]):
        if path.is_file():
            stat = path.stat()
            entries.append((str(path.relative_to(base)), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


def scan_folder(root: str, require_bars: bool = True) -> DataFolder:
    """The folder's layout, checked: one layout of bars, every header complete. Without
    ``require_bars`` a folder of optional files only is accepted (Alpaca's supplement)."""
    return _scan(root, folder_signature(root), require_bars)


@lru_cache(maxsize=16)
def _scan(
    root: str, signature: tuple[tuple[str, int, int], ...], require_bars: bool = True
) -> DataFolder:
    base = Path(root)
    if not base.is_dir():
        raise ProviderError(f"ROBO_DATA_DIR={root!r} is not a folder")
    per_symbol = sorted(
        p for p in (base / "bars").glob("*") if p.suffix in (".csv", ".parquet") and p.is_file()
    )
    long = [base / name for name in ("bars.csv", "bars.parquet") if (base / name).is_file()]
    if per_symbol and long:
        raise ProviderError(
            f"{root}: both bars/ and {long[0].name} hold bars; keep one layout (one file "
            "per symbol in bars/, or one long table)"
        )
    if len(long) > 1:
        raise ProviderError(f"{root}: both bars.csv and bars.parquet; keep one of them")
    files: list[BarFile] = []
    seen: dict[str, Path] = {}
    for path in per_symbol:
        symbol = path.stem.strip().upper()
        if not TICKER_PATTERN.match(symbol):
            raise ProviderError(
                f"{path}: {path.stem!r} is not a ticker; name each file <SYMBOL>.csv or "
                "<SYMBOL>.parquet (1-10 characters, A-Z, 0-9, '.' or '-')"
            )
        if symbol in seen:
            raise ProviderError(f"{path} and {seen[symbol]} both hold {symbol}; keep one")
        seen[symbol] = path
        columns = _columns(path, BAR_FILE_COLUMNS, ("adj_close",), EXPORT_HINT)
        files.append(
            BarFile(
                str(path),
                symbol,
                path.suffix[1:],
                tuple(sorted(columns.items())),
                tuple(_header(path)),
            )
        )
    for path in long:
        columns = _columns(path, LONG_TABLE_COLUMNS, (), LONG_HINT)
        files.append(
            BarFile(
                str(path),
                None,
                path.suffix[1:],
                tuple(sorted(columns.items())),
                tuple(_header(path)),
            )
        )
    if not files and require_bars:
        raise ProviderError(
            f"{root}: no bars found; put one file per symbol in {base / 'bars'} "
            f"(<SYMBOL>.csv, {EXPORT_HINT}) or one long table {base / 'bars.csv'} ({LONG_HINT})"
        )
    optional = []
    for name, needed in OPTIONAL_FILES.items():
        path = base / name
        if path.is_file():
            if name.endswith(".csv"):
                csv_relation(path, needed)
            optional.append(name)
    return DataFolder(root, tuple(files), tuple(optional))


def _bar_select(group: list[BarFile]) -> str:
    """One SELECT over files with the same format and header, every value as text. The
    files share a schema, so DuckDB reads them in one scan without matching columns by
    name (``union_by_name`` costs ten times more at 500 files)."""
    first = group[0]
    paths = _sql_list([f.path for f in group])
    if first.kind == "csv":
        source = f"read_csv({paths}, header = true, all_varchar = true, filename = true)"
    else:
        source = f"read_parquet({paths}, filename = true)"

    def text(column: str) -> str:
        name = first.spelled(column)
        return f'cast("{name}" as varchar)' if name else "null"

    adjusted = "true" if first.spelled("adj_close") else "false"
    columns = (
        f"{text('date')} as date, {text('open')} as open, {text('high')} as high, "
        f"{text('low')} as low, {text('close')} as close, {text('adj_close')} as adj_close, "
        f"{text('volume')} as volume, {adjusted} as adjusted, filename"
    )
    if first.symbol is None:
        return f"select {text('symbol')} as symbol, {columns} from {source}"
    names = ", ".join(f"({_sql_text(f.path)}, {_sql_text(str(f.symbol))})" for f in group)
    return (
        f"select files.symbol, {columns} from {source} "
        f"join (values {names}) as files(path, symbol) on files.path = filename"
    )


def bars_sql(folder: DataFolder, symbols: Sequence[str] | None = None) -> str:
    """The folder's bars as one relation: symbol, date, open, high, low, close, volume
    and the file each came from. Prices are scaled by Adj Close / Close where the file
    has an Adj Close column; a value that does not parse is NULL. With ``symbols``, only
    their files are read (one file per symbol), so a few names cost a few files."""
    wanted = {s.upper() for s in symbols} if symbols is not None else None
    chosen = [
        f for f in folder.bar_files if f.symbol is None or wanted is None or f.symbol in wanted
    ]
    if not chosen:
        chosen = list(folder.bar_files[:1])  # an empty result with the right columns
    groups: dict[tuple[str, tuple[str, ...]], list[BarFile]] = {}
    for bar_file in chosen:
        groups.setdefault((bar_file.kind, bar_file.header), []).append(bar_file)
    union = " union all ".join(_bar_select(group) for group in groups.values())
    number = "try_cast(nullif(trim({0}), '') as double)"
    return f"""
        with raw as ({union}),
        parsed as (
            select upper(trim(symbol)) as symbol,
                   coalesce(try_cast(trim(date) as date),
                            try_cast(left(trim(date), 10) as date)) as date,
                   {number.format("open")} as open, {number.format("high")} as high,
                   {number.format("low")} as low, {number.format("close")} as close,
                   {number.format("adj_close")} as adj_close,
                   {number.format("volume")} as volume, adjusted, filename
            from raw
        )
        select symbol, cast(date as timestamp) as date,
               open * factor as open, high * factor as high, low * factor as low,
               close * factor as close, volume, filename as source_file
        from (select *, case when adjusted then adj_close / nullif(close, 0) else 1.0 end
                        as factor
              from parsed)
    """


@lru_cache(maxsize=8)
def bar_spans(
    root: str, signature: tuple[tuple[str, int, int], ...], bound: dt.date | None
) -> pd.DataFrame:
    folder = _scan(root, signature, True)
    with duckdb.connect() as conn:
        try:
            return conn.execute(
                f"""
                select symbol, min(date) as first, max(date) as last, count(*) as rows
                from ({bars_sql(folder)})
                where symbol is not null and date is not null and (? is null or date <= ?)
                group by symbol order by symbol
                """,
                [bound, bound],
            ).fetchdf()
        except duckdb.Error as exc:
            raise ProviderError(f"{folder.root}: {exc}") from exc


def query(root: str, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """``sql`` on an in-memory DuckDB; a DuckDB error names the folder."""
    with duckdb.connect() as conn:
        try:
            return conn.execute(sql, params or []).fetchdf()
        except duckdb.Error as exc:
            raise ProviderError(f"{root}: {exc}") from exc


class ReportFiles:
    """The optional files of a folder: ``sectors.csv``, ``fundamentals.csv``,
    ``earnings.csv`` and ``news.jsonl``. A missing file is a dataset not provided."""

    def __init__(self, root: str) -> None:
        self.root = root

    def require(self, name: str, dataset: str) -> Path:
        """The path of optional file ``name``; ``DatasetNotProvided`` when it is absent."""
        if name not in scan_folder(self.root, require_bars=False).optional:
            raise DatasetNotProvided(dataset, f"{self.root} has no {name}")
        return Path(self.root) / name

    def sectors(self) -> pd.DataFrame:
        """symbol, name, sector from sectors.csv, else the sectors of fundamentals.csv
        (no rows when the folder has neither)."""
        folder = scan_folder(self.root, require_bars=False)
        for name, needed in (
            ("sectors.csv", ("symbol", "name", "sector")),
            ("fundamentals.csv", ("symbol", "sector")),
        ):
            if name in folder.optional:
                relation = csv_relation(Path(self.root) / name, needed)
                names = "name" if "name" in needed else "null as name"
                return query(
                    self.root,
                    f"select upper(trim(symbol)) as symbol, {names}, nullif(trim(sector), '') "
                    f"as sector from {relation}",
                ).drop_duplicates("symbol", keep="last")
        return pd.DataFrame(columns=["symbol", "name", "sector"])

    def reports(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The rows of earnings.csv for ``symbols``, checked: a date and BMO or AMC."""
        path = self.require("earnings.csv", "earnings")
        relation = csv_relation(path, OPTIONAL_FILES["earnings.csv"])
        frame = query(
            self.root,
            f"""
            select upper(trim(symbol)) as symbol, try_cast(report_date as date) as report_date,
                   upper(trim(timing)) as timing,
                   try_cast(nullif(trim(eps_estimate), '') as double) as eps_estimate,
                   try_cast(nullif(trim(eps_actual), '') as double) as eps_actual
            from {relation}
            """,
        )
        bad = frame[frame["report_date"].isna() | ~frame["timing"].isin(["BMO", "AMC"])]
        if len(bad):
            first = bad.iloc[0]
            raise ProviderError(
                f"{path}: each report needs a report_date (YYYY-MM-DD) and a timing of BMO or "
                f"AMC (first bad row: {first['symbol']}, {first['report_date']}, {first['timing']})"
            )
        frame = frame[frame["symbol"].isin({str(s).upper() for s in symbols})]
        return frame.assign(report_date=pd.to_datetime(frame["report_date"]))

    def earnings(
        self, symbols: Sequence[str], start: dt.date, end: dt.date, as_of: dt.date
    ) -> pd.DataFrame:
        """The reports dated in [start, end] as of ``as_of`` (``domain.reports``)."""
        frame = earnings_as_of(self.reports(symbols), start, end, as_of)
        if frame.empty:
            raise DatasetNotProvided(
                "earnings", f"earnings.csv has no report on these symbols from {start} to {end}"
            )
        return frame

    def earnings_wire(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        """The actuals published in (since, until], naive UTC."""
        start, end = since.date() - dt.timedelta(days=1), until.date()
        return earnings_wire(earnings_as_of(self.reports(symbols), start, end, end), since, until)

    def fundamentals(
        self, symbols: Sequence[str], prices: pd.Series, as_of: dt.date
    ) -> pd.DataFrame:
        """fundamentals.csv valued at ``prices`` (symbol -> close on ``as_of``)."""
        path = self.require("fundamentals.csv", "fundamentals")
        optional = ("as_of", "name", "beta", "dividend_yield")
        snapshot = query(
            self.root,
            f"select * from {csv_relation(path, OPTIONAL_FILES['fundamentals.csv'], optional)}",
        )
        snapshot["symbol"] = snapshot["symbol"].str.strip().str.upper()
        numeric = ["market_cap", "eps_ttm", "eps_forward", "book_value_per_share"]
        numeric += [c for c in ("beta", "dividend_yield") if c in snapshot.columns]
        snapshot[numeric] = snapshot[numeric].apply(pd.to_numeric, errors="coerce")
        snapshot = snapshot[snapshot["symbol"].isin({str(s).upper() for s in symbols})]
        if snapshot.empty:
            raise DatasetNotProvided("fundamentals", f"{path} has none of the universe's symbols")
        frame = fundamentals_as_of(snapshot, prices, as_of)
        names = self.sectors().set_index("symbol")["name"]
        frame["name"] = frame["name"].fillna(frame["symbol"].map(names))
        return frame

    def news(
        self, symbols: Sequence[str], since: pd.Timestamp, until: pd.Timestamp
    ) -> pd.DataFrame:
        """Headlines of news.jsonl on ``symbols`` published in [since, until] (naive UTC)."""
        path = self.require("news.jsonl", "news")
        frame = query(
            self.root,
            """
            select substr(md5(concat_ws('|', symbol, cast(published_at as varchar), headline)), 1, 16)
                       as news_id,
                   published_at, symbol, source, headline, impact
            from (
                select upper(trim(cast(symbol as varchar))) as symbol,
                       cast(timezone('UTC', try_cast(cast(published_at as varchar) as timestamptz))
                            as timestamp) as published_at,
                       cast(headline as varchar) as headline,
                       coalesce(cast(source as varchar), 'files') as source,
                       try_cast(impact as double) as impact
                from read_json(?, format = 'newline_delimited')
            )
            where symbol in (select unnest(?)) and published_at >= ? and published_at <= ?
            order by published_at, news_id
            """,
            [str(path), [str(s).upper() for s in symbols], since, until],
        )
        bad = frame[frame["impact"].isna() | ~frame["impact"].between(0, 1)]
        if len(bad):
            first = bad.iloc[0]
            raise ProviderError(
                f"{path}: impact must be a number from 0 to 1 ({first['symbol']} at "
                f"{first['published_at']}: {first['impact']})"
            )
        return frame

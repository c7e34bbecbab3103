"""What several reviews share: severities, date and record coercion, text formatting.

Conventions shared by every function of the ``review`` package:

- Returns and weights are fractions (0.05 = 5 %), except ``contribution_pct``, which is
  a share of the book's daily P&L in percent (the contributions sum to 100).
- Losses are positive numbers, as VaR is.
- Severities are the seed's alert levels, ``SEVERITIES``, lowest first: the names of
  ``domain.severity.Severity``, which also judges every limit (``limit_severities``).
- ``session`` arguments are dates; bar and news timestamps are naive (news in UTC).
- Text shows figures as ``domain.formatting`` writes them: "50.8 %", "1,198,345.67".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeAlias

import pandas as pd

from robo_dagster.domain import calendar
from robo_dagster.domain.formatting import format_money, format_percent
from robo_dagster.domain.severity import SEVERITY_NAMES

SEVERITIES = SEVERITY_NAMES

_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

SessionLike: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp


def _day(value: SessionLike) -> pd.Timestamp:
    """A session-like value as a naive midnight Timestamp."""
    return pd.Timestamp(calendar.to_date(pd.Timestamp(value)))


def _dates(values: pd.Series) -> pd.Series:
    """Dates as naive datetime64[ns] days, whatever unit or type the warehouse returned
    (DuckDB hands back microseconds; merges need one dtype on both sides)."""
    return pd.to_datetime(values).dt.normalize().astype("datetime64[ns]")


def _record(table: pd.DataFrame | pd.Series | Mapping[str, Any]) -> dict[str, Any]:
    """A one-row table (the stored ``portfolio_risk`` / ``portfolio_pnl``) as a dict."""
    if isinstance(table, pd.DataFrame):
        if table.empty:
            raise ValueError("expected a one-row table, got no rows")
        return dict(table.iloc[0].to_dict())
    if isinstance(table, pd.Series):
        return dict(table.to_dict())
    return dict(table)


def _float(record: Mapping[str, Any], key: str) -> float:
    """``record[key]`` as a float; NaN when it is absent or null."""
    value = record.get(key)
    return float(value) if value is not None and pd.notna(value) else float("nan")


def _fmt(values: pd.Series, spec: str, na: str = "n/a") -> pd.Series:
    """Each value formatted with ``spec`` (``na`` for missing), as strings."""
    return values.map(lambda v: na if pd.isna(v) else format(v, spec)).astype(object)


def _pct(values: pd.Series, decimals: int = 1, *, signed: bool = False) -> pd.Series:
    """Each fraction as a percentage ("50.8 %", ``domain.formatting``), as strings."""
    return values.map(lambda v: format_percent(v, decimals, signed=signed)).astype(object)


def _money(values: pd.Series, decimals: int = 2, *, signed: bool = False) -> pd.Series:
    """Each amount with thousands separators ("1,198,345.67"), as strings."""
    return values.map(lambda v: format_money(v, decimals, signed=signed)).astype(object)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _with_prev_close(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars sorted per symbol with the previous close in the symbol's own session
    sequence, so a symbol that missed a session is compared with its last real bar."""
    out = bars.assign(date=_dates(bars["date"])).drop_duplicates(["symbol", "date"], keep="last")
    out = out.sort_values(["symbol", "date"], ignore_index=True)
    out["prev_close"] = out.groupby("symbol", sort=False)["close"].shift(1)
    return out


def _md_table(frame: pd.DataFrame) -> str:
    # The cells are formatted already; tabulate would re-parse "+1,234.50" as a number.
    return "_none_" if frame.empty else str(frame.to_markdown(index=False, disable_numparse=True))


def _md_bullets(lines: pd.Series) -> str:
    return "_none_" if lines.empty else "\n".join("- " + lines.astype(str))

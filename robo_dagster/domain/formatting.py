"""Numbers as a person reads them: "50.8 %", "1,198,345.67", never ``1.198e+06``.

Every report a person reads formats its figures here: the markdown previews in the
assets' metadata (``robo_dagster.metadata``), the morning brief, the risk assessment,
the evening review and the recommendations. A dashboard can use the same functions, so
a figure reads the same wherever it is shown. No function here ever writes scientific
notation: every figure is rounded and written with ``Decimal`` in fixed point, so even
1e300 is written out in digits, and a figure is rounded half up from the decimal it is
written as (0.0195 reads "2.0 %", not "1.9 %" from the binary float 0.019499...).

The column-name convention (``column_kind``) is decided in this one place:

- **percent**: fractions shown as a percentage with one decimal (0.508 -> "50.8 %").
  Names ending in ``weight``, ``_pct``, ``exposure``, ``return``, ``_rate`` or
  ``drawdown``, starting with ``return_``, ``log_return_`` or ``close_vs_``, and the
  volatilities and yields in ``FRACTION_COLUMNS``. Gross and net exposure are multiples
  of equity, so 1.04 reads "104.0 %" of equity.
- **percent points**: the few ``_pct`` columns that already hold percent
  (``PERCENT_POINT_COLUMNS``: an EPS surprise of 19.2, a contribution of 56 to a daily
  P&L that sums to 100, ``daily_return_pct``): shown "19.2 %", not multiplied again.
- **money**: amounts in the account's currency and prices, with thousands separators
  and two decimals ("1,198,345.67"): names ending in ``_pnl``, ``market_value`` or
  ``cost_basis``, starting with ``eps_``, ``sma_``, ``ema_`` or ``bb_``, and the names in
  ``MONEY_COLUMNS`` (cash, equity, prices, VaR in currency, a scenario's loss, ...).
- **number**: ``PLAIN_NUMBER_COLUMNS`` (which the rules above would misread) and
  anything else numeric: integers with thousands separators ("1,234,567"),
  other numbers to four significant digits ("0.6936", "25.44", "1,180").

Missing values (None, NaN) read "n/a"; infinities "inf" and "-inf".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal
from numbers import Integral, Real
from typing import Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["percent", "percent_points", "money", "number"]

MISSING = "n/a"
PERCENT_SIGN = " %"
SIGNIFICANT_DIGITS = 4
MAX_DECIMALS = 6

PERCENT_POINT_COLUMNS: frozenset[str] = frozenset(
    {"surprise_pct", "earnings_surprise_pct", "contribution_pct", "daily_return_pct"}
)
FRACTION_SUFFIXES: tuple[str, ...] = ("weight", "_pct", "exposure", "return", "_rate", "drawdown")
FRACTION_PREFIXES: tuple[str, ...] = ("return_", "log_return_", "close_vs_")
FRACTION_COLUMNS: frozenset[str] = frozenset(
    {
        "volatility_annual",
        "realized_vol_20",
        "daily_vol",
        "atm_iv",
        "implied_vol",
        "dividend_yield",
        "pe_vs_sector",
    }
)
MONEY_SUFFIXES: tuple[str, ...] = ("_pnl", "market_value", "cost_basis")
MONEY_PREFIXES: tuple[str, ...] = ("eps_", "sma_", "ema_", "bb_")
MONEY_COLUMNS: frozenset[str] = frozenset(
    {
        "pnl",
        "cash",
        "equity",
        "broker_equity",
        "our_equity",
        "difference",
        "buying_power",
        "commissions",
        "opening_cash",
        "var_95_1d",
        "es_97_5_1d",
        "loss",
        "market_cap",
        "notional",
        "price",
        "last_price",
        "average_cost",
        "open",
        "high",
        "low",
        "close",
        "prev_close",
        "entry_close",
        "exit_close",
        "underlying_price",
        "strike",
        "bid",
        "ask",
        "mid",
        "limit_price",
        "fill_price",
        "filled_avg_price",
        "atr_14",
        "book_value_per_share",
    }
)


# Names the suffix rules would misread: ``strategy_analysis.portfolio_exposure`` sums
# weight x a score in [-1, 1], a lean of the book, not a share of equity.
PLAIN_NUMBER_COLUMNS: frozenset[str] = frozenset({"portfolio_exposure"})


def column_kind(column: str) -> ColumnKind:
    """How the values of ``column`` read, by its name (the module docstring's convention)."""
    name = str(column).strip().lower()
    if name in PLAIN_NUMBER_COLUMNS:
        return "number"
    if name in PERCENT_POINT_COLUMNS:
        return "percent_points"
    if (
        name in FRACTION_COLUMNS
        or name.endswith(FRACTION_SUFFIXES)
        or name.startswith(FRACTION_PREFIXES)
    ):
        return "percent"
    if name in MONEY_COLUMNS or name.endswith(MONEY_SUFFIXES) or name.startswith(MONEY_PREFIXES):
        return "money"
    return "number"


def _real(value: object) -> float | None:
    """``value`` as a float, or None when it is missing; a non-number raises."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"expected a number, got the boolean {value!r}")
    if not isinstance(value, Real | np.number):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
    number = float(value)
    return None if math.isnan(number) else number


# Enough digits for any float written out in full (1.8e308 has 309) and its decimals.
_EXACT = Context(prec=400, rounding=ROUND_HALF_UP)


def _fixed(number: float, decimals: int, scale: int = 1) -> str:
    """``number`` x ``scale`` in fixed point with thousands separators, rounded half up
    from the decimal the number is written as (0.0195 -> "0.02", 2.675 -> "2.68"): a
    person rounds what is shown, not the binary float behind it. Never an exponent."""
    exact = _EXACT.multiply(Decimal(repr(number)), Decimal(scale))
    rounded = exact.quantize(Decimal(1).scaleb(-decimals), context=_EXACT)
    return format(rounded, ",f")


def _non_finite(number: float) -> str:
    return "inf" if number > 0 else "-inf"


def _unsigned_zero(text: str) -> str:
    """ "-0.0" -> "0.0": a value that rounds to zero has no sign to show."""
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return text[1:]
    return text


def _signed(text: str, signed: bool) -> str:
    text = _unsigned_zero(text)
    # A value that rounds to zero is neither a gain nor a loss: "0", not "+0".
    gain = signed and not text.startswith("-") and any(c in "123456789" for c in text)
    return "+" + text if gain else text


def format_percent(
    fraction: object, decimals: int = 1, *, signed: bool = False, missing: str = MISSING
) -> str:
    """A fraction as a percentage: 0.508 -> "50.8 %" (``signed``: "+50.8 %")."""
    number = _real(fraction)
    if number is None:
        return missing
    if not math.isfinite(number):
        return _non_finite(number) + PERCENT_SIGN
    # Decimal, not float: x 100 must not overflow.
    return _signed(_fixed(number, decimals, 100), signed) + PERCENT_SIGN


def format_percent_points(
    points: object, decimals: int = 1, *, signed: bool = False, missing: str = MISSING
) -> str:
    """A value already in percent: 19.22 -> "19.2 %"."""
    number = _real(points)
    if number is None:
        return missing
    if not math.isfinite(number):
        return _non_finite(number) + PERCENT_SIGN
    return _signed(_fixed(number, decimals), signed) + PERCENT_SIGN


def format_money(
    amount: object, decimals: int = 2, *, signed: bool = False, missing: str = MISSING
) -> str:
    """An amount with thousands separators: 1198345.672 -> "1,198,345.67"."""
    number = _real(amount)
    if number is None:
        return missing
    if not math.isfinite(number):
        return _non_finite(number)
    return _signed(_fixed(number, decimals), signed)


def format_count(value: object, *, missing: str = MISSING) -> str:
    """A whole number with thousands separators: 1234567 -> "1,234,567"."""
    number = _real(value)
    if number is None:
        return missing
    if not math.isfinite(number):
        return _non_finite(number)
    if isinstance(value, Integral | np.integer):
        return format(int(value), ",d")
    return _unsigned_zero(_fixed(number, 0))


def format_number(
    value: object,
    significant: int = SIGNIFICANT_DIGITS,
    *,
    signed: bool = False,
    missing: str = MISSING,
) -> str:
    """A plain number to ``significant`` digits, in fixed point: 0.69362 -> "0.6936",
    25.4412 -> "25.44", 1180.2 -> "1,180", 1.2e-5 -> "0.000012". Integers are shown
    whole ("1,234,567"). At most ``MAX_DECIMALS`` decimals: smaller values read 0."""
    number = _real(value)
    if number is None:
        return missing
    if not math.isfinite(number):
        return _non_finite(number)
    if isinstance(value, Integral | np.integer):
        return _signed(format(int(value), ",d"), signed)
    if number == 0:
        return _signed("0", signed)
    magnitude = math.floor(math.log10(abs(number)))
    decimals = min(max(significant - 1 - magnitude, 0), MAX_DECIMALS)
    text = _fixed(number, decimals)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _signed(text, signed)


def _check_float_format(float_format: str | None) -> None:
    """Only fixed-point specs (",.3f"): "g" or "e" would write 1.198e+06."""
    if float_format is not None and not float_format.endswith("f"):
        raise ValueError(
            f"float_format {float_format!r} must be a fixed-point spec such as ',.3f' "
            "(a 'g' or 'e' spec writes scientific notation)"
        )


def format_value(column: str, value: object, float_format: str | None = None) -> str:
    """One cell as a person reads it: numbers by ``column_kind(column)``, dates as
    dates, text as it is, missing values as "n/a". ``float_format`` (a fixed-point
    spec such as ",.3f") replaces the four significant digits of plain non-integer
    numbers; percentages and money keep their own format."""
    _check_float_format(float_format)
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        return str(stamp.date()) if stamp == stamp.normalize() else stamp.isoformat(sep=" ")
    if isinstance(value, Real | np.number):
        if isinstance(value, float | np.floating) and math.isnan(float(value)):
            return MISSING
        kind = column_kind(column)
        if kind == "percent":
            return format_percent(value)
        if kind == "percent_points":
            return format_percent_points(value)
        if kind == "money":
            return format_money(value)
        if float_format is not None and not isinstance(value, Integral | np.integer):
            return _unsigned_zero(format(float(value), float_format))
        return format_number(value)
    return str(value)


def format_frame(frame: pd.DataFrame, float_format: str | None = None) -> pd.DataFrame:
    """``frame`` with every cell formatted by ``format_value`` (strings, same shape)."""
    _check_float_format(float_format)
    return pd.DataFrame(
        {
            column: [
                format_value(str(column), value, float_format) for value in frame[column].tolist()
            ]
            for column in frame.columns
        },
        index=frame.index,
        dtype=object,
    )


def format_record(record: Mapping[str, object]) -> dict[str, str]:
    """Each field of a one-row record formatted by its name."""
    return {str(key): format_value(str(key), value) for key, value in record.items()}


def column_alignment(frame: pd.DataFrame) -> list[str]:
    """Numbers to the right, everything else to the left, per column of ``frame``."""
    return [
        "right"
        if pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
        else "left"
        for column in frame.columns
    ]


def markdown_table(frame: pd.DataFrame, empty: str = "_none_") -> str:
    """``frame`` as a markdown table of formatted cells (``empty`` when it has no rows)."""
    if frame.empty:
        return empty
    # The cells are strings already; tabulate would re-parse "1,234.50" as a number.
    return str(
        format_frame(frame).to_markdown(
            index=False, disable_numparse=True, colalign=column_alignment(frame)
        )
    )

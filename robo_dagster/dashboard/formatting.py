"""Numbers as people read them: money with thousands separators, weights as percent.

A missing value (None, NaN, NA) shows as ``MISSING``; anything that is not a number
raises ``TypeError`` naming it, rather than printing something that looks like one.
Never scientific notation: 1198000.0 is "1,198,000".
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any

import pandas as pd

MISSING = "–"


def _number(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{value!r} ({type(value).__name__}) is not a number")
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise TypeError(f"{value!r} is not a finite number")
    return number


def money(value: Any, decimals: int = 0, signed: bool = False) -> str:
    """``1198000.0`` -> ``"1,198,000"``; ``signed`` puts a + before gains."""
    number = _number(value)
    if number is None:
        return MISSING
    text = f"{number:{'+' if signed else ''},.{decimals}f}"
    return _no_negative_zero(text)


def percent(value: Any, decimals: int = 1, signed: bool = False) -> str:
    """A fraction as percent: ``0.1691`` -> ``"16.9%"``; ``signed`` puts a + before gains."""
    number = _number(value)
    if number is None:
        return MISSING
    text = f"{number * 100:{'+' if signed else ''},.{decimals}f}%"
    return _no_negative_zero(text)


def number(value: Any, decimals: int = 2, signed: bool = False) -> str:
    """A plain number with thousands separators: ``1.2061`` -> ``"1.21"``."""
    value_ = _number(value)
    if value_ is None:
        return MISSING
    return _no_negative_zero(f"{value_:{'+' if signed else ''},.{decimals}f}")


def multiple(value: Any, decimals: int = 2) -> str:
    """A multiple of equity: ``0.8935`` -> ``"0.89x"``."""
    text = number(value, decimals)
    return text if text == MISSING else f"{text}x"


def timestamp(value: Any) -> str:
    """A time to the minute (``2026-11-25 14:30``); a midnight as the day alone."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if not isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        raise TypeError(f"{value!r} ({type(value).__name__}) is not a date or time")
    stamp = pd.Timestamp(value)
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M")


def age(seconds: Any) -> str:
    """A duration as the two largest units: ``"3 h 12 min"``, ``"2 d 4 h"``, ``"45 s"``."""
    value = _number(seconds)
    if value is None:
        return MISSING
    if value < 0:
        raise TypeError(f"an age of {value} s is negative")
    total = int(value)
    parts = [("d", total // 86400), ("h", total % 86400 // 3600), ("min", total % 3600 // 60)]
    shown = [f"{n} {unit}" for unit, n in parts if n]
    return " ".join(shown[:2]) if shown else f"{total} s"


def _no_negative_zero(text: str) -> str:
    """``-0`` and ``-0.0%`` read as a loss that is not there."""
    stripped = text.lstrip("+-")
    return stripped if not any(c in "123456789" for c in stripped) else text

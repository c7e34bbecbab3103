"""Figures on the dashboard, as in every report: ``domain.formatting`` writes the
numbers (money with thousands separators, fractions as "16.9 %", never scientific
notation), so a figure reads the same on a page as in the asset's metadata. What only
the dashboard shows lives here: multiples of equity, times and ages.

A missing value (None, NaN, NA) shows as ``MISSING``; anything that is not a number
raises ``TypeError`` naming it, rather than printing something that looks like one.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from robo_dagster.domain import formatting

MISSING = "–"


def money(value: Any, decimals: int = 0, signed: bool = False) -> str:
    """``1198000.0`` -> ``"1,198,000"``; ``signed`` puts a + before gains."""
    return formatting.format_money(value, decimals, signed=signed, missing=MISSING)


def percent(value: Any, decimals: int = 1, signed: bool = False) -> str:
    """A fraction as percent: ``0.1691`` -> ``"16.9 %"``; ``signed`` puts a + before gains."""
    return formatting.format_percent(value, decimals, signed=signed, missing=MISSING)


def number(value: Any, decimals: int = 2, signed: bool = False) -> str:
    """A plain number to ``decimals`` places with thousands separators: ``1.2061`` -> ``"1.21"``."""
    return formatting.format_money(value, decimals, signed=signed, missing=MISSING)


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
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return MISSING
    value = float(seconds)
    if value < 0:
        raise TypeError(f"an age of {value} s is negative")
    total = int(value)
    parts = [("d", total // 86400), ("h", total % 86400 // 3600), ("min", total % 3600 // 60)]
    shown = [f"{n} {unit}" for unit, n in parts if n]
    return " ".join(shown[:2]) if shown else f"{total} s"

"""Numbers as the dashboard shows them: never scientific notation, never a made-up number."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from robo_dagster.dashboard import formatting


def test_money_has_thousands_separators_and_no_exponent() -> None:
    assert formatting.money(1198000.0) == "1,198,000"
    assert formatting.money(np.float64(1.198e6)) == "1,198,000"
    assert formatting.money(-44362.72) == "-44,363"
    assert formatting.money(2029.48, signed=True) == "+2,029"
    assert formatting.money(1187.9611, decimals=2) == "1,187.96"
    assert formatting.money(np.int64(3)) == "3"


def test_percent_takes_fractions_and_shows_one_decimal() -> None:
    # The house style of every report (domain.formatting): a space before the sign.
    assert formatting.percent(0.169127) == "16.9 %"
    assert formatting.percent(0.00049) == "0.0 %"
    assert formatting.percent(-0.337084, signed=True) == "-33.7 %"
    assert formatting.percent(0.0123, 2, signed=True) == "+1.23 %"
    assert formatting.percent(12.5) == "1,250.0 %"


def test_a_rounded_zero_carries_no_sign() -> None:
    assert formatting.money(-0.4) == "0"
    assert formatting.percent(-0.00001) == "0.0 %"
    assert formatting.money(0.2, signed=True) == "0"


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, pd.NA, pd.NaT])
def test_missing_values_show_as_missing(missing: object) -> None:
    assert formatting.money(missing) == formatting.MISSING
    assert formatting.percent(missing) == formatting.MISSING
    assert formatting.multiple(missing) == formatting.MISSING


@pytest.mark.parametrize("bad", ["1.5", True, np.bool_(True), [1]])
def test_what_is_not_a_number_is_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="expected a number"):
        formatting.money(bad)
    with pytest.raises(TypeError, match="expected a number"):
        formatting.percent(bad)


def test_an_infinite_figure_reads_as_one_not_as_a_huge_number() -> None:
    assert formatting.money(math.inf) == "inf" and formatting.percent(-math.inf) == "-inf %"


def test_multiples_times_and_ages() -> None:
    assert formatting.multiple(0.893511) == "0.89x"
    assert formatting.number(1.20601) == "1.21"
    assert formatting.timestamp(pd.Timestamp("2026-11-25")) == "2026-11-25"
    assert formatting.timestamp(dt.datetime(2026, 11, 25, 14, 30, 12)) == "2026-11-25 14:30"
    assert formatting.timestamp(pd.NaT) == formatting.MISSING
    with pytest.raises(TypeError, match="not a date"):
        formatting.timestamp("2026-11-25")
    assert formatting.age(45) == "45 s"
    assert formatting.age(3 * 3600 + 12 * 60 + 5) == "3 h 12 min"
    assert formatting.age(2 * 86400 + 4 * 3600 + 59) == "2 d 4 h"
    with pytest.raises(TypeError, match="negative"):
        formatting.age(-1)

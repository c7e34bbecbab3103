"""Numbers formatted for people: percentages, money, plain numbers, never 1.198e+06."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robo_dagster.domain.formatting import (
    column_kind,
    format_count,
    format_frame,
    format_money,
    format_number,
    format_percent,
    format_percent_points,
    format_value,
    markdown_table,
)
from robo_dagster.metadata import markdown_preview, markdown_record

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
FORMATTERS = [format_percent, format_percent_points, format_money, format_number, format_count]


def _no_exponent(text: str) -> bool:
    return "e+" not in text and "e-" not in text and "E" not in text


@given(value=ANY_FLOAT)
def test_no_formatter_ever_writes_scientific_notation(value: float) -> None:
    for formatter in FORMATTERS:
        text = formatter(value)
        assert _no_exponent(text), (formatter.__name__, value, text)


@given(value=FINITE, column=st.sampled_from(["weight", "market_value", "rsi_14", "volume"]))
def test_no_cell_ever_writes_scientific_notation(value: float, column: str) -> None:
    assert _no_exponent(format_value(column, value))


@given(value=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_a_percentage_reads_back_as_its_fraction(value: float) -> None:
    text = format_percent(value)
    assert text.endswith(" %")
    shown = Decimal(text[: -len(" %")].replace(",", ""))
    # One decimal of a percent: within half a unit of the last place (0.05 points) of the
    # number as it is written.
    assert abs(shown - Decimal(repr(value)) * 100) <= Decimal("0.05")


@given(value=st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
def test_money_has_thousands_separators_and_reads_back(value: float) -> None:
    text = format_money(value)
    whole = text.lstrip("-").split(".")[0]
    groups = whole.split(",")
    assert all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3
    assert len(text.split(".")[1]) == 2
    # Within half a cent of the number as it is written (0.125 reads 0.13: half up).
    assert abs(Decimal(text.replace(",", "")) - Decimal(repr(value))) <= Decimal("0.005")


@given(value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_a_plain_number_keeps_four_significant_digits(value: float) -> None:
    shown = Decimal(format_number(value).replace(",", ""))
    written = Decimal(repr(value))
    if abs(value) >= 1e-3:  # half a unit of the fourth significant digit
        assert abs(shown - written) <= Decimal(5) * Decimal(10) ** (written.adjusted() - 4)
    else:  # at most six decimals
        assert abs(shown - written) <= Decimal("0.0000005")


def test_the_examples_a_trader_reads() -> None:
    assert format_percent(0.508) == "50.8 %"
    assert format_percent(0.0195) == "2.0 %"  # the binary float is 0.019499...
    assert format_money(2.675) == "2.68" and format_money(0.125) == "0.13"
    assert format_percent(0.02951, 2, signed=True) == "+2.95 %"
    assert format_percent(-0.0004) == "0.0 %"  # no "-0.0 %"
    assert format_percent_points(19.22, signed=True) == "+19.2 %"
    assert format_money(1_198_345.672) == "1,198,345.67"
    assert format_money(-6922.56, 0, signed=True) == "-6,923"
    assert format_number(0.69362) == "0.6936"
    assert format_number(1180.23) == "1,180"
    assert format_number(1.2e-5) == "0.000012"
    assert format_number(np.int64(12_345_678)) == "12,345,678"
    assert format_count(12_345_678.0) == "12,345,678"
    assert format_percent(float("nan")) == "n/a" and format_money(None) == "n/a"
    assert format_money(float("inf")) == "inf" and format_percent(-math.inf) == "-inf %"
    assert format_percent(1.7e308).startswith("17,000,000")  # no overflow to inf


def test_a_value_that_is_no_number_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a number"):
        format_percent("50 %")
    with pytest.raises(TypeError, match="boolean"):
        format_money(True)


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("weight", "percent"),
        ("largest_sector_weight", "percent"),
        ("var_95_1d_pct", "percent"),
        ("gross_exposure", "percent"),
        ("return_20d", "percent"),
        ("hit_rate", "percent"),
        ("avg_return", "percent"),
        ("max_drawdown", "percent"),
        ("realized_vol_20", "percent"),
        ("surprise_pct", "percent_points"),
        ("contribution_pct", "percent_points"),
        ("daily_return_pct", "percent_points"),
        ("market_value", "money"),
        ("daily_pnl", "money"),
        ("equity", "money"),
        ("close", "money"),
        ("var_95_1d", "money"),
        ("sma_200", "money"),
        ("portfolio_exposure", "number"),
        ("rsi_14", "number"),
        ("confidence", "number"),
        ("volume", "number"),
    ],
)
def test_the_column_name_convention(column: str, kind: str) -> None:
    assert column_kind(column) == kind


def test_a_frame_is_formatted_by_its_column_names() -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["MSFT"],
            "weight": [0.508],
            "market_value": [1.198e6],
            "volume": [12_345_678],
            "held": [True],
            "session": [pd.Timestamp("2026-11-25")],
            "rsi_14": [np.nan],
        }
    )
    assert format_frame(frame).iloc[0].tolist() == [
        "MSFT",
        "50.8 %",
        "1,198,000.00",
        "12,345,678",
        "yes",
        "2026-11-25",
        "n/a",
    ]
    table = markdown_table(frame)
    assert "50.8 %" in table and "1,198,000.00" in table and "e+" not in table
    assert markdown_table(frame.head(0)) == "_none_"


def test_the_metadata_previews_read_like_the_reports() -> None:
    positions = pd.DataFrame(
        {
            "symbol": ["MSFT", "AAPL"],
            "market_value": [1.198e6, 254_020.0],
            "unrealized_pnl": [-12_345.678, 0.5],
            "weight": [0.50812, 0.1715],
        }
    )
    preview = str(markdown_preview(positions).value)
    assert "1,198,000.00" in preview and "-12,345.68" in preview
    assert "50.8 %" in preview and "17.2 %" in preview
    assert "e+" not in preview and "0.5081" not in preview
    # Numbers are right-aligned, text left.
    assert preview.splitlines()[1].startswith("|:-") and preview.splitlines()[1].endswith("-:|")
    record = str(
        markdown_record({"equity": 1_482_000.0, "var_95_1d_pct": 0.0195, "beta": 1.04}).value
    )
    assert "| equity | 1,482,000.00 |" in record
    assert "| var_95_1d_pct | 2.0 % |" in record and "| beta | 1.04 |" in record


def test_a_fixed_point_format_applies_to_plain_numbers_only() -> None:
    summary = pd.DataFrame({"group": ["BUY"], "count": [12], "hit_rate": [0.5833], "score": [0.4]})
    preview = str(markdown_preview(summary, floatfmt=".3f").value)
    cells = [c.strip() for c in preview.splitlines()[2].strip("|").split("|")]
    assert cells == ["BUY", "12", "58.3 %", "0.400"]
    with pytest.raises(ValueError, match="fixed-point spec"):
        markdown_preview(summary, floatfmt=",.4g")

"""The one limit-severity table, and its mapping onto Dagster's check severities."""

from __future__ import annotations

import numpy as np
import pytest
from dagster import AssetCheckSeverity, MetadataValue
from hypothesis import given
from hypothesis import strategies as st

from robo_dagster.check_severity import (
    asset_check_severity,
    graded_check_result,
    severity_from_metadata,
)
from robo_dagster.domain.severity import (
    LIMIT_KINDS,
    Severity,
    limit_severities,
    limit_severity,
)
from robo_dagster.monitoring import alerts


@pytest.mark.parametrize(
    ("kind", "ratio", "level"),
    [
        ("sector", 0.79, "INFO"),
        ("sector", 0.80, "WARNING"),
        ("sector", 1.00, "WARNING"),  # at the limit is not past it
        ("sector", 1.016, "ERROR"),  # 50.8 % of a 50 % limit
        ("sector", 1.20, "ERROR"),
        ("sector", 1.21, "CRITICAL"),
        ("position", 1.1, "ERROR"),
        ("position", 1.3, "CRITICAL"),
        ("var", 0.85, "WARNING"),
        ("var", 0.95, "ERROR"),
        ("var", 1.01, "CRITICAL"),
        ("gross", 0.9, "WARNING"),
        ("gross", 5.0, "ERROR"),  # gross exposure is never CRITICAL
    ],
)
def test_the_limit_table(kind: str, ratio: float, level: str) -> None:
    limit = 0.5
    assert limit_severity(kind, ratio * limit, limit) == Severity[level]  # type: ignore[arg-type]


def test_the_cash_floor_warns_below_it() -> None:
    assert limit_severities("cash", [0.01, 0.02, 0.5], 0.02).tolist() == [
        "WARNING",
        "INFO",
        "INFO",
    ]


@given(
    kind=st.sampled_from(LIMIT_KINDS[:4]),
    values=st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=20),
    limit=st.floats(0.01, 2.0),
)
def test_a_larger_figure_is_never_less_severe(kind: str, values: list[float], limit: float) -> None:
    ordered = np.sort(np.array(values))
    levels = [Severity[name] for name in limit_severities(kind, ordered, limit)]  # type: ignore[arg-type]
    assert levels == sorted(levels)
    assert [limit_severity(kind, v, limit) for v in ordered] == levels  # type: ignore[arg-type]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown limit kind"):
        limit_severities("leverage", [1.0], 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive number"):
        limit_severity("sector", 0.5, 0.0)
    with pytest.raises(ValueError, match="positive number"):
        limit_severity("var", 0.01, float("nan"))


def test_the_alerts_use_the_same_scale() -> None:
    assert alerts.Severity is Severity
    assert Severity.parse("error") is Severity.ERROR
    with pytest.raises(ValueError, match="expected one of INFO, WARNING, ERROR, CRITICAL"):
        Severity.parse("SEVERE")


def test_dagster_gets_warn_up_to_warning_and_error_from_error() -> None:
    assert [asset_check_severity(level) for level in Severity] == [
        AssetCheckSeverity.WARN,
        AssetCheckSeverity.WARN,
        AssetCheckSeverity.ERROR,
        AssetCheckSeverity.ERROR,
    ]


def test_a_graded_check_fails_from_warning_and_records_its_level() -> None:
    passing = graded_check_result([Severity.INFO], "within limits")
    assert passing.passed and severity_from_metadata(passing.metadata) is Severity.INFO
    assert graded_check_result([], "nothing to judge").passed
    failing = graded_check_result([Severity.WARNING, Severity.CRITICAL], "two findings")
    assert not failing.passed and failing.severity == AssetCheckSeverity.ERROR
    assert severity_from_metadata(failing.metadata) is Severity.CRITICAL


def test_a_recorded_level_is_read_back_or_refused() -> None:
    assert severity_from_metadata(None) is None
    assert severity_from_metadata({"rows": 3}) is None
    assert severity_from_metadata({"severity": "ERROR"}) is Severity.ERROR
    assert severity_from_metadata({"severity": MetadataValue.text("warning")}) is Severity.WARNING
    with pytest.raises(ValueError, match="unknown alert severity 'SEVERE'"):
        severity_from_metadata({"severity": "SEVERE"})
    with pytest.raises(ValueError, match="must be a severity name"):
        severity_from_metadata({"severity": MetadataValue.float(3.0)})

"""Thresholds: the seed's defaults, environment overrides, clear errors and crossings."""

import pytest

from robo_dagster.monitoring import thresholds
from robo_dagster.monitoring.alerts import Severity

from .metrics_support import clear_threshold_env


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_threshold_env(monkeypatch)


def test_defaults_are_the_seeds() -> None:
    levels = {n: (t.warning, t.critical) for n, t in thresholds.thresholds().items()}
    assert levels == {
        "backlog": (50, 100),
        "failure_rate": (0.10, 0.25),
        "execution_time_s": (300, 600),
        "memory_pct": (80, 90),
        "cpu_pct": (80, 90),
        # The seed's host levels, kept for the whole host, which alerts only when asked.
        "host_memory_pct": (80, 90),
        "host_cpu_pct": (80, 90),
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("backlog", 49, None),
        ("backlog", 50, Severity.WARNING),
        ("backlog", 100, Severity.CRITICAL),
        ("failure_rate", 0.2, Severity.WARNING),
        ("execution_time_s", 601, Severity.CRITICAL),
        ("memory_pct", 79.9, None),
        ("cpu_pct", 85, Severity.WARNING),
    ],
)
def test_crossings(name: str, value: float, expected: Severity | None) -> None:
    assert thresholds.evaluate(name, value) is expected


def test_environment_overrides_either_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_THRESHOLD_EXECUTION_TIME_S_WARNING", "0.5")
    monkeypatch.setenv("ROBO_THRESHOLD_BACKLOG_CRITICAL", " 60 ")
    assert thresholds.threshold("execution_time_s") == thresholds.Threshold(
        "execution_time_s", 0.5, 600
    )
    assert thresholds.evaluate("execution_time_s", 0.6) is Severity.WARNING
    assert thresholds.evaluate("backlog", 60) is Severity.CRITICAL


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ROBO_THRESHOLD_CPU_PCT_WARNING", "high", "ROBO_THRESHOLD_CPU_PCT_WARNING='high' is not"),
        ("ROBO_THRESHOLD_CPU_PCT_CRITICAL", "nan", "must be a finite number"),
        ("ROBO_THRESHOLD_CPU_PCT_WARNING", "-1", "must be a finite number"),
        ("ROBO_THRESHOLD_CPU_PCT_WARNING", "90", "warning 90 (ROBO_THRESHOLD_CPU_PCT_WARNING)"),
        ("ROBO_THRESHOLD_CPU_PCT_CRITICAL", "70", "must be below critical 70"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as info:
        thresholds.evaluate("cpu_pct", 1)
    assert message in str(info.value)


def test_unknown_threshold_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="expected one of backlog, failure_rate"):
        thresholds.evaluate("latency", 1)

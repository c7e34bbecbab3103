"""Alert thresholds: the seed's defaults, each overridable from the environment.

``ROBO_THRESHOLD_<NAME>_WARNING`` and ``ROBO_THRESHOLD_<NAME>_CRITICAL`` replace a default
(``ROBO_THRESHOLD_BACKLOG_WARNING=20``). They are read on every evaluation, so a bad value
fails one sensor tick with a message naming the variable, never the code location's load.

No Dagster import: the CLI and the tests read the same table.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from robo_dagster.monitoring.alerts import Severity


@dataclass(frozen=True)
class Threshold:
    """A metric's two levels: at or above ``warning`` is WARNING, at or above ``critical``
    is CRITICAL."""

    name: str
    warning: float
    critical: float


# The seed's defaults.
DEFAULTS: dict[str, Threshold] = {
    t.name: t
    for t in (
        Threshold("backlog", 50, 100),  # queued runs
        Threshold("failure_rate", 0.10, 0.25),  # failed / finished runs of a job, last hour
        Threshold("execution_time_s", 300, 600),  # one run's duration
        Threshold("memory_pct", 80, 90),  # the desk's processes: % of the machine's memory
        Threshold("cpu_pct", 80, 90),  # the desk's processes: % of the machine's CPU
        Threshold("host_memory_pct", 80, 90),  # every process; alerts with ROBO_HOST_ALERTS
        Threshold("host_cpu_pct", 80, 90),  # every process; alerts with ROBO_HOST_ALERTS
    )
}


def _variable(name: str, level: str) -> str:
    return f"ROBO_THRESHOLD_{name.upper()}_{level}"


def _read(name: str, level: str, default: float) -> float:
    variable = _variable(name, level)
    raw = (os.environ.get(variable) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{variable}={raw!r} must be a finite number, 0 or more")
    return value


def threshold(name: str) -> Threshold:
    """The threshold ``name`` with its environment overrides applied.

    Raises ValueError for an unknown name, a value that is not a number, or a warning
    level at or above the critical one (an alert could then never be only a WARNING).
    """
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise ValueError(
            f"unknown threshold {name!r}; expected one of {', '.join(DEFAULTS)}"
        ) from None
    warning = _read(name, "WARNING", default.warning)
    critical = _read(name, "CRITICAL", default.critical)
    if warning >= critical:
        raise ValueError(
            f"threshold {name}: warning {warning:g} ({_variable(name, 'WARNING')}) must be "
            f"below critical {critical:g} ({_variable(name, 'CRITICAL')})"
        )
    return Threshold(name, warning, critical)


def thresholds() -> dict[str, Threshold]:
    """Every threshold, as configured now (raises on the first bad one)."""
    return {name: threshold(name) for name in DEFAULTS}


def evaluate(name: str, value: float) -> Severity | None:
    """The severity ``value`` crosses for threshold ``name``, or None when below warning."""
    level = threshold(name)
    if value >= level.critical:
        return Severity.CRITICAL
    if value >= level.warning:
        return Severity.WARNING
    return None

"""How bad something is, and the one table that says how bad a limit breach is.

Every place that judges a limit uses ``limit_severity`` (or ``limit_severities`` on a
whole column): the morning brief and the risk assessment (``review.limits``), the
portfolio checks, and through them the alerts. So a 50.8 % sector weight against a
50 % limit is ERROR in the brief, in ``risk_assessment``, in the failed check and in the
alert, never ERROR in one and WARNING in another. ``robo_dagster.check_severity`` maps a
level onto Dagster's two check severities and back.

Limit severities (``value / limit`` is the ratio; the cash floor is a floor):

========================  ===========================  ==================  ==========
what                      CRITICAL                     ERROR               WARNING
========================  ===========================  ==================  ==========
VaR 95 % 1-day (% eq.)    > limit                      > 0.9 x limit       >= 0.8 x
position weight           > 1.2 x limit                > limit             >= 0.8 x
sector weight             > 1.2 x limit                > limit             >= 0.8 x
gross exposure            (none)                       > limit             >= 0.8 x
cash                      (none)                       (none)              < floor
========================  ===========================  ==================  ==========

Anything below WARNING is INFO: within the limit and not near it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

NEAR_LIMIT = 0.8
VAR_ERROR_FRACTION = 0.9
HARD_BREACH = 1.2

LimitKind = Literal["var", "position", "sector", "gross", "cash"]
LIMIT_KINDS: tuple[LimitKind, ...] = ("var", "position", "sector", "gross", "cash")


class Severity(IntEnum):
    """The seed's alert levels; the integer values order them, DuckDB stores the name."""

    INFO = 10
    WARNING = 20
    ERROR = 30
    CRITICAL = 40

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """A severity from its name (any case); an unknown name raises and lists the valid ones."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            name = value.strip().upper()
            if name in cls.__members__:
                return cls[name]
        raise ValueError(
            f"unknown alert severity {value!r}; expected one of {', '.join(cls.__members__)}"
        )


SEVERITY_NAMES: tuple[str, ...] = tuple(level.name for level in Severity)


def limit_severities(
    kind: LimitKind, values: npt.ArrayLike, limit: float
) -> npt.NDArray[np.object_]:
    """The severity name of each of ``values`` against ``limit`` (the table above).

    ``values`` are in the limit's own unit (shares of equity; gross exposure as a
    multiple of equity). A NaN value is not judged here: it is INFO, and the caller
    that cannot compute a figure says so itself (``var_within_limit`` does)."""
    if kind not in LIMIT_KINDS:
        raise ValueError(f"unknown limit kind {kind!r}; expected one of {', '.join(LIMIT_KINDS)}")
    limit = float(limit)
    if not np.isfinite(limit) or limit < 0 or (limit == 0 and kind != "cash"):
        raise ValueError(f"the {kind} limit must be a positive number, got {limit!r}")
    array = np.asarray(values, dtype=float)
    if kind == "cash":
        return np.where(array < limit, Severity.WARNING.name, Severity.INFO.name).astype(object)
    ratio = array / limit
    if kind == "var":
        conditions = [ratio > 1.0, ratio > VAR_ERROR_FRACTION, ratio >= NEAR_LIMIT]
        levels = [Severity.CRITICAL, Severity.ERROR, Severity.WARNING]
    elif kind == "gross":
        conditions = [ratio > 1.0, ratio >= NEAR_LIMIT]
        levels = [Severity.ERROR, Severity.WARNING]
    else:
        conditions = [ratio > HARD_BREACH, ratio > 1.0, ratio >= NEAR_LIMIT]
        levels = [Severity.CRITICAL, Severity.ERROR, Severity.WARNING]
    names = np.select(conditions, [level.name for level in levels], default=Severity.INFO.name)
    return names.astype(object)


def limit_severity(kind: LimitKind, value: float, limit: float) -> Severity:
    """The severity of one figure against its limit (``limit_severities`` on one value)."""
    return Severity[str(limit_severities(kind, [value], limit)[0])]


def worst(
    levels: list[Severity] | tuple[Severity, ...], floor: Severity = Severity.INFO
) -> Severity:
    """The most severe of ``levels`` (``floor`` when there are none)."""
    return max([floor, *levels])

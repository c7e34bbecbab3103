"""Limit checks, shared by the morning brief (its ``limit`` rows) and the risk assessment.

The severity of each figure against its limit comes from the one table in
``domain.severity`` (``limit_severities``), which the portfolio checks and the alerts
use too: a breach reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from robo_dagster.domain.portfolio import UNKNOWN_SECTOR
from robo_dagster.domain.review.common import _RANK, _float, _pct, _record
from robo_dagster.domain.severity import (
    HARD_BREACH,
    NEAR_LIMIT,
    VAR_ERROR_FRACTION,
    LimitKind,
    limit_severities,
)

__all__ = ["HARD_BREACH", "NEAR_LIMIT", "VAR_ERROR_FRACTION", "limit_checks"]


def limit_checks(
    positions: pd.DataFrame, risk: pd.DataFrame | Mapping[str, Any], limits: Mapping[str, float]
) -> pd.DataFrame:
    """Every limit that is near (>= 80 %) or past its threshold, most severe first.

    Columns: kind ('var' | 'position' | 'sector' | 'gross' | 'cash'), symbol (the
    position's, "" for book-level limits), name (symbol or sector), value, limit,
    severity, detail. The thresholds are ``domain.severity``'s table. ``gross`` and
    ``cash`` are checked only when ``limits`` carries ``max_gross_exposure`` /
    ``cash_floor_pct``.
    """
    record = _record(risk)
    frames = [
        _var_check(record, limits),
        *_weight_checks(positions, limits),
        *_exposure_checks(positions, record, limits),
    ]
    checks = pd.concat(frames, ignore_index=True)
    checks = checks[checks["severity"] != "INFO"].copy()
    checks["detail"] = _check_details(checks)
    rank = checks["severity"].map(_RANK)
    return (
        checks.assign(_rank=rank)
        .sort_values(["_rank", "value"], ascending=[False, False])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def _book_check(kind: LimitKind, name: str, value: float, limit: float) -> pd.DataFrame:
    """One book-level check (no symbol) as a one-row frame, judged by ``limit_severities``."""
    return pd.DataFrame(
        {
            "kind": [kind],
            "symbol": [""],
            "name": [name],
            "value": [value],
            "limit": [limit],
            "severity": limit_severities(kind, [value], limit),
        }
    )


def _var_check(record: Mapping[str, Any], limits: Mapping[str, float]) -> pd.DataFrame:
    """The book's VaR against its limit; it is always checked."""
    var_pct, var_limit = _float(record, "var_95_1d_pct"), float(limits["var_95_limit_pct"])
    return _book_check("var", "VaR 95 % 1-day", var_pct, var_limit)


def _weight_checks(positions: pd.DataFrame, limits: Mapping[str, float]) -> list[pd.DataFrame]:
    """Each position's and each sector's absolute weight against its limit."""
    weights = positions.assign(weight=positions["weight"].astype(float).abs())
    # A position whose source gives no sector is in no sector: it is not judged
    # against the sector limit (portfolio_risk reports its weight apart).
    known = positions[positions["sector"].notna() & (positions["sector"] != UNKNOWN_SECTOR)]
    sectors = (
        known.groupby("sector", as_index=False)["weight"]
        .sum()
        .assign(weight=lambda f: f["weight"].abs())
    )
    frames: list[pd.DataFrame] = []
    checked: tuple[tuple[LimitKind, pd.Series, pd.Series, float], ...] = (
        ("position", weights["symbol"], weights["weight"], float(limits["max_position_weight"])),
        ("sector", sectors["sector"], sectors["weight"], float(limits["max_sector_weight"])),
    )
    for kind, names, values, limit in checked:
        frames.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "symbol": names.to_numpy() if kind == "position" else "",
                    "name": names.to_numpy(),
                    "value": values.to_numpy(dtype=float),
                    "limit": limit,
                    "severity": limit_severities(kind, values.to_numpy(dtype=float), limit),
                }
            )
        )
    return frames


def _exposure_checks(
    positions: pd.DataFrame, record: Mapping[str, Any], limits: Mapping[str, float]
) -> list[pd.DataFrame]:
    """Gross exposure and the cash floor, each only when ``limits`` sets it."""
    equity = _float(record, "equity")
    frames: list[pd.DataFrame] = []
    if "max_gross_exposure" in limits:
        gross, gross_limit = _float(record, "gross_exposure"), float(limits["max_gross_exposure"])
        frames.append(_book_check("gross", "gross exposure", gross, gross_limit))
    if "cash_floor_pct" in limits and equity > 0:
        # Weights are shares of cash + market value, so cash is what the weights leave.
        cash_pct = 1.0 - float(positions["market_value"].astype(float).sum()) / equity
        frames.append(_book_check("cash", "cash", cash_pct, float(limits["cash_floor_pct"])))
    return frames


def _check_details(checks: pd.DataFrame) -> pd.Series:
    """One sentence per check: what, its value, its limit (or floor) and severity."""
    is_floor = checks["kind"] == "cash"
    label = checks["kind"].map(
        {"var": "", "position": "position ", "sector": "sector ", "gross": "", "cash": ""}
    )
    return (
        label
        + checks["name"].astype(str)
        + " at "
        + _pct(checks["value"])
        + np.where(is_floor, " of equity, below its floor of ", " of equity vs its limit of ")
        + _pct(checks["limit"])
        + " ("
        + checks["severity"]
        + ")"
    )

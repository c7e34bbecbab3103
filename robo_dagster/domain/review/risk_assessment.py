"""The risk assessment: stress scenarios on today's book, a severity and its reasons.

The severity follows the limit table in ``limits``, plus one book-level CRITICAL rule:
a market -10 % scenario losing more than 4 x the VaR limit. The book is INFO when no
rule fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from robo_dagster.domain.formatting import format_money, format_percent
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL
from robo_dagster.domain.portfolio import UNKNOWN_SECTOR
from robo_dagster.domain.review.common import (
    _RANK,
    SEVERITIES,
    _dates,
    _float,
    _md_bullets,
    _md_table,
    _money,
    _pct,
    _record,
    _with_prev_close,
)
from robo_dagster.domain.review.limits import limit_checks

MARKET_CRASH_VAR_MULTIPLE = 4.0
BETA_WINDOW_SESSIONS = 252
# The same floor as ``risk.beta_to``: below it a beta is mostly noise.
MIN_BETA_OBSERVATIONS = 20
VOL_SPIKE_MULTIPLIER = 2.0

MARKET_SHOCKS: tuple[tuple[str, float], ...] = (("market -5%", -0.05), ("market -10%", -0.10))
SCENARIOS = ("market -5%", "market -10%", "volatility spike", "largest single-name gap")
SCENARIO_COLUMNS = ["scenario", "loss", "loss_pct", "detail"]


def assess_risk(
    positions: pd.DataFrame,
    bars: pd.DataFrame,
    risk: pd.DataFrame | Mapping[str, Any],
    limits: Mapping[str, float],
    benchmark: str = BENCHMARK_SYMBOL,
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Stress scenarios on today's book, a severity and the reasons for it.

    Scenarios (``SCENARIO_COLUMNS``: scenario, loss, loss_pct, detail; loss > 0 is a loss):

    - ``market -5%`` / ``market -10%``: each position's beta to ``benchmark`` (OLS on
      daily returns over the last 252 sessions up to the positions' price date) x the
      shock x its market value. A name with too little history is given beta 1.
    - ``volatility spike``: the book's historical 1-day VaR 95 % with every daily
      move doubled. Historical VaR is a quantile of the P&L, and doubling every P&L
      doubles each quantile, so this is 2 x ``var_95_1d``.
    - ``largest single-name gap``: for each held name the worst overnight gap
      (open / previous close - 1) in its whole history, applied to today's position;
      the scenario reports the name where it costs most.

    Severity follows the limit table in the ``limits`` module's docstring, plus
    CRITICAL when the market -10% loss exceeds 4 x the VaR limit. ``summary`` holds
    severity, var_95_1d_pct, var_limit, the concentration figures, gross exposure, the
    beta-weighted exposure, worst_scenario, worst_scenario_loss_pct and reasons.
    """
    record = _record(risk)
    equity = _float(record, "equity")
    if "price_date" in positions and positions["price_date"].notna().any():
        bars = bars[_dates(bars["date"]) <= _dates(positions["price_date"]).max()]
    market_value = positions.groupby("symbol")["market_value"].sum().astype(float)

    market_rows, beta_exposure = _market_rows(bars, market_value, equity, benchmark)
    scenarios = pd.concat(
        [market_rows, _vol_spike_row(record, equity), _gap_row(bars, market_value)],
        ignore_index=True,
    )
    scenarios["loss"] = scenarios["loss"].astype(float)
    scenarios["loss_pct"] = scenarios["loss"] / equity
    scenarios = scenarios[SCENARIO_COLUMNS]

    reasons = _reasons(positions, record, limits, scenarios)
    summary = _summary(positions, record, limits, scenarios, reasons, beta_exposure / equity)
    return scenarios, _risk_markdown(scenarios, summary), summary


def _betas(
    bars: pd.DataFrame, symbols: pd.Index, benchmark: str, window: int = BETA_WINDOW_SESSIONS
) -> pd.Series:
    """OLS beta of each symbol's daily returns on the benchmark's over the last
    ``window`` returns, each over the dates both have (as ``risk.beta_to``), NaN below
    ``MIN_BETA_OBSERVATIONS``. One masked matrix computation for every symbol."""
    wanted = bars[bars["symbol"].isin([*symbols, benchmark])]
    wanted = wanted.assign(date=_dates(wanted["date"])).drop_duplicates(
        ["symbol", "date"], keep="last"
    )
    closes = wanted.pivot(index="date", columns="symbol", values="close").sort_index()
    if benchmark not in closes.columns or closes.empty:
        return pd.Series(np.nan, index=symbols, dtype=float)
    returns = (closes / closes.shift(1) - 1.0).iloc[1:].tail(window)
    y = returns.reindex(columns=symbols).to_numpy(dtype=float)
    x = returns[benchmark].to_numpy(dtype=float)[:, None]
    mask = ~np.isnan(y) & ~np.isnan(x)
    n = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_mean = np.where(mask, x, 0.0).sum(axis=0) / n
        y_mean = np.where(mask, y, 0.0).sum(axis=0) / n
        dx = np.where(mask, x - x_mean, 0.0)
        dy = np.where(mask, y - y_mean, 0.0)
        var = (dx * dx).sum(axis=0)
        beta = (dx * dy).sum(axis=0) / var
    beta = np.where((n >= MIN_BETA_OBSERVATIONS) & (var > 0), beta, np.nan)
    return pd.Series(beta, index=symbols, dtype=float)


def _market_rows(
    bars: pd.DataFrame, market_value: pd.Series, equity: float, benchmark: str
) -> tuple[pd.DataFrame, float]:
    """The market-shock scenarios and the beta-weighted exposure they scale."""
    betas = _betas(bars, market_value.index, benchmark)
    beta_exposure = float((betas.fillna(1.0) * market_value).sum())
    defaulted = betas.index[betas.isna()].tolist()
    if not (bars["symbol"] == benchmark).any():
        beta_note = f"; {benchmark} has no prices in the data: beta 1 assumed for every position"
    elif defaulted:
        beta_note = f"; beta 1 assumed for {', '.join(defaulted)} (short history)"
    else:
        beta_note = ""
    shocks = np.array([shock for _, shock in MARKET_SHOCKS])
    rows = pd.DataFrame(
        {
            "scenario": [name for name, _ in MARKET_SHOCKS],
            "loss": -shocks * beta_exposure,
            "detail": [
                f"{benchmark} {format_percent(shock, 0, signed=True)} x beta-weighted exposure "
                f"{format_money(beta_exposure, 0)} ({beta_exposure / equity:.2f} x equity){beta_note}"
                for _, shock in MARKET_SHOCKS
            ],
        }
    )
    return rows, beta_exposure


def _vol_spike_row(record: Mapping[str, Any], equity: float) -> pd.DataFrame:
    """The volatility-spike scenario: the VaR (from its percentage when the amount is
    missing) scaled by ``VOL_SPIKE_MULTIPLIER``."""
    var_amount = _float(record, "var_95_1d")
    if np.isnan(var_amount):
        var_amount = _float(record, "var_95_1d_pct") * equity
    return pd.DataFrame(
        {
            "scenario": ["volatility spike"],
            "loss": [VOL_SPIKE_MULTIPLIER * var_amount],
            "detail": [
                f"1-day VaR 95 % of {format_money(var_amount, 0)} with daily vol doubled "
                f"({VOL_SPIKE_MULTIPLIER:g} x VaR)"
            ],
        }
    )


def _worst_gaps(bars: pd.DataFrame, market_value: pd.Series) -> pd.DataFrame:
    """Per held symbol, the worst historical overnight gap for its side (down for a
    long, up for a short) and the loss it would cause on today's position."""
    held = _with_prev_close(bars[bars["symbol"].isin(market_value.index)])
    held["gap"] = held["open"] / held["prev_close"] - 1.0
    held = held.dropna(subset=["gap"])
    if held.empty:
        return pd.DataFrame(columns=["symbol", "gap", "date", "market_value", "loss"])
    grouped = held.groupby("symbol")["gap"]
    down, up = held.loc[grouped.idxmin()], held.loc[grouped.idxmax()]
    side = pd.DataFrame({"market_value": market_value}).rename_axis("symbol").reset_index()
    side = side.merge(down[["symbol", "gap", "date"]], on="symbol", how="inner")
    side = side.merge(up[["symbol", "gap", "date"]], on="symbol", suffixes=("_down", "_up"))
    is_long = side["market_value"] >= 0
    side["gap"] = np.where(is_long, side["gap_down"], side["gap_up"])
    side["date"] = np.where(is_long, side["date_down"], side["date_up"])
    side["loss"] = -side["gap"] * side["market_value"]
    return side[["symbol", "gap", "date", "market_value", "loss"]]


def _gap_row(bars: pd.DataFrame, market_value: pd.Series) -> pd.DataFrame:
    """The largest-single-name-gap scenario: the held name whose worst gap costs most."""
    gaps = _worst_gaps(bars, market_value)
    if gaps.empty:
        return pd.DataFrame(
            {"scenario": [SCENARIOS[3]], "loss": [np.nan], "detail": ["no gap history"]}
        )
    worst = gaps.loc[gaps["loss"].idxmax()]
    return pd.DataFrame(
        {
            "scenario": [SCENARIOS[3]],
            "loss": [float(worst["loss"])],
            "detail": [
                f"{worst['symbol']}: its worst overnight gap "
                f"{format_percent(worst['gap'], 2, signed=True)} "
                f"(on {pd.Timestamp(worst['date']).date()}) on a position of "
                f"{format_money(worst['market_value'], 0)}"
            ],
        }
    )


def _reasons(
    positions: pd.DataFrame,
    record: Mapping[str, Any],
    limits: Mapping[str, float],
    scenarios: pd.DataFrame,
) -> pd.DataFrame:
    """Every rule that fired (severity, detail), most severe first: the limit checks and
    the market-crash rule."""
    var_limit = float(limits["var_95_limit_pct"])
    reasons = limit_checks(positions, record, limits)[["severity", "detail"]]
    crash = scenarios.set_index("scenario").loc["market -10%", "loss_pct"]
    if crash > MARKET_CRASH_VAR_MULTIPLE * var_limit:
        crash_reason = pd.DataFrame(
            {
                "severity": ["CRITICAL"],
                "detail": [
                    f"a market -10% move would lose {format_percent(crash)} of equity, more than "
                    f"{MARKET_CRASH_VAR_MULTIPLE:g} x the VaR limit "
                    f"({format_percent(MARKET_CRASH_VAR_MULTIPLE * var_limit)}) (CRITICAL)"
                ],
            }
        )
        reasons = pd.concat([crash_reason, reasons], ignore_index=True)
    return reasons.assign(_rank=reasons["severity"].map(_RANK)).sort_values(
        "_rank", ascending=False, kind="stable"
    )


def _max_severity(severities: pd.Series | list[str], floor: str = "INFO") -> str:
    """The most severe level among ``severities`` (``floor`` when there are none)."""
    ranks = [_RANK[floor], *(_RANK[str(s)] for s in severities)]
    return SEVERITIES[max(ranks)]


def _summary(
    positions: pd.DataFrame,
    record: Mapping[str, Any],
    limits: Mapping[str, float],
    scenarios: pd.DataFrame,
    reasons: pd.DataFrame,
    beta_weighted_exposure: float,
) -> dict[str, Any]:
    """The assessment's headline figures, as ``assess_risk`` documents them."""
    weights = positions["weight"].astype(float).abs()
    classified = positions[positions["sector"].notna() & (positions["sector"] != UNKNOWN_SECTOR)]
    sector_weights = classified.groupby("sector")["weight"].sum().abs()
    worst_idx = scenarios["loss_pct"].idxmax() if scenarios["loss_pct"].notna().any() else None
    return {
        "severity": _max_severity(reasons["severity"]),
        "var_95_1d_pct": _float(record, "var_95_1d_pct"),
        "var_limit": float(limits["var_95_limit_pct"]),
        "largest_position": str(positions.loc[weights.idxmax(), "symbol"]) if len(weights) else "",
        "largest_position_weight": float(weights.max()) if len(weights) else 0.0,
        "max_position_weight": float(limits["max_position_weight"]),
        "largest_sector": str(sector_weights.idxmax()) if len(sector_weights) else "",
        "largest_sector_weight": float(sector_weights.max()) if len(sector_weights) else 0.0,
        "max_sector_weight": float(limits["max_sector_weight"]),
        "gross_exposure": _float(record, "gross_exposure"),
        "beta_weighted_exposure": beta_weighted_exposure,
        "worst_scenario": "" if worst_idx is None else str(scenarios.loc[worst_idx, "scenario"]),
        "worst_scenario_loss_pct": (
            float("nan") if worst_idx is None else float(scenarios.loc[worst_idx, "loss_pct"])
        ),
        "reasons": reasons["detail"].tolist(),  # each detail ends with its severity
    }


def _risk_markdown(scenarios: pd.DataFrame, summary: Mapping[str, Any]) -> str:
    """The assessment as markdown: its headline, reasons and scenarios."""
    shown = scenarios.assign(
        loss=_money(scenarios["loss"], 0), loss_pct=_pct(scenarios["loss_pct"], 2)
    )
    return "\n\n".join(
        [
            f"# Risk assessment: {summary['severity']}",
            f"VaR 95 % 1-day {format_percent(summary['var_95_1d_pct'], 2)} of equity "
            f"(limit {format_percent(summary['var_limit'])}); largest position "
            f"{summary['largest_position']} {format_percent(summary['largest_position_weight'])}; "
            f"largest sector {summary['largest_sector']} "
            f"{format_percent(summary['largest_sector_weight'])}; worst scenario "
            f"{summary['worst_scenario']} ({format_percent(summary['worst_scenario_loss_pct'], 2)}).",
            "## Reasons",
            _md_bullets(pd.Series(summary["reasons"], dtype=object)),
            "## Scenarios",
            _md_table(shown),
        ]
    )

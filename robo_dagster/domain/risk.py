"""Portfolio risk from the current holdings applied to price history.

The historical series is "what today's book would have made each day": standard
historical simulation, today's market value of each position times that position's
return on each past day (``historical_pnl``). VaR and expected shortfall are read off
that series, beta and volatility off the returns it implies; the drawdown revalues
today's quantities on past closes. All of it is matrix arithmetic over every symbol at
once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRADING_DAYS_PER_YEAR = 252
ES_CONFIDENCE = 0.975
VAR_METHOD = (
    "historical simulation: today's market value x each position's daily return over "
    "the window, 1-day VaR 95 % and expected shortfall 97.5 % (linear quantiles)"
)


def historical_pnl(market_value: pd.Series, closes: pd.DataFrame) -> pd.Series:
    """Daily P&L of today's book over history: each position's market value today
    (symbol -> value) times its return on each day of ``closes`` (date x symbol). A
    missing close counts as no move that day."""
    held = closes.reindex(columns=market_value.index)
    missing = held.columns[held.isna().all()].tolist()
    if missing:
        raise ValueError(f"no price history for held symbol(s) {', '.join(missing)}")
    returns = (held / held.shift(1) - 1.0).iloc[1:]
    return pd.Series(
        returns.fillna(0.0).to_numpy() @ market_value.to_numpy(dtype=float),
        index=returns.index,
        name="pnl",
    )


def historical_var(pnl: pd.Series, confidence: float = 0.95) -> float:
    """One-day historical VaR: the loss exceeded on (1 - confidence) of days, as a
    positive number (linear interpolation between order statistics)."""
    if len(pnl) < 20:
        return float("nan")
    return float(max(-np.quantile(pnl.to_numpy(), 1.0 - confidence), 0.0))


def expected_shortfall(pnl: pd.Series, confidence: float = 0.975) -> float:
    """One-day expected shortfall (CVaR): the mean loss on the days at or beyond the
    ``confidence`` quantile of the losses, as a positive number."""
    if len(pnl) < 20:
        return float("nan")
    losses = -pnl.to_numpy(dtype=float)
    threshold = np.quantile(losses, confidence)
    return float(max(losses[losses >= threshold].mean(), 0.0))


def max_drawdown(values: pd.Series) -> float:
    """The largest peak-to-trough fall of ``values``, as a fraction of the peak (>= 0)."""
    if values.empty:
        return float("nan")
    running_peak = values.cummax()
    return float(((running_peak - values) / running_peak).max())


def beta_to(returns: pd.Series, market_returns: pd.Series) -> float:
    """OLS slope of ``returns`` on ``market_returns`` over their common dates."""
    joined = pd.concat([returns, market_returns], axis=1, join="inner").dropna()
    if len(joined) < 20:
        return float("nan")
    x = joined.iloc[:, 1].to_numpy()
    y = joined.iloc[:, 0].to_numpy()
    var = float(np.var(x))
    return float(np.cov(y, x, bias=True)[0, 1] / var) if var > 0 else float("nan")


def _beta_and_note(
    book_returns: pd.Series, closes: pd.DataFrame, benchmark: str
) -> tuple[float, str]:
    """The book's beta to ``benchmark`` and, when it cannot be computed, why (the beta is
    then NaN, reported as n/a: never 0)."""
    if benchmark not in closes.columns or not closes[benchmark].notna().any():
        return float("nan"), f"n/a: {benchmark} has no prices in the data, so there is no market"
    market_returns = closes[benchmark].pct_change().reindex(book_returns.index)
    beta = beta_to(book_returns, market_returns)
    if not np.isfinite(beta):
        return beta, f"n/a: fewer than 20 sessions shared with {benchmark}"
    return beta, ""


def portfolio_risk(
    marked: pd.DataFrame,
    closes: pd.DataFrame,
    equity: float,
    benchmark: str,
    *,
    confidence: float = 0.95,
) -> dict[str, float | str]:
    """Exposure, concentration, beta, VaR, expected shortfall and drawdown of the book.

    ``marked`` is the marked-to-market positions (symbol, quantity, market_value);
    ``closes`` is a date x symbol frame of closes, normally with ``benchmark``: without
    it the beta is NaN and ``beta_note`` says why.
    """
    mv = marked.set_index("symbol")["market_value"]
    quantities = marked.set_index("symbol")["quantity"].astype(float)
    long_mv = float(mv[mv > 0].sum())
    short_mv = float(mv[mv < 0].abs().sum())
    weights = mv / equity
    largest = weights.abs().idxmax() if len(weights) else ""
    pnl = historical_pnl(mv, closes)
    book_value = closes.reindex(columns=quantities.index).ffill() @ quantities
    invested = float(mv.sum())
    book_returns = pnl / invested if invested else pnl * np.nan
    beta, beta_note = _beta_and_note(book_returns, closes, benchmark)
    var_amount = historical_var(pnl, confidence)
    es_amount = expected_shortfall(pnl, ES_CONFIDENCE)
    equity_path = (equity - mv.sum()) + book_value
    return {
        "equity": float(equity),
        "long_market_value": long_mv,
        "short_market_value": short_mv,
        "gross_exposure": (long_mv + short_mv) / equity,
        "net_exposure": (long_mv - short_mv) / equity,
        "largest_position": str(largest),
        "largest_position_weight": float(weights.abs().max()) if len(weights) else 0.0,
        "beta": beta,
        "beta_note": beta_note,
        "var_95_1d": var_amount,
        "var_95_1d_pct": var_amount / equity,
        "es_97_5_1d": es_amount,
        "es_97_5_1d_pct": es_amount / equity,
        "var_method": VAR_METHOD,
        "volatility_annual": float(book_returns.std(ddof=1) * np.sqrt(TRADING_DAYS_PER_YEAR)),
        "max_drawdown": max_drawdown(equity_path),
        "history_days": len(pnl),
    }


def sector_exposure(marked: pd.DataFrame, equity: float) -> pd.DataFrame:
    """Market value and weight of the book per sector, largest first."""
    by_sector = marked.groupby("sector", as_index=False).agg(
        market_value=("market_value", "sum"), positions=("symbol", "count")
    )
    by_sector["weight"] = by_sector["market_value"] / equity
    return by_sector.sort_values("market_value", ascending=False, ignore_index=True)

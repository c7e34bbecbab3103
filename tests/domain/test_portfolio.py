"""Ledger replay, marking to market, P&L and risk on books where the answer is known."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.portfolio import LedgerError, mark_to_market, replay_trades, summarize_pnl
from robo_dagster.domain.risk import (
    beta_to,
    historical_var,
    max_drawdown,
    portfolio_risk,
    sector_exposure,
)


def trades(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "symbol", "side", "quantity", "price", "commission"])


def test_average_cost_and_realized_pnl() -> None:
    ledger = replay_trades(
        trades(
            ("2026-01-02", "AAA", "BUY", 100, 10.0, 1.0),
            ("2026-01-05", "AAA", "BUY", 100, 20.0, 1.0),
            ("2026-01-06", "AAA", "SELL", 50, 30.0, 1.0),
        ),
        opening_cash=10_000.0,
    )
    position = ledger.positions.set_index("symbol").loc["AAA"]
    assert position["quantity"] == 150
    assert position["average_cost"] == pytest.approx(15.0)
    assert ledger.realized_pnl == pytest.approx((30 - 15) * 50 - 1)
    assert ledger.cash == pytest.approx(10_000 - 1_000 - 2_000 + 1_500 - 3)
    assert ledger.commissions == 3


def test_selling_more_than_held_is_refused() -> None:
    with pytest.raises(LedgerError, match="long-only"):
        replay_trades(trades(("2026-01-02", "AAA", "SELL", 1, 10.0, 0.0)), 1_000.0)


def test_closed_positions_disappear() -> None:
    ledger = replay_trades(
        trades(
            ("2026-01-02", "AAA", "BUY", 10, 10.0, 0.0),
            ("2026-01-05", "AAA", "SELL", 10, 12.0, 0.0),
        ),
        1_000.0,
    )
    assert ledger.positions.empty and ledger.realized_pnl == pytest.approx(20.0)


def test_mark_to_market_and_pnl() -> None:
    positions = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "quantity": [10.0, 5.0],
            "average_cost": [100.0, 50.0],
            "realized_pnl": [0.0, 0.0],
            "opened_on": ["2026-01-02"] * 2,
        }
    )
    quotes = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "price_date": pd.Timestamp("2026-01-06"),
            "open": [108.0, 49.0],
            "close": [110.0, 48.0],
            "prev_close": [105.0, 50.0],
        }
    )
    marked = mark_to_market(
        positions, quotes, pd.Series({"AAA": "Tech", "BBB": "Energy"}), cash=860.0
    )
    row = marked.set_index("symbol")
    assert row.loc["AAA", "market_value"] == 1100.0
    assert row.loc["AAA", "unrealized_pnl"] == 100.0
    assert row.loc["BBB", "daily_pnl"] == -10.0
    assert row.loc["AAA", "overnight_pnl"] == 30.0
    assert marked["weight"].sum() == pytest.approx((1100 + 240) / 2200)
    pnl = summarize_pnl(marked, realized_pnl=5.0, equity=2200.0)
    assert pnl["daily_pnl"] == 40.0 and pnl["unrealized_pnl"] == 90.0 and pnl["total_pnl"] == 95.0
    with pytest.raises(ValueError, match="no price for held symbol"):
        mark_to_market(positions, quotes.iloc[:1], pd.Series(dtype=str), cash=0.0)


def test_var_drawdown_and_beta_on_known_series() -> None:
    pnl = pd.Series(np.arange(-50, 50, dtype=float))  # 100 equally likely outcomes
    assert historical_var(pnl, 0.95) == pytest.approx(-np.quantile(pnl, 0.05))
    assert max_drawdown(pd.Series([100.0, 120.0, 90.0, 130.0, 65.0])) == pytest.approx(0.5)
    market = pd.Series(np.random.default_rng(1).normal(0, 0.01, 300))
    assert beta_to(2.0 * market, market) == pytest.approx(2.0)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 3.0), st.integers(1, 500))
def test_beta_of_a_leveraged_index_book(leverage: float, shares: int) -> None:
    rng = np.random.default_rng(shares)
    index = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 260))), name="SPY")
    closes = pd.DataFrame({"SPY": index})
    marked = pd.DataFrame(
        {
            "symbol": ["SPY"],
            "quantity": [float(shares)],
            "market_value": [shares * index.iloc[-1]],
            "sector": ["Index"],
        }
    )
    equity = float(marked["market_value"].iloc[0] / leverage)
    risk = portfolio_risk(marked, closes, equity, "SPY")
    assert risk["beta"] == pytest.approx(1.0)
    assert risk["gross_exposure"] == pytest.approx(leverage)
    assert risk["largest_position"] == "SPY"
    # A levered book can lose more than its equity; an unlevered one cannot.
    assert risk["max_drawdown"] >= 0
    assert risk["max_drawdown"] <= 1 or leverage > 1
    assert risk["var_95_1d"] >= 0


def test_without_the_benchmark_beta_is_not_available_and_says_why() -> None:
    rng = np.random.default_rng(4)
    closes = pd.DataFrame({"AAA": 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 120)))})
    marked = pd.DataFrame(
        {
            "symbol": ["AAA"],
            "quantity": [10.0],
            "market_value": [10.0 * closes["AAA"].iloc[-1]],
            "sector": ["Tech"],
        }
    )
    equity = float(marked["market_value"].iloc[0]) * 2
    risk = portfolio_risk(marked, closes, equity, "SPY")
    assert np.isnan(risk["beta"])  # n/a, not 0
    assert risk["beta_note"] == "n/a: SPY has no prices in the data, so there is no market"
    assert risk["var_95_1d"] > 0  # the rest of the risk is still computed
    short = portfolio_risk(marked, closes.assign(SPY=np.nan).tail(10), equity, "SPY")
    assert np.isnan(short["beta"]) and "n/a" in str(short["beta_note"])
    full = portfolio_risk(marked, closes.assign(SPY=closes["AAA"]), equity, "SPY")
    assert full["beta"] == pytest.approx(1.0) and full["beta_note"] == ""


def test_sector_exposure_sums_to_gross() -> None:
    marked = pd.DataFrame(
        {"symbol": list("ABC"), "sector": ["X", "X", "Y"], "market_value": [10.0, 20.0, 30.0]}
    )
    out = sector_exposure(marked, equity=100.0)
    assert out.iloc[0]["sector"] == "X" and out.iloc[0]["weight"] == pytest.approx(0.3)
    assert out["weight"].sum() == pytest.approx(0.6)

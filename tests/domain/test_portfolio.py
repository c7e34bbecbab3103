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
    # The buys' commissions are in the cost: (1,000 + 1 + 2,000 + 1) / 200.
    assert position["average_cost"] == pytest.approx(15.01)
    assert ledger.realized_pnl == pytest.approx((30 - 15.01) * 50 - 1)
    assert ledger.cash == pytest.approx(10_000 - 1_000 - 2_000 + 1_500 - 3)
    assert ledger.commissions == 3


@settings(max_examples=60, deadline=None)
@given(
    fills=st.lists(
        st.tuples(
            st.sampled_from(["AAA", "BBB"]),
            st.integers(1, 50),
            st.floats(1.0, 200.0),
            st.floats(0.0, 5.0),
            st.booleans(),
        ),
        min_size=1,
        max_size=25,
    ),
    closes=st.tuples(st.floats(1.0, 200.0), st.floats(1.0, 200.0)),
)
def test_total_pnl_ties_to_the_change_in_equity_to_the_cent(
    fills: list[tuple[str, int, float, float, bool]], closes: tuple[float, float]
) -> None:
    """Whatever the fills and fees: realized + unrealized = equity - opening cash."""
    rows, held = [], {"AAA": 0, "BBB": 0}
    for day, (symbol, qty, price, fee, sell) in enumerate(fills):
        side = "SELL" if sell and held[symbol] >= qty else "BUY"
        held[symbol] += -qty if side == "SELL" else qty
        rows.append(
            (pd.Timestamp("2026-01-02") + pd.Timedelta(days=day), symbol, side, qty, price, fee)
        )
    ledger = replay_trades(trades(*rows), opening_cash=1_000_000.0)
    close = dict(zip(["AAA", "BBB"], closes, strict=True))
    positions = ledger.positions
    market_value = float((positions["quantity"] * positions["symbol"].map(close)).sum())
    unrealized = float(
        (positions["quantity"] * (positions["symbol"].map(close) - positions["average_cost"])).sum()
    )
    equity = ledger.cash + market_value
    assert ledger.realized_pnl + unrealized == pytest.approx(equity - 1_000_000.0, abs=0.005)


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


def test_var_is_todays_market_value_times_historical_returns_by_hand() -> None:
    """Two positions and 21 days of closes, computed by hand: each day's P&L is today's
    market value x that day's return, not today's quantity x the day's price change."""
    days = 21
    rng = np.random.default_rng(3)
    closes = pd.DataFrame(
        {
            "AAA": 50.0 * np.cumprod(1 + rng.normal(0, 0.02, days)),
            "BBB": 200.0 * np.cumprod(1 + rng.normal(0, 0.01, days)),
        }
    )
    marked = pd.DataFrame(
        {"symbol": ["AAA", "BBB"], "quantity": [100.0, -20.0], "sector": ["X", "Y"]}
    )
    marked["market_value"] = marked["quantity"] * closes.iloc[-1].to_numpy()
    equity = 10_000.0
    risk = portfolio_risk(marked, closes.assign(SPY=closes["AAA"]), equity, "SPY")
    by_hand = []
    for t in range(1, days):
        day = 0.0
        for symbol, value in zip(marked["symbol"], marked["market_value"], strict=True):
            day += value * (closes[symbol][t] / closes[symbol][t - 1] - 1.0)
        by_hand.append(day)
    losses = sorted(-x for x in by_hand)  # 20 days
    # numpy's linear quantile of the losses at 95 %: between the 19th and 20th smallest.
    position = 0.95 * (len(losses) - 1)
    low = int(position)
    var_by_hand = losses[low] + (position - low) * (losses[low + 1] - losses[low])
    assert risk["var_95_1d"] == pytest.approx(max(var_by_hand, 0.0))
    es_threshold = np.quantile(losses, 0.975)
    tail = [x for x in losses if x >= es_threshold]
    assert risk["es_97_5_1d"] == pytest.approx(max(sum(tail) / len(tail), 0.0))
    assert risk["es_97_5_1d"] >= risk["var_95_1d"]
    assert risk["var_95_1d_pct"] == pytest.approx(risk["var_95_1d"] / equity)
    assert "today's market value x each position's daily return" in str(risk["var_method"])


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

"""Portfolio accounting: replaying a trade blotter, marking to market, P&L.

Positions use average-cost accounting: a buy raises the average cost, a sell realises
(sell price - average cost) x quantity less commission. The paper broker is long-only;
a sell larger than the position is refused rather than silently opening a short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

POSITION_COLUMNS = ["symbol", "quantity", "average_cost", "realized_pnl", "opened_on"]


class LedgerError(ValueError):
    """The trade blotter is inconsistent (e.g. sells more than it holds)."""


@dataclass(frozen=True)
class Ledger:
    """The state of an account after replaying its trades."""

    cash: float
    realized_pnl: float
    commissions: float
    positions: pd.DataFrame


@dataclass
class _Holding:
    quantity: float = 0.0
    average_cost: float = 0.0
    realized_pnl: float = 0.0
    opened_on: object = None


def replay_trades(trades: pd.DataFrame, opening_cash: float) -> Ledger:
    """Replay ``trades`` (date, symbol, side, quantity, price, commission) in date order.

    The blotter is sequential by nature (each fill changes the average cost the next one
    sees), so this walks the fills; a desk's blotter has tens to thousands of rows.
    """
    cash = float(opening_cash)
    realized_total = 0.0
    commissions = 0.0
    book: dict[str, _Holding] = {}
    for fill in trades.sort_values(["date"], kind="stable").itertuples(index=False):
        symbol, side = str(fill.symbol), str(fill.side)
        qty, price, fee = float(fill.quantity), float(fill.price), float(fill.commission)
        if not (np.isfinite(qty) and qty > 0 and np.isfinite(price) and price > 0):
            raise LedgerError(f"trade {symbol} on {fill.date}: quantity and price must be positive")
        held = book.setdefault(symbol, _Holding(opened_on=fill.date))
        if side == "BUY":
            if held.quantity == 0:
                held.opened_on = fill.date
            held.average_cost = (held.quantity * held.average_cost + qty * price) / (
                held.quantity + qty
            )
            held.quantity += qty
            cash -= qty * price + fee
        elif side == "SELL":
            if qty > held.quantity + 1e-9:
                raise LedgerError(
                    f"trade {symbol} on {fill.date}: sells {qty:g} but holds {held.quantity:g} "
                    "(the paper broker is long-only)"
                )
            pnl = (price - held.average_cost) * qty - fee
            held.realized_pnl += pnl
            held.quantity -= qty
            realized_total += pnl
            cash += qty * price - fee
        else:
            raise LedgerError(
                f"trade {symbol} on {fill.date}: side must be BUY or SELL, not {side!r}"
            )
        commissions += fee
    positions = pd.DataFrame(
        [{"symbol": s, **vars(h)} for s, h in book.items()], columns=POSITION_COLUMNS
    )
    positions = positions[positions["quantity"] > 1e-9].sort_values("symbol", ignore_index=True)
    return Ledger(
        cash=cash, realized_pnl=realized_total, commissions=commissions, positions=positions
    )


def mark_to_market(
    positions: pd.DataFrame, quotes: pd.DataFrame, sectors: pd.Series, cash: float
) -> pd.DataFrame:
    """Value each position at its latest close; weights are shares of cash + market value.

    ``quotes`` has one row per symbol: price_date, close, open, prev_close. Daily P&L is
    quantity x (close - previous close); overnight P&L is quantity x (open - previous
    close), the gap a desk sees before the bell.
    """
    marked = positions.merge(quotes, on="symbol", how="left", validate="one_to_one")
    missing = marked.loc[marked["close"].isna(), "symbol"].tolist()
    if missing:
        raise ValueError(f"no price for held symbol(s) {', '.join(missing)}: cannot mark to market")
    marked["sector"] = marked["symbol"].map(sectors).fillna("Unknown")
    marked["market_value"] = marked["quantity"] * marked["close"]
    marked["cost_basis"] = marked["quantity"] * marked["average_cost"]
    marked["unrealized_pnl"] = marked["market_value"] - marked["cost_basis"]
    marked["unrealized_pnl_pct"] = marked["unrealized_pnl"] / marked["cost_basis"]
    marked["daily_pnl"] = marked["quantity"] * (marked["close"] - marked["prev_close"])
    marked["overnight_pnl"] = marked["quantity"] * (marked["open"] - marked["prev_close"])
    equity = cash + float(marked["market_value"].sum())
    marked["weight"] = marked["market_value"] / equity if equity else np.nan
    return marked.rename(columns={"close": "last_price"})[
        [
            "symbol",
            "sector",
            "quantity",
            "average_cost",
            "last_price",
            "price_date",
            "prev_close",
            "open",
            "market_value",
            "cost_basis",
            "unrealized_pnl",
            "unrealized_pnl_pct",
            "daily_pnl",
            "overnight_pnl",
            "realized_pnl",
            "weight",
            "opened_on",
        ]
    ]


def summarize_pnl(marked: pd.DataFrame, realized_pnl: float, equity: float) -> dict[str, float]:
    """Portfolio P&L: realized, unrealized, daily and overnight, in currency and in %."""
    daily = float(marked["daily_pnl"].sum())
    previous_equity = equity - daily
    return {
        "realized_pnl": float(realized_pnl),
        "unrealized_pnl": float(marked["unrealized_pnl"].sum()),
        "total_pnl": float(realized_pnl + marked["unrealized_pnl"].sum()),
        "daily_pnl": daily,
        "daily_return_pct": daily / previous_equity * 100.0 if previous_equity else float("nan"),
        "overnight_pnl": float(marked["overnight_pnl"].sum()),
        "equity": float(equity),
    }

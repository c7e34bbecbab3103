"""Portfolio accounting: replaying a trade blotter, marking to market, P&L.

Positions use average-cost accounting: a buy raises the average cost, a sell realises
(sell price - average cost) x quantity less commission. The paper broker is long-only;
a sell larger than the position is refused rather than silently opening a short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# The sector of a symbol whose source gives none. Sector limits are not judged on it.
UNKNOWN_SECTOR = "Unknown"
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


class AccountBook:
    """An account being replayed fill by fill: cash, realized P&L, fees and holdings.

    Average cost: a fill that adds to a position moves its average cost, its commission
    included (a buy's fee is part of the cost basis); one that reduces it realises
    (price - average cost) x quantity x direction, less its commission (a sale's fee
    reduces its proceeds). So realized plus unrealized P&L equals the change in equity
    to the cent: every dollar of fees is in one or the other. The paper broker is
    long-only (a sell larger than the position is refused); ``allow_short`` lets a sell
    open or extend a short, as a margin account at a real broker does, and a buy that
    crosses zero closes one side and opens the other at the fill's price. Quantities are
    signed (short < 0).
    """

    def __init__(self, opening_cash: float, allow_short: bool = False) -> None:
        self.cash = float(opening_cash)
        self.realized_pnl = 0.0
        self.commissions = 0.0
        self.allow_short = allow_short
        self._holdings: dict[str, _Holding] = {}

    def fill(
        self, date: object, symbol: str, side: str, qty: float, price: float, fee: float
    ) -> None:
        """Apply one fill; raises ``LedgerError`` when it is not a valid one."""
        if not (np.isfinite(qty) and qty > 0 and np.isfinite(price) and price > 0):
            raise LedgerError(f"trade {symbol} on {date}: quantity and price must be positive")
        if side not in ("BUY", "SELL"):
            raise LedgerError(f"trade {symbol} on {date}: side must be BUY or SELL, not {side!r}")
        held = self._holdings.setdefault(symbol, _Holding(opened_on=date))
        direction = 1.0 if side == "BUY" else -1.0
        position = held.quantity
        closing = min(qty, abs(position)) if position * direction < 0 else 0.0
        opening = qty - closing
        if opening > 1e-9 and direction < 0 and not self.allow_short and position - qty < -1e-9:
            raise LedgerError(
                f"trade {symbol} on {date}: sells {qty:g} but holds {position:g} "
                "(the paper broker is long-only)"
            )
        if closing > 0:
            pnl = (price - held.average_cost) * closing * np.sign(position) - fee
            held.realized_pnl += pnl
            self.realized_pnl += pnl
            held.quantity += direction * closing
        if opening > 1e-9:
            if abs(held.quantity) <= 1e-9:
                held.quantity, held.average_cost, held.opened_on = 0.0, 0.0, date
            size = abs(held.quantity)
            # An opening fill's commission is part of what the position cost: a buy's
            # raises the average cost, a short sale's lowers the average proceeds. A
            # fill that both closes and opens charges its fee to the closing part.
            fee_per_share = (fee / opening) if closing == 0 else 0.0
            entry = price + direction * fee_per_share
            held.average_cost = (size * held.average_cost + opening * entry) / (size + opening)
            held.quantity += direction * opening
        self.cash += -direction * qty * price - fee
        self.commissions += fee

    def replay(self, trades: pd.DataFrame) -> None:
        """Apply every fill of ``trades`` (date, symbol, side, quantity, price, commission)
        in date order (a stable sort: fills of one day keep their blotter order)."""
        for fill in trades.sort_values(["date"], kind="stable").itertuples(index=False):
            self.fill(
                fill.date,
                str(fill.symbol),
                str(fill.side),
                float(fill.quantity),
                float(fill.price),
                float(fill.commission),
            )

    def holdings(self) -> pd.DataFrame:
        """Every symbol ever held: quantity, average cost, cumulative realized P&L, and
        the date the current position opened."""
        return pd.DataFrame(
            [{"symbol": s, **vars(h)} for s, h in self._holdings.items()], columns=POSITION_COLUMNS
        )

    def ledger(self) -> Ledger:
        """The account now, with only its open positions."""
        positions = self.holdings()
        positions = positions[positions["quantity"].abs() > 1e-9].sort_values(
            "symbol", ignore_index=True
        )
        return Ledger(
            cash=self.cash,
            realized_pnl=self.realized_pnl,
            commissions=self.commissions,
            positions=positions,
        )


def replay_trades(trades: pd.DataFrame, opening_cash: float, allow_short: bool = False) -> Ledger:
    """Replay ``trades`` (date, symbol, side, quantity, price, commission) in date order
    from ``opening_cash``: the ledger after the last fill (see ``AccountBook``).

    The blotter is sequential by nature (each fill changes the average cost the next one
    sees), so this walks the fills; a desk's blotter has tens to thousands of rows.
    """
    book = AccountBook(opening_cash, allow_short)
    book.replay(trades)
    return book.ledger()


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
    marked["sector"] = marked["symbol"].map(sectors).fillna(UNKNOWN_SECTOR)
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

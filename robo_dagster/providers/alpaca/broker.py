"""An Alpaca paper account as the broker (``ROBO_BROKER=alpaca``).

- ``/v2/account``: cash, equity, buying power, and ``last_equity`` (the equity at the
  previous close) for the day's P&L as the broker sees it.
- ``/v2/positions``: quantity (negative for a short), average entry price, market value
  and cost basis. These are the book: what the account holds is what Alpaca says.
- ``/v2/account/activities/FILL``, every page: the trade history. Realized P&L is the
  fills replayed with the paper broker's average-cost accounting
  (``domain.portfolio.replay_trades``, shorts allowed). Alpaca charges no commission on
  these accounts; regulatory fees are separate activities and are not read here.
- ``/v2/account/portfolio/history``: the account's own daily equity curve.
- ``/v2/clock`` and ``/v2/calendar``: cross-checked against exchange_calendars by the
  ``broker_calendar_agrees`` check; a disagreement fails the check, it never crashes.

The limits the checks apply come from ``ROBO_RISK_LIMITS`` (Alpaca knows nothing of
the desk's limits). Only paper accounts: ``settings.alpaca_trading_url`` refuses the
live endpoint.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pydantic import Field

from robo_dagster import redaction
from robo_dagster.domain import calendar
from robo_dagster.domain.portfolio import POSITION_COLUMNS, Ledger, replay_trades
from robo_dagster.providers.alpaca.connection import AlpacaConnection, parse, parse_list
from robo_dagster.providers.alpaca.market_data import naive_utc, new_york_date
from robo_dagster.providers.alpaca.models import (
    Account,
    CalendarDay,
    Clock,
    FillActivity,
    Order,
    PortfolioHistory,
    Position,
)
from robo_dagster.providers.broker import Blotter, BrokerProvider, RiskLimits
from robo_dagster.providers.errors import ProviderError, ProviderNotFound
from robo_dagster.providers.orders import DuplicateOrder, OrderRejected, OrderRequest, OrderState

FILL_COLUMNS = ["date", "symbol", "side", "quantity", "price", "commission", "filled_at", "fill_id"]


def order_state(order: Order) -> OrderState:
    """An Alpaca order as the broker-neutral ``OrderState``."""
    return OrderState(
        client_order_id=order.client_order_id,
        broker_order_id=order.id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.qty or 0.0,
        status=order.status,
        filled_quantity=order.filled_qty,
        filled_average_price=order.filled_avg_price,
        submitted_at=order.submitted_at,
        updated_at=order.updated_at,
    )


def fills_frame(fills: list[FillActivity]) -> pd.DataFrame:
    """Fill activities as the blotter ``replay_trades`` reads: one row per fill (a
    partial fill is a fill), dated by its New York session, in time order."""
    rows = [
        {
            "date": new_york_date(f.transaction_time),
            "symbol": f.symbol,
            "side": "BUY" if f.side == "buy" else "SELL",
            "quantity": abs(f.qty),
            "price": f.price,
            "commission": 0.0,
            "filled_at": naive_utc(f.transaction_time),
            "fill_id": f.id,
        }
        for f in fills
    ]
    frame = pd.DataFrame(rows, columns=FILL_COLUMNS)
    return frame.sort_values(["filled_at", "fill_id"], kind="stable", ignore_index=True)


class AlpacaBroker(BrokerProvider):
    """The account, book and fills of an Alpaca paper account: see the module docstring."""

    connection: AlpacaConnection
    risk_limits: dict[str, float] = Field(
        default_factory=dict,
        description="RiskLimits fields (ROBO_RISK_LIMITS); unset keep defaults.",
    )
    as_of: str | None = Field(
        default=None,
        description="The market's session for the account's as_of; the book itself is live.",
    )

    def limits(self) -> RiskLimits:
        return RiskLimits(**self.risk_limits)

    def _session(self) -> dt.date:
        return (
            calendar.session_on_or_before(self.as_of)
            if self.as_of
            else calendar.last_closed_session()
        )

    def raw_account(self) -> Account:
        return self.connection.get_model("trading", "/v2/account", Account)

    def raw_positions(self) -> list[Position]:
        body = self.connection.get_json("trading", "/v2/positions")
        positions = parse_list("Alpaca trading API /v2/positions", Position, body)
        return [p for p in positions if p.asset_class == "us_equity"]

    def fills(self) -> pd.DataFrame:
        """Every fill of the account, oldest first (``FILL_COLUMNS``)."""
        items = self.connection.listing(
            "/v2/account/activities/FILL", FillActivity, {"direction": "asc"}
        )
        return fills_frame(items)

    def ledger(self) -> Ledger:
        """The positions Alpaca reports, with the realized P&L of the replayed fills.

        ``opened_on`` is the session of the fill that opened the current position, when
        the fills reach back that far."""
        account = self.raw_account()
        held = self.raw_positions()
        replayed = replay_trades(self.fills(), 0.0, allow_short=True)
        by_symbol = replayed.positions.set_index("symbol")
        positions = pd.DataFrame(
            [
                {
                    "symbol": p.symbol,
                    # A short's qty is negative; the side says so in any case.
                    "quantity": -abs(p.qty) if p.side == "short" else p.qty,
                    "average_cost": p.avg_entry_price,
                    "realized_pnl": float(by_symbol["realized_pnl"].get(p.symbol, 0.0)),
                    "opened_on": by_symbol["opened_on"].get(p.symbol),
                }
                for p in held
            ],
            columns=POSITION_COLUMNS,
        ).sort_values("symbol", ignore_index=True)
        return Ledger(
            cash=account.cash,
            realized_pnl=float(replayed.realized_pnl),
            commissions=0.0,
            positions=positions,
        )

    def account(self) -> dict[str, object]:
        account = self.raw_account()
        ledger = self.ledger()
        return {
            "account_id": account.account_number,
            "account_type": "margin" if account.multiplier > 1 else "cash",
            "currency": account.currency,
            "as_of": pd.Timestamp(self._session()),
            "cash": account.cash,
            "long_market_value": account.long_market_value,
            "equity": account.equity,
            "buying_power": account.buying_power,
            "realized_pnl": ledger.realized_pnl,
            "commissions": 0.0,
            "open_positions": len(ledger.positions),
            "last_equity": account.last_equity,
            "broker_day_pnl": account.equity - account.last_equity,
            "status": account.status,
        }

    def equity_history(self, period: str = "1A") -> pd.DataFrame:
        """The account's daily equity curve from ``/v2/account/portfolio/history``:
        date, equity, profit_loss, profit_loss_pct (days without equity dropped)."""
        history = self.connection.get_model(
            "trading",
            "/v2/account/portfolio/history",
            PortfolioHistory,
            {"period": period, "timeframe": "1D"},
        )
        lengths = {len(history.timestamp), len(history.equity), len(history.profit_loss)}
        if len(lengths) != 1:
            raise ProviderError(
                "Alpaca trading API /v2/account/portfolio/history: malformed reply: the arrays "
                f"timestamp, equity and profit_loss differ in length ({sorted(lengths)})"
            )
        frame = pd.DataFrame(
            {
                "date": [
                    new_york_date(dt.datetime.fromtimestamp(t, dt.timezone.utc))
                    for t in history.timestamp
                ],
                "equity": history.equity,
                "profit_loss": history.profit_loss,
                "profit_loss_pct": history.profit_loss_pct,
            }
        )
        return frame.dropna(subset=["equity"]).reset_index(drop=True)

    def blotter(self) -> Blotter:
        """The account's fills. Alpaca reports no opening deposit here, so the cash side
        of the history comes from ``reported_equity_history``; the fills replay the
        positions (shorts allowed) from the first one."""
        fills = self.fills()
        opened = min(fills["date"]) if len(fills) else self._session()
        return Blotter(opening_cash=None, opened_on=opened, trades=fills, allow_short=True)

    def reported_equity_history(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        years = max(1, -(-(end - start).days // 365))
        history = self.equity_history(f"{years}A")
        return history.loc[(history["date"] >= start) & (history["date"] <= end)].reset_index(
            drop=True
        )

    def untradable(self, symbols: list[str]) -> dict[str, str]:
        tradable = set(self.connection.assets().query("tradable")["symbol"])
        return {s: "not an active, tradable asset at Alpaca" for s in symbols if s not in tradable}

    def submit(self, order: OrderRequest) -> OrderState:
        """``POST /v2/orders``: a day order for whole shares. A 422 "client_order_id must
        be unique" is a ``DuplicateOrder``; any other refusal (403 insufficient buying
        power or quantity, 422 invalid) an ``OrderRejected`` with Alpaca's message."""
        body: dict[str, object] = {
            "symbol": order.symbol,
            "qty": str(order.quantity),
            "side": order.side,
            "type": order.order_type,
            "time_in_force": order.time_in_force,
            "client_order_id": order.client_order_id,
        }
        if order.limit_price is not None:
            body["limit_price"] = f"{order.limit_price:g}"
        status, reply = self.connection.post_json("trading", "/v2/orders", body)
        if status >= 400:
            message = redaction.shorten(str(reply.get("message", reply)), 300)
            if status == 422 and "unique" in message.lower():
                raise DuplicateOrder(f"{order.client_order_id}: {message}")
            raise OrderRejected(f"HTTP {status}: {message}")
        return order_state(parse("Alpaca trading API /v2/orders", Order, reply))

    def find_order(self, client_order_id: str) -> OrderState | None:
        try:
            order = self.connection.get_model(
                "trading",
                "/v2/orders:by_client_order_id",
                Order,
                {"client_order_id": client_order_id},
            )
        except ProviderNotFound:
            return None
        return order_state(order)

    def calendar_disagreements(self, start: dt.date, end: dt.date) -> list[str]:
        """Where Alpaca's ``/v2/calendar`` and ``/v2/clock`` disagree with XNYS."""
        body = self.connection.get_json(
            "trading", "/v2/calendar", {"start": start.isoformat(), "end": end.isoformat()}
        )
        days = parse_list("Alpaca trading API /v2/calendar", CalendarDay, body)
        theirs = {d.date: (d.open, d.close) for d in days}
        ours = {
            day: (f"{calendar.session_open(day):%H:%M}", f"{calendar.session_close(day):%H:%M}")
            for day in calendar.sessions_between(start, end)
        }
        problems = [
            f"{day}: Alpaca trades {theirs[day][0]}-{theirs[day][1]}, the exchange calendar "
            + (f"{ours[day][0]}-{ours[day][1]}" if day in ours else "is closed")
            for day in sorted(theirs)
            if theirs[day] != ours.get(day)
        ]
        problems += [
            f"{day}: a session of the exchange calendar that Alpaca does not list"
            for day in sorted(set(ours) - set(theirs))
        ]
        clock = self.connection.get_model("trading", "/v2/clock", Clock)
        now = pd.Timestamp(clock.timestamp)
        if bool(clock.is_open) != calendar.is_open_at(now):
            problems.append(
                f"clock at {now.isoformat()}: Alpaca says the market is "
                f"{'open' if clock.is_open else 'closed'}, the exchange calendar says "
                f"{'open' if calendar.is_open_at(now) else 'closed'}"
            )
        return problems

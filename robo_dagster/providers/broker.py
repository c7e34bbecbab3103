"""The broker: account and positions. The default is a paper broker fed by a file."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from dagster import ConfigurableResource
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import validate_symbols
from robo_dagster.domain.portfolio import Ledger, replay_trades
from robo_dagster.providers.errors import ProviderError
from robo_dagster.providers.market_data import MarketDataProvider, valid_closes
from robo_dagster.providers.orders import DuplicateOrder, OrderRejected, OrderRequest, OrderState
from robo_dagster.providers.paper_orders import PaperOrder, PaperOrderBook

# The portfolio file is read strictly: numbers must be JSON numbers (``true`` is not one
# share), every number finite (``1e999`` is refused, not an infinite equity), and an
# unknown field is refused, so a misspelt one never silently keeps its default.
STRICT = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")
MAX_TEXT = 64  # account ids and other free text: a bound, not a 10 MB field in the UI


class RiskLimits(BaseModel):
    """The desk's limits: checks and position sizing read them."""

    model_config = STRICT

    max_position_weight: float = Field(
        0.25, gt=0, le=1, description="Largest single position, share of equity."
    )
    max_sector_weight: float = Field(
        0.50, gt=0, le=1, description="Largest sector, share of equity."
    )
    var_95_limit_pct: float = Field(
        0.03, gt=0, le=1, description="1-day 95 % VaR limit, share of equity."
    )
    cash_floor_pct: float = Field(0.02, ge=0, le=1, description="Cash kept aside, share of equity.")
    max_gross_exposure: float = Field(
        1.5, gt=0, description="Gross exposure limit, multiple of equity."
    )


class Trade(BaseModel):
    """One fill. Without a price, the paper broker fills at that session's close."""

    model_config = STRICT

    date: dt.date
    symbol: str = Field(max_length=12)
    side: Literal["BUY", "SELL"]
    quantity: float = Field(gt=0)
    price: float | None = Field(default=None, gt=0)
    commission: float = Field(default=0.0, ge=0)

    @field_validator("symbol")
    @classmethod
    def _ticker(cls, value: str) -> str:
        return validate_symbols([value])[0]

    @field_validator("side", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class CashFlow(BaseModel):
    """Money moved into (a positive amount) or out of (negative) the account on a day; a
    day that is not a session counts from the next session."""

    model_config = STRICT

    date: dt.date
    amount: float
    note: str = Field(default="", max_length=MAX_TEXT)

    @field_validator("amount")
    @classmethod
    def _moves_money(cls, value: float) -> float:
        if value == 0:
            raise ValueError("a cash flow of 0 moves no money")
        return value


class PortfolioFile(BaseModel):
    """The paper broker's file: opening cash, limits, the trade blotter and
    the deposits and withdrawals since."""

    model_config = STRICT

    account_id: str = Field(min_length=1, max_length=MAX_TEXT, pattern=r"^[\w.\-]+$")
    account_type: Literal["cash", "margin"] = "margin"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    opening_cash: float = Field(gt=0)
    opened_on: dt.date
    limits: RiskLimits = RiskLimits()
    trades: list[Trade] = Field(default_factory=list)
    cash_flows: list[CashFlow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _trades_after_opening(self) -> PortfolioFile:
        early = [t for t in self.trades if t.date < self.opened_on]
        if early:
            raise ValueError(
                f"trades before the account opened on {self.opened_on}: "
                + ", ".join(f"{t.symbol} on {t.date}" for t in early[:5])
            )
        early_flows = [f for f in self.cash_flows if f.date <= self.opened_on]
        if early_flows:
            raise ValueError(
                f"cash flows on or before the account opened on {self.opened_on} (put them "
                "in opening_cash): " + ", ".join(str(f.date) for f in early_flows[:5])
            )
        return self


@dataclass(frozen=True)
class Blotter:
    """What replays an account: the money it opened with (None: unknown), the day it
    opened, and every fill (date, symbol, side, quantity, price, commission)."""

    opening_cash: float | None
    opened_on: dt.date
    trades: pd.DataFrame
    allow_short: bool = False
    # Deposits (> 0) and withdrawals (< 0) after the opening: date, amount.
    cash_flows: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"date": [], "amount": []})
    )


class BrokerProvider(ConfigurableResource):
    """The interface every broker connection implements."""

    def limits(self) -> RiskLimits:
        """The desk's risk limits that checks and sizing read."""
        raise NotImplementedError

    def ledger(self) -> Ledger:
        """Cash, realized P&L and positions as of the market's session."""
        raise NotImplementedError

    def account(self) -> dict[str, object]:
        """Balances as the broker reports them: account_id, account_type, currency,
        as_of, cash, long_market_value, equity, buying_power, realized_pnl,
        commissions, open_positions."""
        raise NotImplementedError

    def untradable(self, symbols: list[str]) -> dict[str, str]:
        """The symbols among ``symbols`` that this broker will not trade, with why."""
        return {}

    def opening_capital(self) -> float | None:
        """The money put into the account, when the broker knows it: its opening cash plus
        the deposits less the withdrawals since. Total P&L must then equal equity less
        it. None: unknown."""
        return None

    def blotter(self) -> Blotter:
        """The account's opening and its fills, for the book's history."""
        raise ProviderError(f"{type(self).__name__} gives no blotter")

    def reported_equity_history(self, start: dt.date, end: dt.date) -> pd.DataFrame | None:
        """The broker's own daily equity (date, equity, profit_loss) from ``start`` to
        ``end``, when it keeps one; None: the history is replayed from the blotter."""
        return None

    def submit(self, order: OrderRequest) -> OrderState:
        """Send ``order``. Raises ``DuplicateOrder`` when its ``client_order_id`` was used
        before, ``OrderRejected`` with the broker's reason when it is refused."""
        raise ProviderError(f"{type(self).__name__} takes no orders")

    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order placed with ``client_order_id``, or None when there is none."""
        raise ProviderError(f"{type(self).__name__} takes no orders")

    def calendar_disagreements(self, start: dt.date, end: dt.date) -> list[str]:
        """Where the broker's own market calendar and clock disagree with the exchange
        calendar (exchange_calendars) from ``start`` to ``end``: one line each. A broker
        without a calendar of its own has none."""
        return []


def paper_state(order: PaperOrder) -> OrderState:
    """A paper order as the broker-neutral ``OrderState``."""
    filled = order.status == "filled"
    return OrderState(
        client_order_id=order.client_order_id,
        broker_order_id=f"paper-{order.client_order_id}",
        symbol=order.symbol,
        side=order.side,
        quantity=float(order.quantity),
        status=order.status,
        filled_quantity=float(order.quantity) if filled else 0.0,
        filled_average_price=order.price,
        submitted_at=order.submitted_at,
        updated_at=order.submitted_at,
    )


class PaperBroker(BrokerProvider):
    """A paper account replayed from a JSON file (``ROBO_PORTFOLIO_FILE``).

    Fills without a price take the session's close from the market-data provider, and
    the broker marks its own equity on that provider's closes, as a real broker marks
    on its own feed.
    """

    portfolio_file: str = Field(description="Path of the portfolio JSON file.")
    market: MarketDataProvider
    orders_file: str | None = Field(
        default=None,
        description="Where the orders it fills go (ROBO_PAPER_ORDERS_FILE); never the portfolio file.",
    )

    def limits(self) -> RiskLimits:
        return self.portfolio().limits

    def opening_capital(self) -> float | None:
        return self.portfolio().opening_cash + float(self.cash_flows()["amount"].sum())

    def cash_flows(self) -> pd.DataFrame:
        """The deposits and withdrawals up to the market's session: date, amount."""
        session = self.market.session()
        flows = [f for f in self.portfolio().cash_flows if f.date <= session]
        return pd.DataFrame(
            {"date": [f.date for f in flows], "amount": [f.amount for f in flows]},
        ).astype({"amount": float})

    def _order_book(self) -> PaperOrderBook:
        if not self.orders_file:
            raise ProviderError("this paper broker has no orders file: it takes no orders")
        if (
            Path(self.orders_file).expanduser().resolve()
            == Path(self.portfolio_file).expanduser().resolve()
        ):
            raise ProviderError(
                f"the paper orders file may not be the portfolio file {self.portfolio_file}"
            )
        return PaperOrderBook(self.orders_file)

    def _filled_orders(self) -> list[dict[str, object]]:
        """The orders this broker filled, as blotter rows."""
        if not self.orders_file:
            return []
        return [
            {
                "date": o.date,
                "symbol": o.symbol,
                "side": o.side.upper(),
                "quantity": float(o.quantity),
                "price": o.price,
                "commission": 0.0,
            }
            for o in self._order_book().load()
            if o.status == "filled"
        ]

    def submit(self, order: OrderRequest) -> OrderState:
        """Fill ``order`` at the market session's close, as a day order would fill at
        the next open at best: a market order always, a limit only if the close is at or
        through it (else it expires). Refused like a broker refuses: a sell of more than
        is held, a buy beyond the buying power."""
        session = self.market.session()
        closes = self._valid_closes([order.symbol], [session])
        if (order.symbol, session) not in closes.index:
            raise OrderRejected(f"no valid close for {order.symbol} on {session}: cannot fill")
        close = float(closes[(order.symbol, session)])
        with self._order_book().locked() as orders:
            if any(o.client_order_id == order.client_order_id for o in orders):
                raise DuplicateOrder(f"{order.client_order_id}: client_order_id must be unique")
            account = self.account()
            held = self.ledger().positions.set_index("symbol")["quantity"].get(order.symbol, 0.0)
            if order.side == "sell" and order.quantity > held + 1e-9:
                raise OrderRejected(
                    f"insufficient qty available for order (requested: {order.quantity}, "
                    f"available: {held:g})"
                )
            if order.side == "buy" and order.quantity * close > float(account["buying_power"]):  # type: ignore[arg-type]
                raise OrderRejected(
                    f"insufficient buying power (requested: {order.quantity * close:,.2f}, "
                    f"available: {float(account['buying_power']):,.2f})"  # type: ignore[arg-type]
                )
            limit = order.limit_price
            marketable = (
                order.order_type == "market"
                or limit is None
                or (close <= limit if order.side == "buy" else close >= limit)
            )
            taken = PaperOrder(
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                quantity=order.quantity,
                order_type=order.order_type,
                limit_price=limit,
                status="filled" if marketable else "expired",
                date=session,
                price=close if marketable else None,
                submitted_at=dt.datetime.now(dt.timezone.utc),
            )
            orders.append(taken)
        return paper_state(taken)

    def find_order(self, client_order_id: str) -> OrderState | None:
        if not self.orders_file:
            return None
        for order in self._order_book().load():
            if order.client_order_id == client_order_id:
                return paper_state(order)
        return None

    def portfolio(self) -> PortfolioFile:
        path = Path(self.portfolio_file).expanduser()
        try:
            text = path.read_text()
            json.loads(text)
        except FileNotFoundError as exc:
            raise ProviderError(f"portfolio file {path} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise ProviderError(f"portfolio file {path} is not valid JSON: {exc}") from exc
        try:
            # JSON mode: strict types, with ISO dates read from their strings.
            book = PortfolioFile.model_validate_json(text)
        except ValidationError as exc:
            raise ProviderError(f"portfolio file {path} is malformed:\n{exc}") from exc
        session = self.market.session()
        if book.opened_on > session:
            raise ProviderError(
                f"portfolio file {path}: opened_on {book.opened_on} is after the market's "
                f"session {session}; the account did not exist yet"
            )
        return book

    def trades(self) -> pd.DataFrame:
        """The blotter up to the market's session, every fill priced."""
        book = self.portfolio()
        as_of = self.market.session()
        frame = pd.DataFrame([*(t.model_dump() for t in book.trades), *self._filled_orders()])
        if frame.empty:
            return pd.DataFrame(
                columns=["date", "symbol", "side", "quantity", "price", "commission"]
            )
        frame = frame[frame["date"] <= as_of].copy()
        not_sessions = sorted({d for d in frame["date"] if not calendar.is_session(d)})
        if not_sessions:
            raise ProviderError(
                "trades dated on non-trading days: "
                + ", ".join(d.isoformat() for d in not_sessions)
            )
        unpriced = frame["price"].isna()
        if unpriced.any():
            need = frame.loc[unpriced]
            closes = self._valid_closes(sorted(set(need["symbol"])), sorted(set(need["date"])))
            keys = list(zip(need["symbol"], need["date"], strict=True))
            frame.loc[unpriced, "price"] = closes.reindex(keys).to_numpy()
            still = frame["price"].isna()
            if still.any():
                missing = ", ".join(
                    f"{s} on {d}"
                    for s, d in zip(
                        frame.loc[still, "symbol"], frame.loc[still, "date"], strict=True
                    )
                )
                raise ProviderError(
                    f"no valid close to fill the unpriced trade(s) {missing}: the market data "
                    "has no bar, or only a quarantined one, for that session; give the trade "
                    "a price in the portfolio file"
                )
        return frame.reset_index(drop=True)

    def _valid_closes(self, symbols: list[str], sessions: list[dt.date]) -> pd.Series:
        return valid_closes(self.market, symbols, sessions)

    def blotter(self) -> Blotter:
        book = self.portfolio()
        return Blotter(
            opening_cash=book.opening_cash,
            opened_on=book.opened_on,
            trades=self.trades(),
            cash_flows=self.cash_flows(),
        )

    def ledger(self) -> Ledger:
        # Cash is what came in less what went out, whenever it moved.
        return replay_trades(self.trades(), self.opening_capital() or 0.0)

    def account(self) -> dict[str, object]:
        book = self.portfolio()
        ledger = self.ledger()
        session = self.market.session()
        long_mv = 0.0
        if not ledger.positions.empty:
            held = list(ledger.positions["symbol"])
            close = self._valid_closes(held, [session]).xs(session, level="date")
            unmarked = sorted(set(held) - set(close.index))
            if unmarked:
                raise ProviderError(
                    f"no valid close on {session} for held {', '.join(unmarked)}: the paper "
                    "broker cannot mark its equity"
                )
            long_mv = float((ledger.positions.set_index("symbol")["quantity"] * close).sum())
        equity = ledger.cash + long_mv
        # Reg T: margin buying power is twice the equity above the 50 % initial margin.
        buying_power = (
            max(ledger.cash, 0.0)
            if book.account_type == "cash"
            else max(2.0 * equity - long_mv, 0.0)
        )
        return {
            "account_id": book.account_id,
            "account_type": book.account_type,
            "currency": book.currency,
            "as_of": pd.Timestamp(session),
            "cash": ledger.cash,
            "long_market_value": long_mv,
            "equity": equity,
            "buying_power": buying_power,
            "realized_pnl": ledger.realized_pnl,
            "commissions": ledger.commissions,
            "open_positions": len(ledger.positions),
        }

"""The broker: account and positions. The default is a paper broker fed by a file."""

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import pandas as pd
from dagster import ConfigurableResource
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import validate_symbols
from robo_dagster.domain.portfolio import Ledger, replay_trades
from robo_dagster.domain.quality import split_valid_bars
from robo_dagster.providers.errors import ProviderError
from robo_dagster.providers.market_data import MarketDataProvider


class RiskLimits(BaseModel):
    """The desk's limits: checks and (later) position sizing read them. An unknown field
    is refused, so a misspelt limit never silently keeps its default."""

    model_config = ConfigDict(extra="forbid")

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

    date: dt.date
    symbol: str
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
    def _upper(cls, value: str) -> str:
        return str(value).upper()


class PortfolioFile(BaseModel):
    """The paper broker's file: opening cash, limits and the trade blotter."""

    account_id: str
    account_type: Literal["cash", "margin"] = "margin"
    currency: str = "USD"
    opening_cash: float = Field(gt=0)
    opened_on: dt.date
    limits: RiskLimits = RiskLimits()
    trades: list[Trade] = Field(default_factory=list)


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

    def calendar_disagreements(self, start: dt.date, end: dt.date) -> list[str]:
        """Where the broker's own market calendar and clock disagree with the exchange
        calendar (exchange_calendars) from ``start`` to ``end``: one line each. A broker
        without a calendar of its own has none."""
        return []


class PaperBroker(BrokerProvider):
    """A paper account replayed from a JSON file (``ROBO_PORTFOLIO_FILE``).

    Fills without a price take the session's close from the market-data provider, and
    the broker marks its own equity on that provider's closes, as a real broker marks
    on its own feed.
    """

    portfolio_file: str = Field(description="Path of the portfolio JSON file.")
    market: MarketDataProvider

    def limits(self) -> RiskLimits:
        return self.portfolio().limits

    def portfolio(self) -> PortfolioFile:
        path = Path(self.portfolio_file).expanduser()
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ProviderError(f"portfolio file {path} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise ProviderError(f"portfolio file {path} is not valid JSON: {exc}") from exc
        try:
            return PortfolioFile.model_validate(raw)
        except ValidationError as exc:
            raise ProviderError(f"portfolio file {path} is malformed:\n{exc}") from exc

    def trades(self) -> pd.DataFrame:
        """The blotter up to the market's session, every fill priced."""
        book = self.portfolio()
        as_of = self.market.session()
        frame = pd.DataFrame([t.model_dump() for t in book.trades])
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
        """(symbol, date) -> close, from the provider's bars that pass validation: a
        quarantined bar never prices a fill or marks the book."""
        bars = self.market.daily_bars(symbols, sessions)
        valid, _ = split_valid_bars(bars, calendar.session_index(min(sessions), max(sessions)))
        valid = valid.assign(date=pd.to_datetime(valid["date"]).dt.date)
        return valid.set_index(["symbol", "date"])["close"]

    def ledger(self) -> Ledger:
        return replay_trades(self.trades(), self.portfolio().opening_cash)

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

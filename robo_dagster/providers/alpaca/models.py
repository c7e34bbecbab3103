"""Pydantic models of the Alpaca responses robo-dagster reads (docs.alpaca.markets).

The trading API sends numbers as strings (``"cash": "98123.45"``): pydantic's lax mode
turns them into floats, and a value that is not a number fails with its field's name.
Unknown fields are ignored, because Alpaca adds fields over time; a missing required
field or a wrong type is an error, never a default.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# ------------------------------------------------------------------ trading API
class Account(_Wire):
    """``GET /v2/account``."""

    id: str
    account_number: str
    status: str
    currency: str = "USD"
    cash: float
    equity: float
    last_equity: float
    buying_power: float
    long_market_value: float = 0.0
    short_market_value: float = 0.0
    multiplier: float = 1.0
    trading_blocked: bool = False


class Position(_Wire):
    """One item of ``GET /v2/positions``. ``qty`` is negative for a short."""

    symbol: str
    qty: float
    avg_entry_price: float
    side: str
    market_value: float
    cost_basis: float
    current_price: float | None = None
    lastday_price: float | None = None
    unrealized_pl: float | None = None
    asset_class: str = "us_equity"


class FillActivity(_Wire):
    """One ``FILL`` item of ``GET /v2/account/activities/FILL``."""

    id: str
    activity_type: str
    transaction_time: dt.datetime
    type: str  # fill or partial_fill
    price: float
    qty: float
    side: str  # buy, sell or sell_short
    symbol: str
    order_id: str | None = None


class PortfolioHistory(_Wire):
    """``GET /v2/account/portfolio/history``: parallel arrays, one entry per bar."""

    timestamp: list[int]
    equity: list[float | None]
    profit_loss: list[float | None]
    profit_loss_pct: list[float | None]
    base_value: float | None = None
    timeframe: str


class Clock(_Wire):
    """``GET /v2/clock``."""

    timestamp: dt.datetime
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime


class CalendarDay(_Wire):
    """One item of ``GET /v2/calendar``: times are New York wall clock, ``HH:MM``."""

    date: dt.date
    open: str = Field(pattern=r"^\d{2}:\d{2}$")
    close: str = Field(pattern=r"^\d{2}:\d{2}$")


class Asset(_Wire):
    """One item of ``GET /v2/assets``."""

    id: str
    asset_class: str = Field(alias="class")
    exchange: str
    symbol: str
    name: str = ""
    status: str
    tradable: bool


# ------------------------------------------------------------------ market-data API
class Bar(_Wire):
    """A bar: ``t`` is the bar's start (a daily bar starts at midnight New York time)."""

    t: dt.datetime
    o: float
    h: float
    low: float = Field(alias="l")
    c: float
    v: float
    n: int | None = None
    vw: float | None = None


class BarsPage(_Wire):
    """``GET /v2/stocks/bars``: bars by symbol; a symbol without bars is absent."""

    bars: dict[str, list[Bar]] | None = None
    next_page_token: str | None = None


class Trade(_Wire):
    t: dt.datetime
    p: float


class Snapshot(_Wire):
    """One symbol of ``GET /v2/stocks/snapshots``."""

    latest_trade: Trade | None = Field(default=None, alias="latestTrade")
    daily_bar: Bar | None = Field(default=None, alias="dailyBar")
    prev_daily_bar: Bar | None = Field(default=None, alias="prevDailyBar")


class NewsArticle(_Wire):
    """One item of ``GET /v1beta1/news``."""

    id: int
    headline: str
    author: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime | None = None
    summary: str = ""
    url: str | None = None
    symbols: list[str]
    source: str = ""


class NewsPage(_Wire):
    news: list[NewsArticle]
    next_page_token: str | None = None


class OptionQuote(_Wire):
    t: dt.datetime
    ap: float
    bp: float


class Greeks(_Wire):
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    rho: float | None = None


class OptionSnapshot(_Wire):
    """One contract of ``GET /v1beta1/options/snapshots/{underlying}``."""

    latest_quote: OptionQuote | None = Field(default=None, alias="latestQuote")
    implied_volatility: float | None = Field(default=None, alias="impliedVolatility")
    greeks: Greeks | None = None
    daily_bar: Bar | None = Field(default=None, alias="dailyBar")


class OptionSnapshotsPage(_Wire):
    snapshots: dict[str, OptionSnapshot]
    next_page_token: str | None = None


class Order(_Wire):
    """``POST /v2/orders`` and ``GET /v2/orders:by_client_order_id``."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    qty: float | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    limit_price: float | None = None
    submitted_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

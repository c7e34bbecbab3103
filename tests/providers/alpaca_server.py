"""A loopback Alpaca: the trading and market-data APIs on 127.0.0.1, from Alpaca's docs.

Written from Alpaca's OpenAPI specs (``alpacahq/cli`` api/specs/trading-api.json and
market-data-api.json) and the recorded bodies in alpaca-py's tests:

- auth by the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers: a wrong key gets 401
  ``{"code": 40110000, "message": "request is not authorized"}`` on the trading API and
  403 ``{"message": "forbidden."}`` (no code) on the data API;
- trading-API decimals are JSON strings; market-data prices are numbers;
- ``/v2/stocks/bars`` sorts by symbol then time, counts ``limit`` across symbols, splits a
  symbol over pages, and leaves out symbols without bars; ``next_page_token`` is null
  on the last page. A daily bar's ``t`` is midnight New York in UTC;
- ``/v2/account/activities/FILL`` is a bare array paged by the last id; ``[]`` ends it;
- ``/v2/stocks/snapshots`` is a dict keyed by symbol (unknown: null); option snapshots
  are wrapped in ``"snapshots"`` and paginated.

The market behind it is the simulator's (``MarketSimulator``), so a test knows every
number the server served. ``faults`` injects what real servers do: a status with
headers, a hang, a malformed body; ``page_cap`` forces several pages whatever the
client's ``limit``. Every request is recorded.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import MarketSimulator

NEW_YORK = ZoneInfo("America/New_York")
KEY_ID = "PKTEST7Q2M4R8W1Z5X9C3V6B"
# Realistically long, so that a partial echo is a real risk.
SECRET_KEY = "sk9Jx2mQ7vT4pL8rW1nB5cZ3hF6dG0aYeK2uS7iO4wE9tR1yU5qP3oA8sD6fH2jL"


@dataclass
class Fault:
    """One injected answer: ``status`` with ``body`` and ``headers``, or ``hang_s``
    seconds of silence, or a ``raw`` body sent as it is."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0
    raw: str | None = None
    times: int = 1  # how many requests it answers (-1: every one)
    page: int = 0  # only from this page on (0: the first)


@dataclass
class Holding:
    symbol: str
    qty: float
    avg_entry_price: float


def _day_start_utc(day: dt.date) -> str:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).astimezone(dt.timezone.utc)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(moment: pd.Timestamp) -> str:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _token(offset: int) -> str:
    return base64.b64encode(f"offset|{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    return int(base64.b64decode(token).decode().split("|")[1])


def _parse_time(raw: str) -> pd.Timestamp:
    stamp = pd.Timestamp(raw.replace(" ", "+"))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


class FakeAlpaca:
    """The state of one loopback Alpaca account and market."""

    def __init__(
        self,
        session: dt.date,
        symbols: list[str],
        holdings: list[Holding],
        fills: list[dict[str, Any]],
        cash: float,
        seed: int = 7,
    ) -> None:
        self.session = session
        self.symbols = sorted(symbols)
        self.holdings = holdings
        self.fills = fills
        self.cash = cash
        self.sim = MarketSimulator(seed)
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.page_cap = {"bars": 700, "news": 7, "options": 60, "activities": 4}
        self.served_bars: list[tuple[str, str]] = []
        self.calendar_overrides: dict[str, dict[str, str] | None] = {}
        self.orders: dict[str, dict[str, Any]] = {}  # by client_order_id
        self.order_posts: list[dict[str, Any]] = []  # every POST /v2/orders body
        self.order_taken: Any = None  # called with each order once taken, before the reply
        self.reject_all: tuple[int, dict[str, Any]] | None = None
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ market
    def close(self, symbol: str, day: dt.date) -> float:
        bars = self.sim.daily_bars([symbol], [day])
        return float(bars["close"].iloc[0])

    def equity(self, day: dt.date) -> float:
        return self.cash + sum(h.qty * self.close(h.symbol, day) for h in self.holdings)

    def bars(self, params: dict[str, str]) -> dict[str, Any]:
        symbols = sorted(set(params["symbols"].split(",")) & set(self.symbols))
        start = _parse_time(params["start"])
        end = _parse_time(params["end"])
        last = min(end.tz_convert(NEW_YORK).date(), self.session)
        sessions = calendar.sessions_between(start.tz_convert(NEW_YORK).date(), last)
        points: list[tuple[str, dict[str, Any]]] = []
        if symbols and sessions:
            frame = self.sim.daily_bars(symbols, sessions).sort_values(["symbol", "date"])
            for row in frame.itertuples(index=False):
                day = pd.Timestamp(row.date).date()
                stamp = _day_start_utc(day)
                if not (start <= pd.Timestamp(stamp) <= end):
                    continue
                points.append(
                    (
                        str(row.symbol),
                        {
                            "t": stamp,
                            "o": float(row.open),
                            "h": float(row.high),
                            "l": float(row.low),
                            "c": float(row.close),
                            "v": int(row.volume),
                            "n": 1000,
                            "vw": float(row.close),
                        },
                    )
                )
        offset = _offset(params.get("page_token"))
        size = min(int(params.get("limit", 1000)), self.page_cap["bars"])
        page = points[offset : offset + size]
        out: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            out.setdefault(symbol, []).append(bar)
        with self.lock:
            self.served_bars += [(symbol, bar["t"]) for symbol, bar in page]
        more = offset + size < len(points)
        return {"bars": out, "next_page_token": _token(offset + size) if more else None}

    def news(self, params: dict[str, str]) -> dict[str, Any]:
        symbols = sorted(set(params.get("symbols", "").split(",")) & set(self.symbols))
        start, end = _parse_time(params["start"]), _parse_time(params["end"])
        first = calendar.session_on_or_before(start.tz_convert(NEW_YORK).date())
        last = min(calendar.session_on_or_before(end.tz_convert(NEW_YORK).date()), self.session)
        feed = self.sim.news([s for s in symbols if s != "SPY"], first, last) if symbols else None
        articles: list[dict[str, Any]] = []
        if feed is not None and len(feed):
            published = pd.to_datetime(feed["published_at"]).dt.tz_localize("UTC")
            feed = feed[(published >= start) & (published <= end)]
            for row in feed.sort_values(["published_at", "news_id"]).itertuples(index=False):
                articles.append(
                    {
                        "id": int(str(row.news_id), 16) % 2**40,
                        "headline": str(row.headline),
                        "author": "Loopback Wire",
                        "created_at": _time(pd.Timestamp(row.published_at)),
                        "updated_at": _time(pd.Timestamp(row.published_at)),
                        "summary": "",
                        "url": None,
                        "images": [],
                        "symbols": [str(row.symbol)],
                        "source": "benzinga",
                    }
                )
        others = [s for s in symbols if articles and s not in articles[0]["symbols"]]
        if others:  # one article on two symbols, as real ones often are
            articles[0]["symbols"] = sorted({*articles[0]["symbols"], others[0]})
        offset = _offset(params.get("page_token"))
        size = min(int(params.get("limit", 10)), self.page_cap["news"])
        more = offset + size < len(articles)
        return {
            "news": articles[offset : offset + size],
            "next_page_token": _token(offset + size) if more else None,
        }

    def option_snapshots(self, underlying: str, params: dict[str, str]) -> dict[str, Any]:
        chains = self.sim.option_chains([underlying], self.session)
        low = float(params.get("strike_price_gte", 0))
        high = float(params.get("strike_price_lte", 1e12))
        first = dt.date.fromisoformat(params.get("expiration_date_gte", "1900-01-01"))
        last = dt.date.fromisoformat(params.get("expiration_date_lte", "2999-12-31"))
        quoted = calendar.session_close(self.session) - pd.Timedelta(seconds=1)
        contracts = []
        for row in chains.itertuples(index=False):
            expiry = pd.Timestamp(row.expiry).date()
            if not (low <= row.strike <= high and first <= expiry <= last):
                continue
            occ = (
                f"{underlying}{expiry:%y%m%d}{'C' if row.option_type == 'call' else 'P'}"
                f"{round(row.strike * 1000):08d}"
            )
            contracts.append(
                (
                    occ,
                    {
                        "latestQuote": {
                            "ap": float(row.ask),
                            "as": 10,
                            "ax": "C",
                            "bp": float(row.bid),
                            "bs": 12,
                            "bx": "C",
                            "c": "A",
                            "t": _time(quoted),
                        },
                        "impliedVolatility": 0.3,
                        "greeks": {
                            "delta": 0.5,
                            "gamma": 0.01,
                            "rho": 0.0,
                            "theta": -0.1,
                            "vega": 0.2,
                        },
                        "dailyBar": {
                            "t": _day_start_utc(self.session),
                            "o": 1.0,
                            "h": 1.0,
                            "l": 1.0,
                            "c": 1.0,
                            "v": int(row.volume),
                            "n": 1,
                            "vw": 1.0,
                        },
                    },
                )
            )
        contracts.sort()
        offset = _offset(params.get("page_token"))
        size = min(int(params.get("limit", 100)), self.page_cap["options"])
        more = offset + size < len(contracts)
        return {
            "snapshots": dict(contracts[offset : offset + size]),
            "next_page_token": _token(offset + size) if more else None,
        }

    # ------------------------------------------------------------------ trading
    def account(self) -> dict[str, Any]:
        previous = calendar.previous_session(self.session)
        long_mv = sum(
            h.qty * self.close(h.symbol, self.session) for h in self.holdings if h.qty > 0
        )
        short_mv = sum(
            h.qty * self.close(h.symbol, self.session) for h in self.holdings if h.qty < 0
        )
        equity = self.equity(self.session)
        return {
            "id": "1d9eed04-be39-4e01-9b84-a48ac5bbafcf",
            "account_number": "PA3LOOPBACK1",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": f"{2 * equity - long_mv:.2f}",
            "regt_buying_power": f"{2 * equity - long_mv:.2f}",
            "non_marginable_buying_power": f"{self.cash:.2f}",
            "bod_dtbp": 0,
            "cash": f"{self.cash:.2f}",
            "accrued_fees": "0",
            "portfolio_value": f"{equity:.2f}",
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2024-01-02T15:00:00.272275Z",
            "multiplier": "2",
            "shorting_enabled": True,
            "equity": f"{equity:.2f}",
            "last_equity": f"{self.equity(previous):.14f}",
            "long_market_value": f"{long_mv:.2f}",
            "short_market_value": f"{short_mv:.2f}",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "sma": "0",
            "balance_asof": previous.isoformat(),
            "options_trading_level": 2,
        }

    def positions(self) -> list[dict[str, Any]]:
        out = []
        for h in sorted(self.holdings, key=lambda h: h.symbol):
            price = self.close(h.symbol, self.session)
            previous = self.close(h.symbol, calendar.previous_session(self.session))
            out.append(
                {
                    "asset_id": f"asset-{h.symbol}",
                    "symbol": h.symbol,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "asset_marginable": True,
                    "qty": f"{h.qty:g}",
                    "qty_available": f"{h.qty:g}",
                    "avg_entry_price": f"{h.avg_entry_price:.4f}",
                    "side": "long" if h.qty > 0 else "short",
                    "market_value": f"{h.qty * price:.2f}",
                    "cost_basis": f"{h.qty * h.avg_entry_price:.2f}",
                    "unrealized_pl": f"{h.qty * (price - h.avg_entry_price):.2f}",
                    "unrealized_plpc": "0",
                    "unrealized_intraday_pl": "0",
                    "unrealized_intraday_plpc": "0",
                    "current_price": f"{price:.4f}",
                    "lastday_price": f"{previous:.4f}",
                    "change_today": "0",
                }
            )
        return out

    def activities(self, params: dict[str, str]) -> list[dict[str, Any]]:
        token = params.get("page_token")
        start = 0
        if token:
            ids = [f["id"] for f in self.fills]
            start = ids.index(token) + 1
        size = min(int(params.get("page_size", 100)), self.page_cap["activities"])
        return self.fills[start : start + size]

    def portfolio_history(self) -> dict[str, Any]:
        sessions = calendar.sessions_between(self.session - dt.timedelta(days=20), self.session)
        stamps = [
            int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp()) + 86400
            for d in sessions
        ]
        equity = [round(self.equity(d), 2) for d in sessions]
        base = equity[0]
        return {
            "timestamp": stamps,
            "equity": equity,
            "profit_loss": [round(e - base, 4) for e in equity],
            "profit_loss_pct": [round(e / base - 1, 4) for e in equity],
            "base_value": base,
            "timeframe": "1D",
        }

    def calendar_days(self, params: dict[str, str]) -> list[dict[str, Any]]:
        days = calendar.sessions_between(params["start"], params["end"])
        out = []
        for day in days:
            key = day.isoformat()
            entry = {
                "date": key,
                "open": f"{calendar.session_open(day):%H:%M}",
                "close": f"{calendar.session_close(day):%H:%M}",
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": calendar.session_on_or_after(
                    day + dt.timedelta(days=1)
                ).isoformat(),
            }
            override = self.calendar_overrides.get(key, entry)
            if override is not None:
                out.append({**entry, **override})
        return out

    def clock(self) -> dict[str, Any]:
        now = pd.Timestamp.now(tz=NEW_YORK)
        return {
            "timestamp": now.isoformat(),
            "is_open": calendar.is_open_at(now),
            "next_open": calendar.session_open(
                calendar.session_on_or_after(now.date() + dt.timedelta(days=1))
            ).isoformat(),
            "next_close": calendar.session_close(
                calendar.session_on_or_after(now.date())
            ).isoformat(),
        }

    def assets(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f"asset-{s}",
                "class": "us_equity",
                "exchange": "NASDAQ",
                "symbol": s,
                "name": f"{s} Common Stock",
                "status": "active",
                "tradable": True,
                "marginable": True,
                "shortable": True,
                "easy_to_borrow": True,
                "fractionable": True,
            }
            for s in [*self.symbols, "DELISTED"]
        ] + [
            {
                "id": "asset-OLD",
                "class": "us_equity",
                "exchange": "OTC",
                "symbol": "OLDCO",
                "name": "Old Co",
                "status": "inactive",
                "tradable": False,
                "marginable": False,
                "shortable": False,
                "easy_to_borrow": False,
                "fractionable": False,
            }
        ]

    def snapshots(self, params: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        today = self.session
        previous = calendar.previous_session(today)
        for symbol in params["symbols"].split(","):
            if symbol not in self.symbols:
                out[symbol] = None
                continue
            bars = self.sim.daily_bars([symbol], [previous, today]).sort_values("date")
            prev_close, close = (float(c) for c in bars["close"])
            out[symbol] = {
                "latestTrade": {
                    "t": _time(calendar.session_close(today)),
                    "x": "V",
                    "p": close,
                    "s": 100,
                    "c": ["@"],
                    "i": 1,
                    "z": "C",
                },
                "dailyBar": {
                    "t": _day_start_utc(today),
                    "o": close,
                    "h": close,
                    "l": close,
                    "c": close,
                    "v": 1000,
                    "n": 10,
                    "vw": close,
                },
                "prevDailyBar": {
                    "t": _day_start_utc(previous),
                    "o": prev_close,
                    "h": prev_close,
                    "l": prev_close,
                    "c": prev_close,
                    "v": 1000,
                    "n": 10,
                    "vw": prev_close,
                },
            }
        return out

    # ------------------------------------------------------------------ orders
    def buying_power(self) -> float:
        long_mv = sum(
            h.qty * self.close(h.symbol, self.session) for h in self.holdings if h.qty > 0
        )
        return 2 * self.equity(self.session) - long_mv

    def place_order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /v2/orders``, as Alpaca answers it."""
        with self.lock:
            self.order_posts.append(body)
        cid = str(body.get("client_order_id", ""))
        if cid in self.orders:
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        if self.reject_all is not None:
            return self.reject_all
        symbol, side, qty = str(body["symbol"]), str(body["side"]), float(body["qty"])
        if symbol not in self.symbols:
            return 422, {"code": 42210000, "message": f"asset {symbol} not found"}
        price = self.close(symbol, self.session)
        held = sum(h.qty for h in self.holdings if h.symbol == symbol)
        if side == "sell" and qty > held:
            return 403, {
                "code": 40310000,
                "message": f"insufficient qty available for order (requested: {qty:g}, available: {held:g})",
                "symbol": symbol,
            }
        if side == "buy" and qty * price > self.buying_power():
            return 403, {"code": 40310000, "message": "insufficient buying power"}
        now = _time(pd.Timestamp.now(tz="UTC"))
        order = {
            "id": f"order-{len(self.orders) + 1:04d}-{cid[-6:]}",
            "client_order_id": cid,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "asset_class": "us_equity",
            "symbol": symbol,
            "qty": f"{qty:g}",
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "",
            "order_type": body["type"],
            "type": body["type"],
            "side": side,
            "time_in_force": body["time_in_force"],
            "limit_price": body.get("limit_price"),
            "status": "accepted",
            "extended_hours": False,
        }
        with self.lock:
            self.orders[cid] = order
        if self.order_taken is not None:
            self.order_taken(order)
        return 200, order

    def fill_open_orders(self) -> None:
        """Fill every accepted order at the session's close, as the next open would:
        the book, the cash and the fills move, so the next broker sync sees them."""
        for cid, order in self.orders.items():
            if order["status"] != "accepted":
                continue
            symbol, qty = order["symbol"], float(order["qty"])
            price = self.close(symbol, self.session)
            signed = qty if order["side"] == "buy" else -qty
            holding = next((h for h in self.holdings if h.symbol == symbol), None)
            if holding is None:
                self.holdings.append(Holding(symbol, signed, price))
            else:
                if signed > 0:
                    holding.avg_entry_price = (
                        holding.qty * holding.avg_entry_price + signed * price
                    ) / (holding.qty + signed)
                holding.qty += signed
            self.holdings = [h for h in self.holdings if abs(h.qty) > 1e-9]
            self.cash -= signed * price
            n = len(self.fills) + 1
            self.fills.append(
                {
                    "id": f"{self.session:%Y%m%d}160000{n:03d}::{cid}",
                    "activity_type": "FILL",
                    "transaction_time": _time(calendar.session_close(self.session)),
                    "type": "fill",
                    "price": f"{price:.4f}",
                    "qty": f"{qty:g}",
                    "side": order["side"],
                    "symbol": symbol,
                    "leaves_qty": "0",
                    "order_id": order["id"],
                    "cum_qty": f"{qty:g}",
                    "order_status": "filled",
                }
            )
            order.update(status="filled", filled_qty=f"{qty:g}", filled_avg_price=f"{price:.4f}")

    def order_by_client_id(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(params.get("client_order_id", ""))
        if order is None:
            return 404, {"code": 40410000, "message": "order not found"}
        return 200, order

    # ------------------------------------------------------------------ routing
    def route(self, path: str, params: dict[str, str]) -> Any:
        if path == "/v2/account":
            return self.account()
        if path == "/v2/positions":
            return self.positions()
        if path == "/v2/account/activities/FILL":
            return self.activities(params)
        if path == "/v2/account/portfolio/history":
            return self.portfolio_history()
        if path == "/v2/calendar":
            return self.calendar_days(params)
        if path == "/v2/clock":
            return self.clock()
        if path == "/v2/assets":
            return self.assets()
        if path == "/v2/orders:by_client_order_id":
            return self.order_by_client_id(params)
        if path == "/v2/stocks/bars":
            return self.bars(params)
        if path == "/v2/stocks/snapshots":
            return self.snapshots(params)
        if path == "/v1beta1/news":
            return self.news(params)
        if path.startswith("/v1beta1/options/snapshots/"):
            return self.option_snapshots(path.rsplit("/", 1)[1], params)
        return None

    def fault_for(self, path: str, params: dict[str, str]) -> Fault | None:
        with self.lock:
            for key in (path, path.rsplit("/", 1)[0] + "/*"):
                queue = self.faults.get(key)
                if not queue:
                    continue
                fault = queue[0]
                if fault.page and _offset(params.get("page_token")) == 0:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        queue.pop(0)
                return fault
        return None


def _handler(state: FakeAlpaca) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(
            self,
            status: int,
            body: Any,
            headers: dict[str, str] | None = None,
            raw: str | None = None,
        ) -> None:
            payload = (raw if raw is not None else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            # A client killed mid-request is gone; the broker keeps what it took.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.requests.append((url.path, parse_qs(url.query), headers))
            data_api = url.path.startswith(("/v2/stocks", "/v1beta1"))
            if (
                headers.get("apca-api-key-id") != KEY_ID
                or headers.get("apca-api-secret-key") != SECRET_KEY
            ):
                if data_api:
                    self._send(403, {"message": "forbidden."})
                else:
                    self._send(401, {"code": 40110000, "message": "request is not authorized"})
                return
            fault = state.fault_for(url.path, params)
            if fault is not None:
                if fault.hang_s:
                    time.sleep(fault.hang_s)
                    self.close_connection = True
                    return
                self._send(fault.status, fault.body, fault.headers, fault.raw)
                return
            body = state.route(url.path, params)
            if body is None:
                self._send(404, {"code": 40410000, "message": f"route not found: {url.path}"})
                return
            if isinstance(body, tuple):
                self._send(*body)
                return
            self._send(200, body)

        def do_POST(self) -> None:
            url = urlparse(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(headers.get("content-length", "0"))
            raw = self.rfile.read(length).decode() if length else ""
            with state.lock:
                state.requests.append((url.path, {}, headers))
            if (
                headers.get("apca-api-key-id") != KEY_ID
                or headers.get("apca-api-secret-key") != SECRET_KEY
            ):
                self._send(401, {"code": 40110000, "message": "request is not authorized"})
                return
            if url.path != "/v2/orders":
                self._send(404, {"code": 40410000, "message": f"route not found: {url.path}"})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"code": 40010000, "message": "request body format is invalid"})
                return
            missing = [
                k for k in ("symbol", "qty", "side", "type", "time_in_force") if k not in body
            ]
            if missing:
                self._send(422, {"code": 40010001, "message": f"{missing[0]} is required"})
                return
            self._send(*state.place_order(body))

    return Handler


@contextmanager
def serve(state: FakeAlpaca) -> Iterator[str]:
    """Serve ``state`` on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""From target weights to orders: sizing, idempotent order ids, and the pre-trade limits.

``size_orders`` turns checked recommendations into the orders that would move the book
from its current positions to the recommended target weights:

- whole shares: a buy rounds down, a sell rounds up (never more than is held), so the
  book ends at or under its target;
- a symbol that did not trade on the market's session (no bar: halted or delisted) or
  that the broker marks untradable gets no order;
- sells come first, so the cash they free pays for the buys;
- each buy is clipped, in order of confidence, to the position limit and the sector
  limit after the trade, and to the cash above the cash floor and the buying power
  left by the buys before it;
- an order worth less than the minimum notional is refused.

Every candidate keeps a row: ``status`` is ``ready``, ``clipped`` (smaller than asked,
``reason`` says by what) or ``refused`` (no order, ``reason`` says why).

``client_order_id`` derives from the account, the session, the symbol, the side and the
recommendation's content, so the same decision always carries the same id: a retried or
replayed run re-posts the ids it posted before, and the broker refuses a duplicate.

``limit_breaches`` is the pre-trade check the blocking ``orders_within_limits`` check
runs on the intents: post-trade weights, gross exposure, the cash floor, the day's
turnover and the largest single order.

Nothing here knows Dagster or a broker.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robo_dagster.domain.portfolio import UNKNOWN_SECTOR

ORDER_ID_PREFIX = "rd"
INTENT_COLUMNS = [
    "intent_id",
    "client_order_id",
    "session",
    "trade_date",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "price",
    "notional",
    "weight_before",
    "weight_after",
    "target_weight",
    "recommendation",
    "status",
    "reason",
]
# Weights compare with a little slack: whole shares and float sums must not make an
# order at exactly the limit fail it.
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SizingRules:
    """The desk's rules for turning targets into orders."""

    max_position_weight: float
    max_sector_weight: float
    cash_floor_pct: float
    min_notional: float = 100.0
    order_type: str = "market"  # or "limit"
    limit_slippage_bps: float = 20.0


@dataclass(frozen=True)
class PreTradeLimits:
    """What the blocking pre-trade check enforces on the intents."""

    max_position_weight: float
    max_sector_weight: float
    max_gross_exposure: float
    cash_floor_pct: float
    max_daily_turnover_pct: float = 0.25
    max_order_pct: float = 0.10


def client_order_id(account: str, session: str, symbol: str, side: str, recommendation: str) -> str:
    """A deterministic order id: readable, and 34 characters at most, within Alpaca's
    limit (128; older accounts documented 48). ``recommendation`` is the decision's
    content (action, target weight, rationale): another decision gets another id."""
    digest = hashlib.sha256(
        "|".join([account, session, symbol, side, recommendation]).encode()
    ).hexdigest()[:10]
    return f"{ORDER_ID_PREFIX}-{session.replace('-', '')}-{symbol}-{side[0].lower()}-{digest}"


def limit_price(price: float, side: str, slippage_bps: float) -> float:
    """A marketable limit ``slippage_bps`` through the last close: above it for a buy,
    below it for a sell, in cents (hundredths of a cent under $1, as US equities trade)."""
    move = 1.0 + (slippage_bps / 10_000.0) * (1.0 if side == "buy" else -1.0)
    decimals = 2 if price >= 1.0 else 4
    return round(price * move, decimals)


def recommendation_content(row: pd.Series) -> str:
    """The part of a recommendation that makes it this decision and no other."""
    return f"{row['action']}|{float(row['target_weight']):.6f}|{row.get('rationale', '')}"


def size_orders(
    recommendations: pd.DataFrame,
    positions: pd.DataFrame,
    prices: pd.Series,
    untradable: pd.Series,
    sectors: pd.Series,
    *,
    account: str,
    session: str,
    trade_date: str,
    equity: float,
    cash: float,
    buying_power: float,
    rules: SizingRules,
) -> pd.DataFrame:
    """The order intents (``INTENT_COLUMNS``) for ``recommendations`` (symbol, action,
    target_weight, confidence, rationale) against ``positions`` (symbol, quantity,
    market_value). ``prices`` is the last close per symbol; ``untradable`` maps a
    symbol to why it cannot trade; ``sectors`` maps a symbol to its sector.

    Sells are sized first and free cash; buys follow by confidence (then symbol). The
    per-buy loop is sequential by nature (each buy spends what the next one sees) and
    runs over the recommendations, at most twenty rows."""
    if not math.isfinite(equity) or equity <= 0:
        raise ValueError(f"equity must be a positive number, not {equity!r}")
    recs = recommendations[recommendations["action"].isin(["BUY", "SELL"])].copy()
    held = positions.set_index("symbol")
    quantity = held["quantity"].astype(float).reindex(recs["symbol"]).fillna(0.0).to_numpy()
    value = held["market_value"].astype(float).reindex(recs["symbol"]).fillna(0.0).to_numpy()
    price = prices.astype(float).reindex(recs["symbol"]).to_numpy()
    target = recs["target_weight"].astype(float).to_numpy()
    sell = (recs["action"] == "SELL").to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        delta_shares = target * equity / price - quantity
    shares = np.where(
        sell,
        np.where(
            target <= 0, quantity, np.minimum(np.ceil(np.maximum(-delta_shares, 0)), quantity)
        ),
        np.floor(np.maximum(delta_shares, 0)),
    )
    out = pd.DataFrame(
        {
            "session": session,
            "trade_date": trade_date,
            "symbol": recs["symbol"].to_numpy(),
            "side": np.where(sell, "sell", "buy"),
            "asked": np.nan_to_num(shares),
            "price": price,
            "value_before": value,
            "target_weight": target,
            "confidence": recs["confidence"].astype(float).to_numpy(),
            "recommendation": (
                recs["action"] + " to " + recs["target_weight"].astype(float).map("{:.2%}".format)
            ).to_numpy(),
            "content": [recommendation_content(r) for _, r in recs.iterrows()],
        }
    )
    out["sector"] = out["symbol"].map(sectors).fillna(UNKNOWN_SECTOR)
    out["quantity"] = out["asked"]
    out["status"] = "ready"
    out["reason"] = ""

    def refuse(mask: np.ndarray | pd.Series, why: str | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool) & (out["status"] != "refused").to_numpy()
        out.loc[mask, "quantity"] = 0.0
        out.loc[mask, "status"] = "refused"
        out.loc[mask, "reason"] = why if isinstance(why, str) else why[mask]

    no_price = ~np.isfinite(out["price"].to_numpy()) | (out["price"].to_numpy() <= 0)
    refuse(no_price, "no price on the market's session: the symbol did not trade (halted?)")
    blocked = out["symbol"].map(untradable)
    refuse(blocked.notna().to_numpy(), "not tradable: " + blocked.fillna("").astype(str))
    refuse(out["asked"].to_numpy() <= 0, "the position is already at its target in whole shares")

    # Sells first: what they free is there for the buys.
    sells = (out["side"] == "sell") & (out["status"] != "refused")
    cash_now = cash + float((out.loc[sells, "quantity"] * out.loc[sells, "price"]).sum())
    power_now = buying_power + float((out.loc[sells, "quantity"] * out.loc[sells, "price"]).sum())
    values = dict(zip(positions["symbol"], positions["market_value"].astype(float), strict=True))
    for i in out.index[sells]:
        values[out.at[i, "symbol"]] = values.get(out.at[i, "symbol"], 0.0) - (
            out.at[i, "quantity"] * out.at[i, "price"]
        )
    sector_of = dict(zip(out["symbol"], out["sector"], strict=True)) | {
        s: sectors.get(s, UNKNOWN_SECTOR) for s in positions["symbol"]
    }
    floor_cash = rules.cash_floor_pct * equity
    buys = out[(out["side"] == "buy") & (out["status"] != "refused")]
    order = buys.sort_values(["confidence", "symbol"], ascending=[False, True]).index
    for i in order:
        symbol, px, asked = (
            out.at[i, "symbol"],
            float(out.at[i, "price"]),
            float(out.at[i, "asked"]),
        )
        sector = sector_of.get(symbol, UNKNOWN_SECTOR)
        sector_value = sum(v for s, v in values.items() if sector_of.get(s) == sector)
        caps = {
            "the position limit": (rules.max_position_weight * equity - values.get(symbol, 0.0))
            / px,
            "the cash floor": (cash_now - floor_cash) / px,
            "the buying power": power_now / px,
        }
        if sector != UNKNOWN_SECTOR:
            caps["the sector limit"] = (rules.max_sector_weight * equity - sector_value) / px
        binding = min(caps, key=lambda k: caps[k])
        allowed = max(math.floor(caps[binding] + 1e-9), 0)
        qty = min(asked, allowed)
        if qty < asked:
            out.at[i, "status"] = "clipped"
            out.at[i, "reason"] = f"clipped from {asked:g} to {qty:g} shares by {binding}"
        if qty <= 0:
            out.at[i, "status"] = "refused"
            out.at[i, "reason"] = f"no room under {binding}"
            qty = 0
        out.at[i, "quantity"] = float(qty)
        cash_now -= qty * px
        power_now -= qty * px
        values[symbol] = values.get(symbol, 0.0) + qty * px

    notional = out["quantity"] * out["price"]
    small = (out["status"] != "refused") & (notional < rules.min_notional)
    refuse(
        small.to_numpy(),
        (
            "below the minimum notional of "
            + f"{rules.min_notional:,.0f} ("
            # As text even when no order is left: an empty map() stays float, and str + float fails.
            + notional.map("{:,.2f}".format).astype(str)
            + ")"
        ),
    )
    out["notional"] = out["quantity"] * out["price"]
    signed = np.where(out["side"] == "buy", 1.0, -1.0) * out["notional"]
    out["weight_before"] = out["value_before"] / equity
    out["weight_after"] = (out["value_before"] + signed) / equity
    out["order_type"] = rules.order_type
    out["limit_price"] = [
        limit_price(p, s, rules.limit_slippage_bps) if rules.order_type == "limit" else np.nan
        for p, s in zip(out["price"], out["side"], strict=True)
    ]
    out["client_order_id"] = [
        client_order_id(account, session, sym, side, content)
        for sym, side, content in zip(out["symbol"], out["side"], out["content"], strict=True)
    ]
    out["intent_id"] = out["client_order_id"]
    # Sells first, then buys by confidence: the order submission follows.
    out["_rank"] = np.where(out["side"] == "sell", 0, 1)
    out = out.sort_values(["_rank", "confidence", "symbol"], ascending=[True, False, True])
    return out[INTENT_COLUMNS].reset_index(drop=True)


def limit_breaches(
    intents: pd.DataFrame,
    positions: pd.DataFrame,
    sectors: pd.Series,
    *,
    equity: float,
    cash: float,
    limits: PreTradeLimits,
) -> list[str]:
    """Every pre-trade limit the intents (the orders with a quantity) would break, one
    line each. A limit is broken by the orders, not by the book as it stands: a buy
    that leaves its position or its sector above the limit, buying that takes gross
    exposure above its limit or cash under the floor; then the day's turnover and the
    largest single order. A sell that reduces an oversized position never fails."""
    live = intents[intents["quantity"] > 0]
    signed = pd.Series(
        np.where(live["side"] == "buy", 1.0, -1.0) * live["notional"].astype(float),
        index=live.index,
    )
    before = positions.set_index("symbol")["market_value"].astype(float)
    after = before.copy()
    for symbol, change in zip(live["symbol"], signed, strict=True):
        after[symbol] = after.get(symbol, 0.0) + change
    weights = after / equity
    bought = set(live.loc[live["side"] == "buy", "symbol"])
    problems = [
        f"{symbol} would be {w:.1%} of equity (limit {limits.max_position_weight:.0%})"
        for symbol, w in weights.items()
        if symbol in bought and abs(w) > limits.max_position_weight + WEIGHT_TOLERANCE
    ]
    sector_of = weights.index.map(lambda s: sectors.get(s, UNKNOWN_SECTOR))
    by_sector = weights.groupby(sector_of).sum()
    bought_sectors = {sectors.get(s, UNKNOWN_SECTOR) for s in bought}
    problems += [
        f"sector {sector} would be {w:.1%} of equity (limit {limits.max_sector_weight:.0%})"
        for sector, w in by_sector.items()
        if sector in bought_sectors
        and sector != UNKNOWN_SECTOR
        and abs(w) > limits.max_sector_weight + WEIGHT_TOLERANCE
    ]
    net_buying = float(signed.sum()) > 0
    gross = float(weights.abs().sum())
    if net_buying and gross > limits.max_gross_exposure + WEIGHT_TOLERANCE:
        problems.append(
            f"gross exposure would be {gross:.2f} x equity (limit {limits.max_gross_exposure:g})"
        )
    cash_after = cash - float(signed.sum())
    if net_buying and cash_after < limits.cash_floor_pct * equity - 1e-6:
        problems.append(
            f"cash would be {cash_after:,.2f}, under the {limits.cash_floor_pct:.0%} floor "
            f"({limits.cash_floor_pct * equity:,.2f})"
        )
    turnover = float(live["notional"].astype(float).sum())
    if turnover > limits.max_daily_turnover_pct * equity + 1e-6:
        problems.append(
            f"the day's turnover would be {turnover:,.2f} ({turnover / equity:.1%} of equity, "
            f"limit {limits.max_daily_turnover_pct:.0%})"
        )
    if len(live):
        largest = live.loc[live["notional"].astype(float).idxmax()]
        if float(largest["notional"]) > limits.max_order_pct * equity + 1e-6:
            problems.append(
                f"{largest['side']} {largest['symbol']} of {float(largest['notional']):,.2f} is "
                f"{float(largest['notional']) / equity:.1%} of equity "
                f"(limit {limits.max_order_pct:.0%})"
            )
    return problems

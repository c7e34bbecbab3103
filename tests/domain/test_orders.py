"""Sizing orders from target weights, idempotent ids, and the pre-trade limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.orders import (
    INTENT_COLUMNS,
    PreTradeLimits,
    SizingRules,
    client_order_id,
    limit_breaches,
    limit_price,
    size_orders,
)

EQUITY = 1_000_000.0
RULES = SizingRules(max_position_weight=0.25, max_sector_weight=0.5, cash_floor_pct=0.02)
PRICES = pd.Series({"AAA": 100.0, "BBB": 50.0, "CCC": 20.0, "DDD": 10.0, "EEE": 250.0})
SECTORS = pd.Series({"AAA": "Tech", "BBB": "Tech", "CCC": "Energy", "DDD": "Energy", "EEE": "Tech"})


def book(rows: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": list(rows),
            "quantity": list(rows.values()),
            "market_value": [q * PRICES[s] for s, q in rows.items()],
        }
    )


def recs(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "action": [r[1] for r in rows],
            "target_weight": [r[2] for r in rows],
            "confidence": [r[3] for r in rows],
            "rationale": [f"because {r[0]}" for r in rows],
            "session": pd.Timestamp("2026-11-25"),
        }
    )


def size(
    recommendations: pd.DataFrame,
    positions: pd.DataFrame,
    cash: float,
    rules: SizingRules = RULES,
    untradable: pd.Series | None = None,
    buying_power: float | None = None,
) -> pd.DataFrame:
    return size_orders(
        recommendations,
        positions,
        PRICES,
        untradable if untradable is not None else pd.Series(dtype=object),
        SECTORS,
        account="PA1",
        session="2026-11-25",
        trade_date="2026-11-27",
        equity=EQUITY,
        cash=cash,
        buying_power=2 * cash if buying_power is None else buying_power,
        rules=rules,
    ).set_index("symbol")


def test_the_obvious_orders() -> None:
    positions = book({"AAA": 2_000, "CCC": 5_000})  # 20 % and 10 %
    cash = EQUITY - 300_000
    out = size(
        recs([("AAA", "SELL", 0.10, 0.6), ("BBB", "BUY", 0.05, 0.8), ("CCC", "SELL", 0.0, 0.7)]),
        positions,
        cash,
    )
    assert set(out.reset_index().columns) == set(INTENT_COLUMNS)
    assert out.loc["AAA", ["side", "quantity", "status"]].tolist() == ["sell", 1_000.0, "ready"]
    assert out.loc["CCC", ["side", "quantity"]].tolist() == ["sell", 5_000.0]  # target 0: all
    assert out.loc["BBB", ["side", "quantity", "notional"]].tolist() == ["buy", 1_000.0, 50_000.0]
    assert out.loc["BBB", "weight_after"] == pytest.approx(0.05)
    assert out.loc["AAA", "weight_after"] == pytest.approx(0.10)
    # Sells come first in the table, as they are submitted.
    assert out.reset_index()["side"].tolist() == ["sell", "sell", "buy"]


def test_whole_shares_round_towards_the_target() -> None:
    positions = book({"AAA": 1_000})
    out = size(
        recs([("AAA", "SELL", 0.0333, 0.5), ("DDD", "BUY", 0.012345, 0.5)]), positions, 800_000.0
    )
    assert out.loc["AAA", "quantity"] == 1_000 - 333  # 333.0 shares to hold: ceil of the sell
    assert out.loc["DDD", "quantity"] == 1_234  # floor of 1,234.5


def test_limits_clip_the_buys_in_order_of_confidence() -> None:
    # AAA already 24 %: a buy to 30 % is clipped to the 25 % position limit.
    # Tech is AAA's 24 % + EEE's 20 %: BBB (lower confidence) comes after AAA's buy.
    positions = book({"AAA": 2_400, "EEE": 800})
    out = size(recs([("AAA", "BUY", 0.30, 0.9), ("BBB", "BUY", 0.10, 0.5)]), positions, 560_000.0)
    assert out.loc["AAA", "quantity"] == 100 and out.loc["AAA", "status"] == "clipped"
    assert "the position limit" in out.loc["AAA", "reason"]
    # Tech is then 45 %: 50,000 of room under 50 % buys 1,000 of the 2,000 BBB asked.
    assert out.loc["BBB", "quantity"] == 1_000
    assert out.loc["BBB", "reason"] == "clipped from 2000 to 1000 shares by the sector limit"


def test_the_cash_floor_and_buying_power_bind() -> None:
    out = size(recs([("AAA", "BUY", 0.20, 0.9), ("BBB", "BUY", 0.20, 0.5)]), book({}), 230_000.0)
    # 230,000 cash, 20,000 floor: AAA takes 200,000, BBB the 10,000 left.
    assert out.loc["AAA", "quantity"] == 2_000
    assert out.loc["BBB", "quantity"] == 200 and "the cash floor" in out.loc["BBB", "reason"]
    tight = size(recs([("AAA", "BUY", 0.20, 0.9)]), book({}), 500_000.0, buying_power=30_000.0)
    assert tight.loc["AAA", "quantity"] == 300 and "the buying power" in tight.loc["AAA", "reason"]


def test_what_cannot_or_need_not_trade_is_refused_with_the_reason() -> None:
    positions = book({"AAA": 1_000})
    untradable = pd.Series({"CCC": "halted at the broker"})
    prices = PRICES.drop("DDD")
    out = size_orders(
        recs(
            [
                ("CCC", "BUY", 0.05, 0.9),
                ("DDD", "BUY", 0.05, 0.8),
                ("BBB", "BUY", 0.00008, 0.7),
                ("AAA", "SELL", 0.10, 0.6),
                ("EEE", "HOLD", 0.0, 0.5),
            ]
        ),
        positions,
        prices,
        untradable,
        SECTORS,
        account="PA1",
        session="2026-11-25",
        trade_date="2026-11-27",
        equity=EQUITY,
        cash=900_000.0,
        buying_power=1_800_000.0,
        rules=RULES,
    ).set_index("symbol")
    assert "EEE" not in out.index  # a HOLD is no order
    assert out.loc["CCC", "reason"] == "not tradable: halted at the broker"
    assert "did not trade" in out.loc["DDD", "reason"]
    assert out.loc["BBB", "reason"] == "below the minimum notional of 100 (50.00)"
    assert out.loc["AAA", "reason"] == "the position is already at its target in whole shares"
    assert (out["quantity"] == 0).all() and (out["status"] == "refused").all()


def test_order_ids_are_deterministic_short_and_change_with_the_decision() -> None:
    a = client_order_id("PA1", "2026-11-25", "AAPL", "buy", "BUY|0.050000|x")
    assert a == client_order_id("PA1", "2026-11-25", "AAPL", "buy", "BUY|0.050000|x")
    assert a.startswith("rd-20261125-AAPL-b-") and len(a) <= 48
    others = {
        client_order_id("PA2", "2026-11-25", "AAPL", "buy", "BUY|0.050000|x"),
        client_order_id("PA1", "2026-11-27", "AAPL", "buy", "BUY|0.050000|x"),
        client_order_id("PA1", "2026-11-25", "AAPL", "buy", "BUY|0.060000|x"),
        client_order_id("PA1", "2026-11-25", "AAPL", "sell", "BUY|0.050000|x"),
    }
    assert a not in others and len(others) == 4
    assert len(client_order_id("PA1", "2026-11-25", "ABCDEFGHIJ", "sell", "x" * 500)) <= 48


def test_limit_prices_are_marketable_and_in_ticks() -> None:
    assert limit_price(100.0, "buy", 20) == 100.2
    assert limit_price(100.0, "sell", 20) == 99.8
    assert limit_price(0.5123, "buy", 20) == 0.5133
    out = size(
        recs([("AAA", "BUY", 0.05, 0.9)]),
        book({}),
        900_000.0,
        rules=SizingRules(0.25, 0.5, 0.02, order_type="limit"),
    )
    assert out.loc["AAA", ["order_type", "limit_price"]].tolist() == ["limit", 100.2]


def test_pre_trade_limits_name_every_breach() -> None:
    positions = book({"AAA": 2_000})
    intents = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "side": ["buy", "buy"],
            "quantity": [1_500.0, 4_000.0],
            "notional": [150_000.0, 200_000.0],
        }
    )
    limits = PreTradeLimits(
        max_position_weight=0.25,
        max_sector_weight=0.5,
        max_gross_exposure=1.5,
        cash_floor_pct=0.02,
        max_daily_turnover_pct=0.25,
        max_order_pct=0.10,
    )
    problems = limit_breaches(
        intents, positions, SECTORS, equity=EQUITY, cash=300_000.0, limits=limits
    )
    assert problems == [
        "AAA would be 35.0% of equity (limit 25%)",
        "sector Tech would be 55.0% of equity (limit 50%)",
        "cash would be -50,000.00, under the 2% floor (20,000.00)",
        "the day's turnover would be 350,000.00 (35.0% of equity, limit 25%)",
        "buy BBB of 200,000.00 is 20.0% of equity (limit 10%)",
    ]
    assert (
        limit_breaches(
            intents.iloc[:0], positions, SECTORS, equity=EQUITY, cash=800_000.0, limits=limits
        )
        == []
    )


@settings(max_examples=80, deadline=None)
@given(
    held=st.lists(st.integers(0, 4_000), min_size=5, max_size=5),
    targets=st.lists(st.floats(0.0, 0.4), min_size=5, max_size=5),
    confidence=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
    cash_share=st.floats(0.0, 0.9),
)
def test_sized_orders_never_break_the_sizing_rules(
    held: list[int], targets: list[float], confidence: list[float], cash_share: float
) -> None:
    symbols = list(PRICES.index)
    positions = book({s: float(q) for s, q in zip(symbols, held, strict=True) if q})
    invested = float(positions["market_value"].sum()) if len(positions) else 0.0
    cash = max(EQUITY - invested, 0.0) * cash_share + 1.0
    equity = invested + cash
    current = positions.set_index("symbol")["market_value"].reindex(symbols).fillna(0) / equity
    actions = ["BUY" if t > c else "SELL" for t, c in zip(targets, current, strict=True)]
    table = recs(list(zip(symbols, actions, targets, confidence, strict=True)))
    out = size_orders(
        table,
        positions,
        PRICES,
        pd.Series(dtype=object),
        SECTORS,
        account="PA1",
        session="2026-11-25",
        trade_date="2026-11-27",
        equity=equity,
        cash=cash,
        buying_power=2 * cash,
        rules=RULES,
    )
    assert (out["quantity"] == np.floor(out["quantity"])).all()  # whole shares
    sells = out[out["side"] == "sell"].set_index("symbol")
    held_now = positions.set_index("symbol")["quantity"].reindex(sells.index).fillna(0)
    assert (sells["quantity"] <= held_now).all()  # never sells what it does not hold
    live = out[out["quantity"] > 0]
    assert (live["notional"] >= RULES.min_notional).all()
    buys = live[live["side"] == "buy"]
    assert (buys["weight_after"] <= RULES.max_position_weight + 1e-9).all()
    spent = float(buys["notional"].sum()) - float(
        live.loc[live["side"] == "sell", "notional"].sum()
    )
    assert cash - spent >= RULES.cash_floor_pct * equity - 1e-6 or buys.empty


def test_a_sell_from_an_oversized_book_is_not_a_breach() -> None:
    positions = book({"AAA": 4_000})  # 40 %, above the 25 % limit
    limits = PreTradeLimits(0.25, 0.5, 1.5, 0.02, 0.25, 0.10)
    sell = pd.DataFrame(
        {"symbol": ["AAA"], "side": ["sell"], "quantity": [500.0], "notional": [50_000.0]}
    )
    assert (
        limit_breaches(sell, positions, SECTORS, equity=EQUITY, cash=10_000.0, limits=limits) == []
    )
    buy = sell.assign(side="buy")
    assert limit_breaches(
        buy, positions, SECTORS, equity=EQUITY, cash=600_000.0, limits=limits
    ) == ["AAA would be 45.0% of equity (limit 25%)"]


def test_a_session_with_only_holds_gives_no_intents() -> None:
    """A replayed session whose recommendations are all HOLD sized no orders and crashed
    while writing the minimum-notional reason of an empty table (found in the quickstart)."""
    out = size(
        recs([("AAA", "HOLD", 0.2, 0.6), ("CCC", "HOLD", 0.1, 0.4)]),
        book({"AAA": 2_000}),
        800_000.0,
    )
    assert out.empty
    assert set(out.reset_index().columns) == set(INTENT_COLUMNS)

"""Checks on ``order_intents``. All three are blocking: when one fails, nothing is sent
(``order_submissions`` is skipped, and the alert names the check and its reason)."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from robo_dagster import settings
from robo_dagster.domain.orders import PreTradeLimits, limit_breaches
from robo_dagster.execution.assets import order_intents
from robo_dagster.providers import BrokerProvider


@asset_check(
    asset=order_intents,
    blocking=True,
    additional_ins={
        "positions": AssetIn(key=["portfolio", "positions"]),
        "account_balances": AssetIn(key=["portfolio", "account_balances"]),
        "universe": AssetIn(key=["market_data", "universe"]),
    },
    description=(
        "Blocking: after the orders, every position and sector within the desk's limits, "
        "gross exposure within its limit, cash above the floor, the day's turnover within "
        "ROBO_MAX_DAILY_TURNOVER_PCT (25 % of equity) and no single order above "
        "ROBO_MAX_ORDER_PCT (10 %)."
    ),
)
def orders_within_limits(
    broker: BrokerProvider,
    order_intents: pd.DataFrame,
    positions: pd.DataFrame,
    account_balances: pd.DataFrame,
    universe: pd.DataFrame,
) -> AssetCheckResult:
    risk = broker.limits()
    limits = PreTradeLimits(
        max_position_weight=risk.max_position_weight,
        max_sector_weight=risk.max_sector_weight,
        max_gross_exposure=risk.max_gross_exposure,
        cash_floor_pct=risk.cash_floor_pct,
        max_daily_turnover_pct=settings.max_daily_turnover_pct(),
        max_order_pct=settings.max_order_pct(),
    )
    account = account_balances.iloc[0]
    equity = float(account["equity"])
    problems = limit_breaches(
        order_intents,
        positions,
        universe.set_index("symbol")["sector"],
        equity=equity,
        cash=float(account["cash"]),
        limits=limits,
    )
    live = order_intents[order_intents["quantity"] > 0] if len(order_intents) else order_intents
    turnover = float(live["notional"].sum()) if len(live) else 0.0
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="within limits" if not problems else "; ".join(problems),
        metadata={
            "orders": len(live),
            "turnover_pct": MetadataValue.float(round(100 * turnover / equity, 2)),
            "max_daily_turnover_pct": MetadataValue.float(100 * limits.max_daily_turnover_pct),
            "max_order_pct": MetadataValue.float(100 * limits.max_order_pct),
            "breaches": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "_none_"),
        },
    )


@asset_check(
    asset=order_intents,
    blocking=True,
    additional_ins={"universe": AssetIn(key=["market_data", "universe"])},
    description="Blocking: no intent trades a symbol outside the universe.",
)
def intents_in_universe(order_intents: pd.DataFrame, universe: pd.DataFrame) -> AssetCheckResult:
    outside = (
        sorted(set(order_intents["symbol"]) - set(universe["symbol"])) if len(order_intents) else []
    )
    return AssetCheckResult(
        passed=not outside,
        severity=AssetCheckSeverity.ERROR,
        description="every intent is in the universe"
        if not outside
        else f"outside the universe: {', '.join(outside)}",
        metadata={"outside": MetadataValue.text(", ".join(outside) or "none")},
    )


@asset_check(
    asset=order_intents,
    blocking=True,
    additional_ins={"risk_assessment": AssetIn(key=["ai_analysis", "risk_assessment"])},
    description=(
        "Blocking, the kill switch: no order goes out while ROBO_TRADING_HALTED is set or "
        "the latest risk assessment is CRITICAL (the seed's risk breach)."
    ),
)
def trading_allowed(risk_assessment: pd.DataFrame) -> AssetCheckResult:
    reasons = []
    if settings.trading_halted():
        reasons.append("ROBO_TRADING_HALTED is set")
    severity = str(risk_assessment["severity"].iloc[0]) if len(risk_assessment) else "unknown"
    if severity == "CRITICAL":
        reasons.append("the latest risk assessment is CRITICAL (risk_breach)")
    return AssetCheckResult(
        passed=not reasons,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"trading allowed (risk assessment {severity}; only CRITICAL halts trading)"
            if not reasons
            else "trading halted: " + "; ".join(reasons)
        ),
        metadata={
            "halted_by_switch": settings.trading_halted(),
            "risk_severity": MetadataValue.text(severity),
        },
    )

"""Checks of the ``ai_analysis`` group: safe recommendations, the risk breach, and a
review that agrees with the portfolio's P&L."""

import json

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check
from pydantic import ValidationError

from robo_dagster.ai_analysis.assets import evening_review, risk_assessment, trade_recommendations
from robo_dagster.asset_defaults import with_its_asset
from robo_dagster.domain.analysis_models import RECOMMENDATION_COLUMNS, Recommendation
from robo_dagster.domain.formatting import format_percent
from robo_dagster.domain.review import reconcile_review
from robo_dagster.providers import BrokerProvider

WEIGHT_TOLERANCE = 1e-9


@asset_check(
    automation_condition=with_its_asset(),
    asset=trade_recommendations,
    additional_ins={"universe": AssetIn(key=["market_data", "universe"])},
    description=(
        "Every row validates as a Recommendation (schema and bounds), target weights sum to "
        "at most 1, and no action names a symbol outside the universe or the benchmark."
    ),
)
def recommendations_valid(
    trade_recommendations: pd.DataFrame, universe: pd.DataFrame
) -> AssetCheckResult:
    problems: list[str] = []
    missing = [c for c in RECOMMENDATION_COLUMNS if c not in trade_recommendations.columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    else:
        for row in trade_recommendations.to_dict(orient="records"):
            try:
                Recommendation.model_validate(
                    {
                        k: row[k]
                        for k in (
                            "symbol",
                            "action",
                            "target_weight",
                            "confidence",
                            "horizon_days",
                            "rationale",
                        )
                    }
                    | {"signals": json.loads(row["signals"])}
                )
                against = json.loads(row["signals_against"])
                if not isinstance(against, list) or not all(isinstance(t, str) for t in against):
                    raise ValueError(f"signals_against is not a list of strings: {against!r}")
            except (ValidationError, ValueError, TypeError) as exc:
                problems.append(f"{row.get('symbol')}: {str(exc).splitlines()[0]}")
        total = float(trade_recommendations["target_weight"].sum())
        if total > 1 + WEIGHT_TOLERANCE:
            problems.append(f"target weights sum to {total:.4f} > 1")
        known = set(universe.loc[~universe["is_benchmark"], "symbol"])
        outside = sorted(set(trade_recommendations["symbol"]) - known)
        if outside:
            problems.append(f"symbol(s) outside the tradable universe: {', '.join(outside)}")
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="valid" if not problems else "; ".join(problems[:10]),
        metadata={"problems": len(problems), "rows": len(trade_recommendations)},
    )


@asset_check(
    automation_condition=with_its_asset(),
    asset=trade_recommendations,
    blocking=True,
    additional_ins={"positions": AssetIn(key=["portfolio", "positions"])},
    description=(
        "No recommendation breaches the desk's limits: no target above the max position "
        "weight, and the book's invested weight after the recommendations leaves the cash "
        "floor. Blocking: nothing downstream consumes an unsafe recommendation."
    ),
)
def recommendations_within_risk_limits(
    broker: BrokerProvider, trade_recommendations: pd.DataFrame, positions: pd.DataFrame
) -> AssetCheckResult:
    limits = broker.limits()
    recs = trade_recommendations
    too_big = recs[recs["target_weight"] > limits.max_position_weight + WEIGHT_TOLERANCE]
    change = float((recs["target_weight"] - recs["current_weight"]).sum())
    invested_after = float(positions["weight"].sum()) + change
    breaches = [
        f"{r.symbol} target {r.target_weight:.1%} > max {limits.max_position_weight:.0%}"
        for r in too_big.itertuples()
    ]
    if change > WEIGHT_TOLERANCE and invested_after > 1 - limits.cash_floor_pct + WEIGHT_TOLERANCE:
        breaches.append(
            f"buying {change:.1%} leaves {1 - invested_after:.1%} cash, below the "
            f"{limits.cash_floor_pct:.0%} floor"
        )
    return AssetCheckResult(
        passed=not breaches,
        severity=AssetCheckSeverity.ERROR,
        description="within limits" if not breaches else "; ".join(breaches),
        metadata={
            "largest_target": MetadataValue.float(float(recs["target_weight"].max())),
            "max_position_weight": MetadataValue.float(limits.max_position_weight),
            "weight_change": MetadataValue.float(change),
            "recommended_invested_weight": MetadataValue.float(invested_after),
        },
    )


@asset_check(
    automation_condition=with_its_asset(),
    asset=risk_assessment,
    description="The seed's risk breach: fails when the assessment's severity is CRITICAL.",
)
def risk_breach(risk_assessment: pd.DataFrame) -> AssetCheckResult:
    severity = str(risk_assessment["severity"].iloc[0])
    worst = risk_assessment.sort_values("loss", ascending=False).iloc[0]
    return AssetCheckResult(
        passed=severity != "CRITICAL",
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"severity {severity}; worst scenario {worst['scenario']}: "
            f"{format_percent(worst['loss_pct'], 2)} of equity"
        ),
        metadata={"severity": severity},
    )


@asset_check(
    asset=evening_review,
    additional_ins={"portfolio_pnl": AssetIn(key=["portfolio", "portfolio_pnl"])},
    description="The evening review's realized, unrealized and daily P&L equal the portfolio P&L.",
)
def evening_review_reconciles(
    evening_review: pd.DataFrame, portfolio_pnl: pd.DataFrame
) -> AssetCheckResult:
    ok, difference = reconcile_review(evening_review, portfolio_pnl.iloc[0])
    return AssetCheckResult(
        passed=bool(ok),
        severity=AssetCheckSeverity.ERROR,
        description="reconciled"
        if ok
        else f"differs from portfolio P&L by up to {difference:,.2f}",
        metadata={"max_difference": MetadataValue.float(float(difference))},
    )

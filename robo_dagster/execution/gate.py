"""What must hold before a recommendation may become an order.

Recommendations reach ``execution`` only when the latest materialization of
``ai_analysis/trade_recommendations`` is of the market's current session and passed
its blocking ``recommendations_within_risk_limits`` check. The check's evaluation is
read from the Dagster instance and must point at that very materialization, so a
table written by a run whose check then failed can never be traded.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

RECOMMENDATIONS = AssetKey(["ai_analysis", "trade_recommendations"])
RISK_CHECK = AssetCheckKey(RECOMMENDATIONS, "recommendations_within_risk_limits")


def recommendations_refusal(
    instance: DagsterInstance, recommendations: pd.DataFrame, session: dt.date
) -> str | None:
    """Why the stored recommendations may not be traded, or None when they may."""
    if recommendations.empty:
        return "there are no recommendations"
    dates = set(pd.to_datetime(recommendations["session"]).dt.date)
    if dates != {session}:
        shown = ", ".join(str(d) for d in sorted(dates))
        return (
            f"the recommendations are as of {shown}, not the market's session {session}: "
            "run recommendations_job first"
        )
    latest = instance.fetch_materializations(RECOMMENDATIONS, limit=1).records
    if not latest:
        return "trade_recommendations has never been materialized on this instance"
    materialization = latest[0]
    record = instance.get_latest_asset_check_evaluation_record(RISK_CHECK)
    evaluation = (
        record.event.asset_check_evaluation
        if record is not None and record.event is not None and record.event.dagster_event
        else None
    )
    if record is None or evaluation is None:
        return "recommendations_within_risk_limits has not been evaluated"
    target = evaluation.target_materialization_data
    if target is None or target.storage_id != materialization.storage_id:
        return (
            "recommendations_within_risk_limits has not been evaluated on the latest "
            "trade_recommendations"
        )
    if record.status != AssetCheckExecutionRecordStatus.SUCCEEDED or not evaluation.passed:
        return f"the latest recommendations failed recommendations_within_risk_limits: {evaluation.description}"
    return None

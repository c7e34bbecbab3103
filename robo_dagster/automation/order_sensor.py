"""The open-orders sensor: while the broker holds an open order, refresh its status.

It reads ``execution.order_fills`` and ``execution.submission_log`` (one short locked
query) and starts ``order_status_job`` at most once a minute while an order is open or
placed but not yet seen; with nothing open it skips and says so.
"""

from __future__ import annotations

import pandas as pd
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from robo_dagster.automation.jobs import order_status_job
from robo_dagster.providers.orders import OPEN_STATUSES
from robo_dagster.warehouse import DuckDBWarehouse

PLACED = ("submitted", "already_placed")


def orders_to_follow(warehouse: DuckDBWarehouse) -> int:
    """How many placed orders are open, or not yet seen in ``order_fills``."""
    if not warehouse.table_exists("execution", "submission_log"):
        return 0
    has_fills = warehouse.table_exists("execution", "order_fills")
    known = (
        "select client_order_id, status from execution.order_fills"
        if has_fills
        else ("select null::varchar as client_order_id, null::varchar as status where false")
    )
    found = warehouse.query(
        f"""
        with placed as (
            select distinct client_order_id from execution.submission_log
            where outcome in (select unnest(?))
        ), known as ({known})
        select count(*) as n from placed left join known using (client_order_id)
        where known.status is null or known.status in (select unnest(?))
        """,
        [list(PLACED), sorted(OPEN_STATUSES)],
    )
    return int(found["n"].iloc[0])


@sensor(
    job=order_status_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="While any order is open at the broker, refresh execution/order_fills once a minute.",
)
def open_orders_sensor(
    context: SensorEvaluationContext, warehouse: DuckDBWarehouse
) -> RunRequest | SkipReason:
    pending = orders_to_follow(warehouse)
    if not pending:
        return SkipReason("no open order")
    minute = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M")
    return RunRequest(run_key=f"order-status-{minute}", tags={"robo/open_orders": str(pending)})

"""Republish the readers' snapshot of the warehouse after every finished run.

Every 30 s it asks the instance whether a run finished since its cursor; if one did,
it publishes ``<name>.snapshot.duckdb`` (``warehouse.snapshot``). A warehouse busy
beyond ``SENSOR_DEADLINE_S`` skips the tick and says so: the next tick tries again.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from robo_dagster.warehouse import DuckDBWarehouse
from robo_dagster.warehouse.locking import SENSOR_DEADLINE_S, WarehouseBusy
from robo_dagster.warehouse.snapshot import publish_snapshot

FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "After every finished run, republishes the read-only snapshot of the DuckDB file "
        "(robo.snapshot.duckdb) that notebooks and the duckdb CLI read."
    ),
)
def snapshot_sensor(context: SensorEvaluationContext, warehouse: DuckDBWarehouse) -> SensorResult:
    now = dt.datetime.now(dt.timezone.utc)
    since = dt.datetime.fromisoformat(context.cursor) if context.cursor else None
    finished = context.instance.get_run_records(
        RunsFilter(statuses=FINISHED, updated_after=since), limit=1
    )
    if since is not None and not finished:
        return SensorResult(skip_reason="no run finished since the last snapshot")
    try:
        path, seconds = publish_snapshot(warehouse.database, deadline_s=SENSOR_DEADLINE_S)
    except WarehouseBusy as exc:
        return SensorResult(skip_reason=f"the warehouse is busy; next tick ({exc})")
    summary = f"published {path} in {seconds:.2f} s"
    context.log.info(summary)
    # Nothing is launched: the skip reason is where the tick history shows what it did.
    return SensorResult(cursor=now.isoformat(), skip_reason=summary)

"""The seed's orchestration modes as jobs over the whole asset graph."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor, multiprocess_executor

from robo_dagster.partitions import TRADING_DAYS

DEFAULT_MAX_CONCURRENT = 4

sequential_pipeline = define_asset_job(
    name="sequential_pipeline",
    selection=AssetSelection.all(),
    partitions_def=TRADING_DAYS,
    executor_def=in_process_executor,
    description=(
        "The seed's sequential mode: every asset and check in topological order, in one "
        "process. Pick a session (or a range: one run backfills it) for the price bars; "
        "everything downstream is recomputed as of the market's latest session."
    ),
    tags={"robo/mode": "sequential"},
)

parallel_pipeline = define_asset_job(
    name="parallel_pipeline",
    selection=AssetSelection.all(),
    partitions_def=TRADING_DAYS,
    executor_def=multiprocess_executor,
    config={"execution": {"config": {"max_concurrent": DEFAULT_MAX_CONCURRENT}}},
    description=(
        "The seed's parallel mode: the same graph with one process per step, at most "
        "`max_concurrent` at once (run config: execution.config.max_concurrent). DuckDB "
        "access is serialised by a file lock, so steps never fail on the writer lock."
    ),
    tags={"robo/mode": "parallel"},
)

JOBS = [sequential_pipeline, parallel_pipeline]

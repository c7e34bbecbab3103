"""The seed's orchestration modes as jobs over the whole asset graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetSelection,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)

from robo_dagster.cluster import distributed
from robo_dagster.tasks.queues import (
    AI_ANALYSIS,
    DATA_FETCHER,
    MAX_RUNTIME_TAG,
    PORTFOLIO_SYNC,
    Priority,
)
from robo_dagster.tasks.submission import parallel_execution_config

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

# Orders go out only through execution_job: the pipelines and the automation leave the
# execution group alone.
EXECUTION = AssetSelection.groups("execution")
ANALYSIS_GRAPH = AssetSelection.all() - EXECUTION
# The whole graph's own time limit, from what it was measured to cost rather than the
# data queue's 600 s, which a parallel run on a busy machine once reached just after
# its last step. BENCHMARKS.md ("The parallel mode"): 500 symbols take a median 12 s
# in sequential_pipeline and 28 s in parallel_pipeline (2 at once), and the whole graph
# at 5,000 symbols 21 s in one process; 30 minutes leaves a busy machine room, and still
# ends a run that hangs.
PIPELINE_MAX_RUNTIME_S = 1800
PIPELINE_TAGS = {**DATA_FETCHER.tags(Priority.NORMAL), MAX_RUNTIME_TAG: str(PIPELINE_MAX_RUNTIME_S)}

sequential_pipeline = define_asset_job(
    name="sequential_pipeline",
    selection=ANALYSIS_GRAPH,
    executor_def=in_process_executor,
    description=(
        "The seed's sequential mode: every asset and check but the execution group, in "
        "topological order, in one process. Pick a session (or a range: one run backfills it) for the price bars; "
        "everything downstream is recomputed as of the market's latest session."
    ),
    # The whole graph is mostly fetching: it queues with the data fetcher.
    tags={"robo/mode": "sequential", **PIPELINE_TAGS},
)


def _parallel_pipeline() -> UnresolvedAssetJobDefinition:
    """``parallel_pipeline``: one process per step on this machine, or, on a Celery
    cluster (``ROBO_CELERY_BROKER``), one Celery task per step on the workers of the
    step's group queue, with each step's process and worker logged in the event log."""
    if distributed.enabled():
        from dagster_celery import celery_executor

        from robo_dagster.cluster.steps import STEP_WORKER_HOOKS

        return define_asset_job(
            name="parallel_pipeline",
            selection=ANALYSIS_GRAPH,
            # Configured on the executor, not as the job's default run config: a
            # partitioned job's run launched with a partition and no run config
            # (the daemon's, the GraphQL client's) does not get that default.
            executor_def=celery_executor.configured(
                distributed.executor_config(), name="celery_on_redis"
            ),
            hooks=STEP_WORKER_HOOKS,
            description=(
                "The seed's parallel mode on the cluster: the same graph with one Celery "
                "task per step, sent to the workers of the step's group queue "
                "(portfolio_sync, data_fetcher, ai_analysis; checks: dagster). DuckDB access "
                "is serialised by a file lock, so steps never fail on the writer lock."
            ),
            tags={"robo/mode": "parallel", **PIPELINE_TAGS},
        )
    return define_asset_job(
        name="parallel_pipeline",
        selection=ANALYSIS_GRAPH,
        executor_def=multiprocess_executor,
        config={"execution": {"config": parallel_execution_config()}},
        description=(
            "The seed's parallel mode: the same graph with one process per step, at most "
            "`max_concurrent` at once (run config: execution.config.max_concurrent). DuckDB "
            "access is serialised by a file lock, so steps never fail on the writer lock."
        ),
        tags={"robo/mode": "parallel", **PIPELINE_TAGS},
    )


parallel_pipeline = _parallel_pipeline()

# The seed's priorities on the 1-10 scale (10 highest), as Dagster's run-queue tag.
RECOMMENDATIONS_PRIORITY = 9
MORNING_PREP_PRIORITY = 8
EVENING_REVIEW_PRIORITY = 7


def _analysis_job(name: str, targets: AssetSelection, priority: int, description: str):
    """A job over ``targets`` and everything upstream of them except the partitioned
    price bars: it refreshes the current state without asking for a partition."""
    selection = targets.upstream() - AssetSelection.assets(["market_data", "price_bars"])
    return define_asset_job(
        name=name,
        selection=selection,
        executor_def=in_process_executor,
        description=description,
        tags=AI_ANALYSIS.tags(priority),
    )


morning_prep_job = _analysis_job(
    "morning_prep_job",
    AssetSelection.assets(["ai_analysis", "morning_prep"]),
    MORNING_PREP_PRIORITY,
    "The pre-market brief and what it reads (priority 8).",
)
recommendations_job = _analysis_job(
    "recommendations_job",
    AssetSelection.assets(
        ["ai_analysis", "trade_recommendations"], ["ai_analysis", "strategy_analysis"]
    ),
    RECOMMENDATIONS_PRIORITY,
    "Trade recommendations and the strategy analysis, from fresh features (priority 9).",
)
evening_review_job = _analysis_job(
    "evening_review_job",
    AssetSelection.assets(["ai_analysis", "evening_review"], ["ai_analysis", "risk_assessment"]),
    EVENING_REVIEW_PRIORITY,
    "The end-of-day review with the scorecard, and the risk assessment (priority 7).",
)

# What an event re-runs: the analysis on the stored market and portfolio tables. The
# sensors pass it as the run's asset selection within ``recommendations_job``: the data
# an event does not change is not fetched again, which keeps an event's run to three
# steps and its checks (see BENCHMARKS.md, event latency).
EVENT_ANALYSIS = [
    AssetKey(["ai_analysis", "analysis_features"]),
    AssetKey(["ai_analysis", "trade_recommendations"]),
    AssetKey(["ai_analysis", "strategy_analysis"]),
]
EXECUTION_PRIORITY = 9
execution_job = define_asset_job(
    name="execution_job",
    selection=AssetSelection.assets(["portfolio", "account_balances"], ["portfolio", "positions"])
    | EXECUTION,
    executor_def=in_process_executor,
    description=(
        "From checked recommendations to orders: a fresh broker sync, the order intents and "
        "their blocking checks, the submission (ROBO_EXECUTION: dry-run by default, paper "
        "sends), and the orders' status. The only job that sends an order (priority 9)."
    ),
    tags=PORTFOLIO_SYNC.tags(EXECUTION_PRIORITY),
)
order_status_job = define_asset_job(
    name="order_status_job",
    selection=AssetSelection.assets(["execution", "order_fills"]),
    executor_def=in_process_executor,
    description="The status and fills of the orders the broker holds.",
    tags=PORTFOLIO_SYNC.tags(Priority.NORMAL),
)

JOBS = [
    sequential_pipeline,
    parallel_pipeline,
    morning_prep_job,
    recommendations_job,
    evening_review_job,
    execution_job,
    order_status_job,
]

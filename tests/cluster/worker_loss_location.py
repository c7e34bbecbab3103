"""A test-only code location for the worker-loss test: the market's universe and a copy
of it whose step holds, mid-step, while a gate file exists, so that the test decides
when the step is running (it never guesses from timing).

``worker_loss_job`` runs on the cluster's celery_executor like ``parallel_pipeline``
(same executor config, same step hooks), and the copy is routed to ``data_fetcher``
like a market-data step. ``run_loss_job`` runs both steps in its run's own process, as
every job but ``parallel_pipeline`` does on the cluster. Nothing of the project's asset
code is changed or wrapped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from dagster import AssetIn, AssetKey, Definitions, asset, define_asset_job, in_process_executor
from dagster_celery import celery_executor

from robo_dagster.cluster import distributed
from robo_dagster.cluster.steps import STEP_WORKER_HOOKS, celery_worker_name
from robo_dagster.market_data.assets import universe
from robo_dagster.resources import build_resources

GATE_VARIABLE = "ROBO_TEST_GATE"
COPY_KEY = AssetKey(["market_data", "universe_copy"])


@asset(
    key=COPY_KEY,
    ins={"symbols": AssetIn(key=["market_data", "universe"])},
    group_name="market_data",
    op_tags={distributed.CELERY_QUEUE_TAG: "data_fetcher"},
)
def universe_copy(symbols: pd.DataFrame) -> pd.DataFrame:
    """The universe, copied once the gate file is gone; each attempt leaves a
    ``started.<pid>`` file beside the gate naming its worker."""
    gate = Path(os.environ[GATE_VARIABLE])
    (gate.parent / f"started.{os.getpid()}").write_text(celery_worker_name())
    while gate.exists():
        time.sleep(0.1)
    return symbols


# Routed and limited like a data run.
distributed_tags = {"robo/queue": "data_fetcher", distributed.CELERY_QUEUE_TAG: "data_fetcher"}

worker_loss_job = define_asset_job(
    "worker_loss_job",
    selection=[universe.key, COPY_KEY],
    executor_def=celery_executor.configured(distributed.executor_config(), name="celery_test"),
    hooks=STEP_WORKER_HOOKS,
)

# The same two steps in the run's own process: a run whose worker is lost with it.
run_loss_job = define_asset_job(
    "run_loss_job",
    selection=[universe.key, COPY_KEY],
    executor_def=in_process_executor,
    tags=distributed_tags,
)

defs = Definitions(
    assets=[universe, universe_copy],
    jobs=[worker_loss_job, run_loss_job],
    resources=build_resources(),
)

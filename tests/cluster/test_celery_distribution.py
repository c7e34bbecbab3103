"""Distribution: parallel_pipeline's steps run on both Celery workers, and its tables
equal, row for row, those of a single-node sequential_pipeline on the same market."""

from __future__ import annotations

import pandas as pd
import pytest

from robo_dagster.cluster import steps
from robo_dagster.cluster.local import WORKERS
from tests.cluster.conftest import Cluster, PipelineRun

pytestmark = pytest.mark.cluster


def step_records(cluster: Cluster, run_id: str) -> list[dict[str, object]]:
    """Each step's pid and worker, as the steps' hooks logged them in the event log."""
    with cluster.instance() as instance:
        found = [steps.parse(entry.user_message or "") for entry in instance.all_logs(run_id)]
    return [record for record in found if record]


def test_steps_run_on_both_workers_with_pid_and_worker_in_the_event_log(
    cluster_services: Cluster, cluster_pipeline_run: PipelineRun
) -> None:
    records = step_records(cluster_services, cluster_pipeline_run.run_id)
    workers = {str(r["worker"]).split("@")[0] for r in records}
    assert workers == set(WORKERS)
    # Every step of the run reported, from a worker's process (not the run's own).
    with cluster_services.instance() as instance:
        succeeded = {
            e.step_key
            for e in instance.all_logs(cluster_pipeline_run.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"
        }
        celery_engine_events = [
            e
            for e in instance.all_logs(cluster_pipeline_run.run_id)
            if "in celery worker" in (e.message or "")
        ]
    assert {r["step"] for r in records} == succeeded
    assert len({r["pid"] for r in records}) >= 2
    # dagster-celery's own record of each step's worker agrees with the hooks'.
    assert {e.step_key for e in celery_engine_events} == succeeded


def test_tables_equal_a_single_node_sequential_run(
    cluster_pipeline_run: PipelineRun, single_node_reference: dict[str, pd.DataFrame]
) -> None:
    distributed = cluster_pipeline_run.tables
    # The reference holds exactly what the pipeline writes; the cluster's file also
    # holds the tables its sensors write (the market-event inbox).
    assert set(single_node_reference) <= set(distributed)
    assert len(single_node_reference) > 15
    for name, frame in single_node_reference.items():
        assert len(frame) > 0 or name.endswith("_quarantine"), name
        pd.testing.assert_frame_equal(distributed[name], frame, obj=name)

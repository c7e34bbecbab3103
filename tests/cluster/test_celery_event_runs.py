"""Event runs: twenty small runs spread over both workers, and no queue ever runs more
than its limit at once (read from the run storage in Postgres)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from dagster import AssetKey

from robo_dagster.cluster.local import INSTANCE_FILE, WORKERS
from robo_dagster.tasks.queues import QUEUE_TAG
from robo_dagster.tasks.submission import plan_task
from tests.cluster.conftest import Cluster, PipelineRun, run_workers

pytestmark = pytest.mark.cluster

EVENT_ANALYSIS = [
    AssetKey(["ai_analysis", "analysis_features"]),
    AssetKey(["ai_analysis", "trade_recommendations"]),
    AssetKey(["ai_analysis", "strategy_analysis"]),
]
# The test cluster also loads the worker-loss tests' location, which has its own
# __ASSET_JOB: a launch names the project's.
PROJECT_LOCATION = {"repository_location_name": "robo_dagster", "repository_name": "__repository__"}
EVENT_RUNS = 14  # re-analyses, in ai_analysis (limit 2)
FETCH_RUNS = 6  # news fetches, in data_fetcher (limit 3)


def queue_limits() -> dict[str, int]:
    """The per-queue limits of the cluster's instance file."""
    config = yaml.safe_load(INSTANCE_FILE.read_text())["run_coordinator"]["config"]
    return {
        limit["value"]: limit["limit"]
        for limit in config["tag_concurrency_limits"]
        if limit["key"] == QUEUE_TAG
    }


def most_at_once(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """The most intervals that overlap at any moment (an end before a start on a tie)."""
    moments = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    now = peak = 0
    for _, step in sorted(moments, key=lambda m: (m[0], m[1])):
        now += step
        peak = max(peak, now)
    return peak


def test_twenty_event_runs_spread_over_the_workers_within_the_queue_limits(
    cluster_services: Cluster, cluster_pipeline_run: PipelineRun
) -> None:
    client = cluster_services.client()
    news = plan_task("market_data/news")
    run_ids = [
        client.submit_job_execution(
            "recommendations_job",
            asset_selection=EVENT_ANALYSIS,
            tags={"robo/event": f"e{i}"},
            **PROJECT_LOCATION,
        )
        for i in range(EVENT_RUNS)
    ] + [
        client.submit_job_execution(
            news.job_name, asset_selection=news.asset_selection, tags=news.tags, **PROJECT_LOCATION
        )
        for _ in range(FETCH_RUNS)
    ]
    statuses = cluster_services.wait_for_runs(run_ids)
    assert set(statuses.values()) == {"SUCCESS"}, statuses

    workers = run_workers(cluster_services, run_ids)
    assert set(workers) == set(run_ids)  # each run's worker is in its event log
    assert set(workers.values()) == set(WORKERS)

    # Every run the instance ever ran (the sensors' too), by queue, from Postgres.
    limits = queue_limits()
    by_queue: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    with cluster_services.instance() as instance:
        for record in instance.get_run_records():
            queue = record.dagster_run.tags.get(QUEUE_TAG)
            if queue in limits and record.start_time and record.end_time:
                start = dt.datetime.fromtimestamp(record.start_time, dt.timezone.utc)
                end = dt.datetime.fromtimestamp(record.end_time, dt.timezone.utc)
                by_queue.setdefault(queue, []).append((start, end))
    assert len(by_queue["ai_analysis"]) >= EVENT_RUNS
    assert len(by_queue["data_fetcher"]) >= FETCH_RUNS
    peaks = {queue: most_at_once(intervals) for queue, intervals in by_queue.items()}
    for queue, peak in peaks.items():
        assert peak <= limits[queue], (queue, peak, limits[queue])
    # The limit was reached, not merely respected by runs one after another.
    assert peaks["ai_analysis"] == limits["ai_analysis"]

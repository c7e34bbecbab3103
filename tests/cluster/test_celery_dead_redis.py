"""A dead Redis: a launch fails at once with a line naming the broker's address, the run
is failed (not left queued or starting), and the desk's alert is raised."""

from __future__ import annotations

import time

import pytest

from robo_dagster.cluster.local import wait_for_workers
from robo_dagster.warehouse.connection import locked_connection
from tests.cluster.conftest import Cluster, PipelineRun

pytestmark = pytest.mark.cluster

JOB = "morning_prep_job"


def run_text(cluster: Cluster, run_id: str) -> str:
    """Every message and error of the run's event log, as one text."""
    with cluster.instance() as instance:
        parts = []
        for entry in instance.all_logs(run_id):
            parts.append(entry.message or "")
            error = getattr(
                getattr(entry.dagster_event, "event_specific_data", None), "error", None
            )
            if error is not None:
                parts.append(error.to_string())
        return "\n".join(parts)


def open_alert(cluster: Cluster, fingerprint: str) -> list[tuple[str, str]]:
    with locked_connection(cluster.warehouse, read_only=True) as conn:
        exists = conn.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'monitoring' "
            "and table_name = 'alerts'"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        return conn.execute(
            "select severity, message from monitoring.alerts "
            "where fingerprint = ? and resolved_at is null",
            [fingerprint],
        ).fetchall()


def test_a_dead_redis_fails_the_launch_with_its_address_and_an_alert(
    cluster_services: Cluster, cluster_pipeline_run: PipelineRun
) -> None:
    layout = cluster_services.layout
    address = f"127.0.0.1:{layout.redis_port}"
    layout.redis.stop()
    try:
        # The webserver and the queue need no broker: the submission is accepted, and
        # the daemon's launch is what meets the dead broker.
        run_id = cluster_services.client().submit_job_execution(JOB)
        statuses = cluster_services.wait_for_runs([run_id], timeout_s=120.0)
        assert statuses[run_id] == "FAILURE"
        text = run_text(cluster_services, run_id)
        assert f"the Celery broker (Redis) at {address} is unreachable" in text, text[-2000:]

        deadline = time.monotonic() + 120.0
        alerts = open_alert(cluster_services, f"run:{JOB}")
        while not alerts and time.monotonic() < deadline:
            time.sleep(1.0)
            alerts = open_alert(cluster_services, f"run:{JOB}")
        assert alerts, "no alert for the failed launch"
        severity, _ = alerts[0]
        assert severity in {"ERROR", "CRITICAL"}
    finally:
        layout.redis.start()
        wait_for_workers(layout)  # the workers reconnect by themselves

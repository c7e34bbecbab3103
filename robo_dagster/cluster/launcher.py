"""The cluster's run launcher: dagster-celery's ``CeleryRunLauncher``, routing by the
seed queue and naming the broker when it is down.

- Routing. A run goes to the Celery queue of its ``dagster-celery/queue`` tag, which
  ``tasks.queues`` sets on the cluster. A run can reach the queue without it: a task
  planned on a machine without ``ROBO_CELERY_BROKER`` (``robo-dagster submit`` from a
  laptop), or a run launched from the UI's launchpad with only ``robo/queue``. Such a
  run is given its seed queue's Celery queue here, from ``robo/queue``, before it is
  sent, so routing never depends on where the run was planned.
- A broker that is down. dagster-celery lets kombu's error through, which names the
  socket but not what it is. Here the launch fails with one line that says the Celery
  broker (Redis) at ``host:port`` is unreachable and what to check; the daemon marks
  the run failed with it, and ``monitoring.sensor`` raises the run's alert. The URL's
  password, if any, is never printed.
- A lost run worker. dagster-celery answers run monitoring's health check from the run
  task's state alone, and a task whose worker was killed stays ``STARTED`` for ever:
  the run would look alive until its ``dagster/max_runtime``. Here a started run's
  worker (the node the task's state names) is also pinged; after
  ``MISSED_PINGS_BEFORE_LOST`` health checks in a row without an answer (one per
  monitoring poll, 5 s apart), the worker is reported failed. The daemon then fails
  the run, and ``run_retries`` starts it again on a worker that answers. A broker
  that cannot be reached proves nothing about the worker and changes nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from dagster import DagsterRun
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from kombu.exceptions import OperationalError

from robo_dagster.cluster import distributed
from robo_dagster.tasks.queues import QUEUE_TAG

MISSED_PINGS_BEFORE_LOST = 3
PING_TIMEOUT_S = 2.0


class BrokerUnavailable(RuntimeError):
    """The Celery broker did not accept the run's task."""


def broker_address(url: str | None) -> str:
    """``host:port`` of a broker URL, without its credentials."""
    if not url:
        return "(no broker configured)"
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"


class SeedQueueCeleryRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` that routes by ``robo/queue`` when the Celery tag is missing
    and fails a launch with a clear line when the broker is down."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._missed_pings: dict[str, int] = {}  # run id -> health checks in a row

    def _launch_celery_task_run(
        self, run: DagsterRun, task_signature: Any, routing_key: str
    ) -> None:
        if distributed.CELERY_QUEUE_TAG not in run.tags and QUEUE_TAG in run.tags:
            queue = distributed.celery_queue(run.tags[QUEUE_TAG])
            self._instance.add_run_tags(run.run_id, {distributed.CELERY_QUEUE_TAG: queue})
            run = self._instance.get_run_by_id(run.run_id) or run
        try:
            super()._launch_celery_task_run(run, task_signature, routing_key)
        except OperationalError as exc:
            raise BrokerUnavailable(
                f"the Celery broker (Redis) at {broker_address(self.broker)} is unreachable "
                f"({exc}); run {run.run_id} was not sent to a worker. Start Redis there, or "
                f"point {distributed.BROKER_VARIABLE} at a broker that runs"
            ) from exc

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """dagster-celery's answer, except that a started run whose worker stopped
        answering pings is reported failed (see the module's docstring)."""
        result = super().check_run_worker_health(run)
        missed = self._missed_pings
        if result.status != WorkerStatus.RUNNING:
            missed.pop(run.run_id, None)
            return result
        info = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG]).info
        hostname = info.get("hostname") if isinstance(info, dict) else None
        if not hostname:
            return result
        try:
            replies = self.celery.control.ping(
                destination=[hostname], timeout=PING_TIMEOUT_S, limit=1
            )
        except Exception:  # the broker's trouble, not the worker's
            return result
        if replies:
            missed.pop(run.run_id, None)
            return result
        missed[run.run_id] = missed.get(run.run_id, 0) + 1
        if missed[run.run_id] < MISSED_PINGS_BEFORE_LOST:
            return result
        missed.pop(run.run_id, None)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's Celery worker {hostname} answered none of {MISSED_PINGS_BEFORE_LOST} "
            "pings in a row: it was lost with the run",
        )

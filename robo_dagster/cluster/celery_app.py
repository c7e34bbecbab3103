"""The Celery app the cluster's workers run (``dagster-celery worker start -A``):
dagster-celery's own, with one change for a run whose steps are Celery tasks too.

A whole run reaches a worker as dagster-celery's ``execute_job`` task (the Celery run
launcher). When the run is ``parallel_pipeline``, its ``celery_executor`` sends each
step as an ``execute_plan`` task and waits for their results inside ``execute_job``.
Celery forbids that wait in a worker's task ("Never call result.get() within a task!")
because a task waiting on tasks that need its own slot deadlocks. Here the wait is
safe by construction: the step tasks run in other slots (``cluster.local`` explains the
worker concurrency that guarantees one is free), so the ban is lifted for the run tasks
only, for the time each one runs; a step's task keeps Celery's guard.

Each run task also writes, as the first engine event of its run, the worker and the
process that run it (``robo-cluster run worker=<node name> pid=<pid>``): dagster-celery
records the worker of each step, not of a whole run.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import signals
from celery._state import _set_task_join_will_block
from dagster_celery.app import app, execute_job, execute_plan, resume_job

RUN_TASKS = {"execute_job", "resume_job"}
RUN_MARKER = "robo-cluster run"
_log = logging.getLogger(__name__)

__all__ = ["app", "execute_job", "execute_plan", "resume_job"]


@signals.task_prerun.connect
def _let_a_run_wait_on_its_steps(
    task: Any = None, kwargs: dict[str, Any] | None = None, **_: Any
) -> None:
    if getattr(task, "name", None) in RUN_TASKS:
        _set_task_join_will_block(False)
        _record_run_worker(task, kwargs or {})


def _record_run_worker(task: Any, kwargs: dict[str, Any]) -> None:
    """Write the run's worker and process into its event log; a failure to record is
    logged and never fails the run."""
    from dagster import DagsterInstance
    from dagster._serdes import unpack_value

    try:
        packed = kwargs.get("execute_job_args_packed") or kwargs.get("resume_job_args_packed")
        args: Any = unpack_value(packed)  # ExecuteRunArgs or ResumeRunArgs
        run_id = args.run_id
        hostname = task.request.hostname
        with DagsterInstance.get() as instance:
            run = instance.get_run_by_id(run_id)
            if run is not None:
                instance.report_engine_event(
                    f"{RUN_MARKER} worker={hostname} pid={os.getpid()}", run
                )
    except Exception:  # recording is a courtesy; the run itself must go on
        _log.exception("could not record the run's worker")


@signals.task_postrun.connect
def _restore_the_guard(task: Any = None, **_: Any) -> None:
    if getattr(task, "name", None) in RUN_TASKS:
        _set_task_join_will_block(True)

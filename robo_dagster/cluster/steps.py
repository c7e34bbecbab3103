"""Where each step of a distributed run ran: its process id and Celery worker, in the
run's event log.

dagster-celery records the worker's name in the engine event that opens a step's task
("Executing steps ... in celery worker", metadata ``Celery worker``) but not the
process. These hooks, attached to ``parallel_pipeline`` on a cluster only, log one line
per step from inside the step's own process once it has ended, successful or not:
``robo-cluster step=<key> pid=<pid> worker=<node name>``. The asset code is untouched.
"""

from __future__ import annotations

import os
import re
from typing import Any

from dagster import HookContext, HookDefinition, failure_hook, success_hook

MARKER = "robo-cluster"
LINE = re.compile(rf"{MARKER} step=(?P<step>\S+) pid=(?P<pid>\d+) worker=(?P<worker>\S+)")


def celery_worker_name() -> str:
    """The node name (``worker1@host``) of the Celery worker running this process's
    task, or ``-`` outside a Celery task."""
    try:
        from celery import current_task
    except ImportError:  # the cluster extra is not installed
        return "-"
    request = getattr(current_task, "request", None) if current_task else None
    return str(getattr(request, "hostname", None) or "-")


def _record(context: HookContext) -> None:
    context.log.info(
        f"{MARKER} step={context.step_key} pid={os.getpid()} worker={celery_worker_name()}"
    )


@success_hook(name="record_step_worker_on_success")
def _on_success(context: HookContext) -> None:
    _record(context)


@failure_hook(name="record_step_worker_on_failure")
def _on_failure(context: HookContext) -> None:
    _record(context)


STEP_WORKER_HOOKS: set[HookDefinition] = {_on_success, _on_failure}


def parse(message: str) -> dict[str, Any] | None:
    """The step, pid and worker of one of the hooks' lines, or None for any other line."""
    found = LINE.search(message)
    if not found:
        return None
    return {"step": found["step"], "pid": int(found["pid"]), "worker": found["worker"]}

"""Runs executed in this process (the quickstart, a notebook) and the ones a killed
process left behind.

A run executed in-process by ``execute_job`` or ``materialize`` has no run worker the
daemon can watch: if its process is killed (SIGKILL, a closed laptop) the run stays
STARTED forever, even after a later run succeeded. Every in-process entry point tags
its runs with its host and pid (``owner_tags``), and on start marks as failed the runs
of its own host whose process is gone (``fail_orphaned_runs``), with the reason.
"""

from __future__ import annotations

import os
import socket

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

HOST_TAG = "robo/host"
PID_TAG = "robo/pid"
UNFINISHED = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED]


def owner_tags() -> dict[str, str]:
    """The tags that say which process runs a run in-process."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark as failed every unfinished run of this host whose process no longer exists;
    return their run ids."""
    host = socket.gethostname()
    runs = instance.get_runs(
        RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host}),
    )
    failed = []
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        instance.report_run_failed(
            run,
            message=(
                f"its process {pid} on {host} is gone (killed, or its machine stopped); "
                "marked failed by the next in-process run"
            ),
        )
        failed.append(run.run_id)
    return failed

"""Runs left STARTED by a killed in-process entry point are failed by the next one."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from robo_dagster.tasks.run_owner import HOST_TAG, PID_TAG, fail_orphaned_runs, owner_tags
from tests.conftest import tiny


def started_run(instance: DagsterInstance, pid: int, host: str | None = None) -> str:
    tags = {HOST_TAG: host or socket.gethostname(), PID_TAG: str(pid)}
    run = instance.create_run_for_job(tiny, tags=tags, status=DagsterRunStatus.STARTED)
    return run.run_id


def test_a_dead_processes_run_is_failed_with_the_reason_and_no_other(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (tmp_path / "home").mkdir()
    try:
        with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
            orphan = started_run(instance, dead.pid)
            running = started_run(instance, alive.pid)
            elsewhere = started_run(instance, dead.pid, host="another-host")
            assert fail_orphaned_runs(instance) == [orphan]
            assert instance.get_run_by_id(orphan).status == DagsterRunStatus.FAILURE
            for run_id in (running, elsewhere):
                assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
            messages = [e.message for e in instance.all_logs(orphan)]
            assert any(f"its process {dead.pid}" in (m or "") for m in messages)
            assert fail_orphaned_runs(instance) == []  # once
    finally:
        alive.kill()


def test_owner_tags_name_this_process() -> None:
    import os

    assert owner_tags() == {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}

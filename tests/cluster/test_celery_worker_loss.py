"""Worker loss: a worker killed with SIGKILL in the middle of a step. The step's task,
never acknowledged, is handed to the other worker, and the run finishes with every row
once.

The step holds on a gate file (tests/cluster/worker_loss_location.py), so the kill
lands mid-step by construction. The whole worker is killed (its process group: the
Celery main process and its pool), as when its machine is lost. The run itself is
orchestrated by ``dagster job execute`` in a process of the test's, on the cluster's
instance: the victim is the step's worker and only it. (A run whose own worker is lost
is a different failure: its run task is not re-delivered, since Dagster cannot start a
started run again; see robo_dagster.cluster.distributed.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunsFilter

from robo_dagster.cluster import steps
from robo_dagster.cluster.local import WORKERS, start_workers
from robo_dagster.warehouse.connection import locked_connection
from tests.cluster.conftest import GATE_VARIABLE, Cluster, run_workers

pytestmark = pytest.mark.cluster

LOCATION = Path(__file__).with_name("worker_loss_location.py")
COPY_STEP = "market_data__universe_copy"


def _wait_for(predicate, what: str, timeout_s: float = 180.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"{what} within {timeout_s:g} s")


def _group_gone(pgid: int) -> bool:
    """Whether no process of the group is left. Its leader was started by this test
    session (the cluster fixture), so it is reaped here, or it would linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_worker_killed_mid_step_has_its_step_run_on_the_other_worker(
    cluster_services: Cluster,
) -> None:
    layout, env = cluster_services.layout, cluster_services.env
    gate = Path(env[GATE_VARIABLE])
    gate.parent.mkdir(parents=True, exist_ok=True)
    for old in gate.parent.glob("started.*"):
        old.unlink()
    gate.write_text("hold")
    worker_pgids = {name: int((layout.pids / f"{name}.pid").read_text()) for name in WORKERS}

    execute = subprocess.Popen(
        ["dagster", "job", "execute", "-f", str(LOCATION), "-j", "worker_loss_job"],
        env=env, cwd=str(layout.home),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    victim = None
    try:
        first = _wait_for(lambda: sorted(gate.parent.glob("started.*")), "the step started")
        first_pid = int(first[0].suffix.lstrip("."))
        pgid = os.getpgid(first_pid)
        (victim,) = [name for name, group in worker_pgids.items() if group == pgid]
        os.killpg(pgid, signal.SIGKILL)
        _wait_for(lambda: _group_gone(pgid), "the killed worker gone", 30.0)
        gate.unlink()  # the retry, wherever it lands, may finish
        output, _ = execute.communicate(timeout=300)
        assert execute.returncode == 0, output[-3000:]
    finally:
        if execute.poll() is None:
            execute.kill()
        gate.unlink(missing_ok=True)
        if victim is not None:  # the other tests need both workers
            start_workers(layout, env, [victim])

    attempts = sorted(gate.parent.glob("started.*"))
    assert len(attempts) == 2
    survivor = next(p for p in attempts if int(p.suffix.lstrip(".")) != first_pid)
    survivor_worker = survivor.read_text().split("@")[0]
    assert survivor_worker != victim
    assert os.getpgid(int(survivor.suffix.lstrip("."))) == worker_pgids[survivor_worker]

    with cluster_services.instance() as instance:
        (run,) = instance.get_runs(RunsFilter(job_name="worker_loss_job"), limit=1)
        assert run.status == DagsterRunStatus.SUCCESS
        logs = instance.all_logs(run.run_id)
    successes = [
        e for e in logs
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"
        and e.step_key == COPY_STEP
    ]  # fmt: skip
    assert len(successes) == 1
    recorded = [steps.parse(e.user_message or "") for e in logs]
    (copy_record,) = [r for r in recorded if r and r["step"] == COPY_STEP]
    assert str(copy_record["worker"]).split("@")[0] == survivor_worker

    with locked_connection(cluster_services.warehouse, read_only=True) as conn:
        universe = conn.execute("select * from market_data.universe order by symbol").fetchdf()
        copy = conn.execute("select * from market_data.universe_copy order by symbol").fetchdf()
    assert len(universe) > 0
    assert copy["symbol"].is_unique
    assert copy.equals(universe)


def test_a_run_whose_own_worker_is_killed_is_failed_and_retried_on_the_other(
    cluster_services: Cluster,
) -> None:
    """The run's worker (not a step's) is lost: the launcher's health check stops
    hearing from it, run monitoring fails the run, and run_retries runs it again on the
    surviving worker, where it finishes with every row once."""
    layout, env = cluster_services.layout, cluster_services.env
    gate = Path(env[GATE_VARIABLE])
    gate.parent.mkdir(parents=True, exist_ok=True)
    for old in gate.parent.glob("started.*"):
        old.unlink()
    gate.write_text("hold")
    worker_pgids = {name: int((layout.pids / f"{name}.pid").read_text()) for name in WORKERS}
    victim = None
    try:
        run_id = cluster_services.client().submit_job_execution(
            "run_loss_job", repository_location_name="cluster_tests",
            repository_name="__repository__",
        )  # fmt: skip
        first = _wait_for(lambda: sorted(gate.parent.glob("started.*")), "the step started")
        pgid = os.getpgid(int(first[0].suffix.lstrip(".")))
        (victim,) = [name for name, group in worker_pgids.items() if group == pgid]
        os.killpg(pgid, signal.SIGKILL)
        _wait_for(lambda: _group_gone(pgid), "the killed worker gone", 30.0)
        gate.unlink()

        cluster_services.wait_for_runs([run_id], timeout_s=180.0)
        with cluster_services.instance() as instance:
            assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE  # type: ignore[union-attr]

            def retry() -> list[str]:
                runs = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
                return [r.run_id for r in runs]

            (retry_id,) = _wait_for(retry, "the run retried", 120.0)
        statuses = cluster_services.wait_for_runs([retry_id], timeout_s=300.0)
        assert statuses[retry_id] == "SUCCESS", statuses
    finally:
        gate.unlink(missing_ok=True)
        if victim is not None:
            start_workers(layout, env, [victim])

    survivor = next(w for w in WORKERS if w != victim)
    assert run_workers(cluster_services, [retry_id]) == {retry_id: survivor}
    with cluster_services.instance() as instance:
        failure = " ".join(
            e.message or "" for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
        )  # fmt: skip
    assert "answered none of" in failure, failure
    with locked_connection(cluster_services.warehouse, read_only=True) as conn:
        universe = conn.execute("select * from market_data.universe order by symbol").fetchdf()
        copy = conn.execute("select * from market_data.universe_copy order by symbol").fetchdf()
    assert copy["symbol"].is_unique
    assert copy.equals(universe)

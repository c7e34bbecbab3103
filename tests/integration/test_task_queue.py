"""The run queue under load on a real ``dagster dev``: priority order, per-queue limits,
timeouts, and the ``robo-dagster`` CLI's submissions."""

import itertools
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from robo_dagster.tasks.queues import MAX_RUNTIME_TAG, PRIORITY_TAG, QUEUE_TAG
from robo_dagster.tasks.submission import Task, launch, plan_task
from tests.conftest import range_tags, session_range

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def wait_for(instance: DagsterInstance, run_ids: list[str], timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = instance.get_run_records(RunsFilter(run_ids=run_ids))
        if len(records) == len(run_ids) and all(r.dagster_run.status in FINISHED for r in records):
            return records
        time.sleep(2)
    pending = [
        r.dagster_run.status.value for r in instance.get_run_records(RunsFilter(run_ids=run_ids))
    ]
    pytest.fail(f"runs not finished within {timeout} s: {pending}")


def test_a_saturated_queue_starts_runs_by_priority_one_at_a_time(
    dagster_dev: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in dagster_dev["env"].items():  # type: ignore[attr-defined]
        if key.startswith("ROBO_"):
            monkeypatch.setenv(key, value)
    port = int(dagster_dev["port"])  # type: ignore[call-overload]
    priorities = [(7 * i) % 10 + 1 for i in range(30)]  # every value 1-10, interleaved
    run_ids = [launch(plan_task("portfolio/account_balances", p), port=port) for p in priorities]
    all_queued_at = time.time()
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        records = wait_for(instance, run_ids, timeout=600)
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
    runs = sorted(records, key=lambda r: r.start_time)
    for record in runs:
        tags = record.dagster_run.tags
        assert (tags[QUEUE_TAG], tags[MAX_RUNTIME_TAG]) == ("portfolio_sync", "300")
    # The portfolio queue's limit is 1: no run starts before the previous one has ended.
    for before, after in itertools.pairwise(runs):
        assert after.start_time >= before.end_time, "two portfolio runs overlapped"
    # Runs started once all 30 were queued come out highest priority first.
    later = [int(r.dagster_run.tags[PRIORITY_TAG]) for r in runs if r.start_time > all_queued_at]
    assert len(later) >= 20, f"the queue drained too fast to show an order: {len(later)}"
    assert later == sorted(later, reverse=True), later


def test_a_run_past_its_max_runtime_is_terminated_and_leaves_no_partial_partition(
    dagster_dev: dict[str, object],
) -> None:
    first, last = session_range(504)
    tags = range_tags(first, last) | {MAX_RUNTIME_TAG: "2", PRIORITY_TAG: "5"}
    run_id = launch(Task("sequential_pipeline", tags=tags), port=int(dagster_dev["port"]))  # type: ignore[call-overload]
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        (record,) = wait_for(instance, [run_id], timeout=180)
        messages = [e.message for e in instance.all_logs(run_id) if e.is_dagster_event]
        # Run monitoring terminates the run; Dagster 1.13 then ends it as FAILURE with the
        # reason, which the UI and the alerts show.
        assert "Canceling due to exceeding maximum runtime of 2 seconds." in messages
        assert record.dagster_run.status == DagsterRunStatus.FAILURE
        assert "Exceeded maximum runtime of 2 seconds." in messages
        # Run monitoring checks every 5 s, and the cancel takes a few more.
        assert record.end_time - record.start_time < 60
    db = str(dagster_dev["db"])
    if Path(db).exists():
        with duckdb.connect(db, read_only=True) as conn:
            tables = {
                t for (t,) in conn.execute("select table_name from duckdb_tables()").fetchall()
            }
            if "price_bars" in tables:
                # All 504 sessions are written in one transaction, or none is.
                (sessions,) = conn.execute(
                    "select count(distinct date) from market_data.price_bars"
                ).fetchall()[0]
                assert sessions in (0, 504)
                assert conn.execute(
                    "select count(*) from (select symbol, date from market_data.price_bars "
                    "group by all having count(*) > 1)"
                ).fetchall() == [(0,)]


def test_the_cli_submits_with_priority_and_refuses_bad_input(
    dagster_dev: dict[str, object],
) -> None:
    env = dict(dagster_dev["env"])  # type: ignore[call-overload]
    port = str(dagster_dev["port"])
    cli = [str(BIN / "robo-dagster"), "--port", port]
    submitted = subprocess.run(
        [*cli, "submit", "portfolio/account_balances", "--priority", "7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    refused = subprocess.run(
        [*cli, "submit", "portfolio/account_balances", "--priority", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "1 (BACKGROUND) to 10 (CRITICAL)" in refused.stderr
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        (record,) = wait_for(instance, [run_id], timeout=120)
        run = record.dagster_run
        assert run.status == DagsterRunStatus.SUCCESS
        assert (run.tags[PRIORITY_TAG], run.tags[QUEUE_TAG]) == ("7", "portfolio_sync")
        assert len(instance.get_runs()) == 1  # the refused one launched nothing


def test_a_task_after_another_starts_once_it_succeeded_and_fails_after_a_failure(
    dagster_dev: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in dagster_dev["env"].items():  # type: ignore[attr-defined]
        if key.startswith("ROBO_"):
            monkeypatch.setenv(key, value)
    port = int(dagster_dev["port"])  # type: ignore[call-overload]
    first = launch(plan_task("portfolio/account_balances"), port=port)
    after_first = launch(plan_task("market_data/universe", after=[first]), port=port)
    # On an empty warehouse the indicators have no bars to read: this run fails.
    failing = launch(plan_task("market_data/technical_indicators"), port=port)
    after_failing = launch(plan_task("market_data/universe", after=[failing]), port=port)
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        records = wait_for(instance, [first, after_first, failing, after_failing], timeout=300)
        by_id = {r.dagster_run.run_id: r for r in records}
        assert by_id[first].dagster_run.status == DagsterRunStatus.SUCCESS
        assert by_id[after_first].dagster_run.status == DagsterRunStatus.SUCCESS
        assert by_id[after_first].start_time >= by_id[first].end_time
        assert by_id[failing].dagster_run.status == DagsterRunStatus.FAILURE
        held = by_id[after_failing]
        assert held.dagster_run.status == DagsterRunStatus.FAILURE
        assert held.start_time is None  # it never ran
        messages = [e.message for e in instance.all_logs(after_failing)]
        assert any(f"run {failing} it waits on ended FAILURE" in m for m in messages), messages


def _starting_at(instance: DagsterInstance, run_id: str) -> float:
    (event,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_STARTING)
    return event.timestamp


def test_a_burst_of_data_runs_never_exceeds_the_data_queues_limit(
    dagster_dev: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in dagster_dev["env"].items():  # type: ignore[attr-defined]
        if key.startswith("ROBO_"):
            monkeypatch.setenv(key, value)
    port = int(dagster_dev["port"])  # type: ignore[call-overload]
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        universe = launch(plan_task("market_data/universe"), port=port)
        wait_for(instance, [universe], timeout=120)  # what the news runs read
        run_ids = [launch(plan_task("market_data/news"), port=port) for _ in range(8)]
        records = wait_for(instance, run_ids, timeout=300)
        assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
        # A run holds its queue slot from the moment it is dequeued (STARTING).
        spans = [(_starting_at(instance, r.dagster_run.run_id), r.end_time) for r in records]
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    in_flight = peak = 0
    for _, step in edges:  # ends sort before starts at the same instant
        in_flight += step
        peak = max(peak, in_flight)
    assert 2 <= peak <= 3, peak


def test_a_terminated_run_leaves_duckdb_consistent_and_a_rerun_converges(
    dagster_dev: dict[str, object],
) -> None:
    from dagster_graphql import DagsterGraphQLClient

    port = int(dagster_dev["port"])  # type: ignore[call-overload]
    first, last = session_range(504)
    pipeline = Task("sequential_pipeline", tags=range_tags(first, last))
    db = str(dagster_dev["db"])

    def bars() -> tuple[int, int, int]:
        with duckdb.connect(db, read_only=True) as conn:
            return conn.execute(
                "select count(*), count(distinct date), count(*) - count(distinct (symbol, date)) "
                "from market_data.price_bars"
            ).fetchall()[0]

    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        done = launch(pipeline, port=port)
        assert wait_for(instance, [done], 300)[0].dagster_run.status == DagsterRunStatus.SUCCESS
        clean = bars()
        assert clean[1] == 504 and clean[2] == 0
        # Terminate the next run mid-way, as the UI's Terminate button does.
        victim = launch(pipeline, port=port)
        deadline = time.monotonic() + 120
        while not instance.all_logs(victim, of_type=DagsterEventType.STEP_START):
            assert time.monotonic() < deadline, "the run never started a step"
            time.sleep(0.5)
        DagsterGraphQLClient("127.0.0.1", port_number=port).terminate_run(victim)
        (record,) = wait_for(instance, [victim], 180)
        assert record.dagster_run.status == DagsterRunStatus.CANCELED
        assert bars() == clean  # nothing half-written, nothing doubled
        again = launch(pipeline, port=port)
        assert wait_for(instance, [again], 300)[0].dagster_run.status == DagsterRunStatus.SUCCESS
        assert bars() == clean

"""``metrics_sensor`` against a real Dagster instance and DuckDB file: run metrics, a slow
run crossing the execution-time threshold, a backlog of queued runs, a failing job's rate,
and alerts resolved once the metric is back under its warning level."""

import json
import time
from typing import Any

import duckdb
import pytest
from dagster import Config, DagsterInstance, Definitions, asset, define_asset_job

from robo_dagster.monitoring import metrics as metrics_module
from robo_dagster.monitoring.metrics import (
    FIRST_SAMPLE_S,
    TABLE,
    collect_run_metrics,
    collect_system_metrics,
    write_metrics,
)

from .metrics_support import (
    clear_threshold_env,
    metrics_tick,
    queue_runs,
    quiet_host_thresholds,
)


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_threshold_env(monkeypatch)
    quiet_host_thresholds(monkeypatch)


class WorkConfig(Config):
    sleep_s: float = 0.0
    fail: bool = False


@asset(key=["monitoring_test", "work"])
def work(config: WorkConfig) -> None:
    time.sleep(config.sleep_s)
    if config.fail:
        raise ValueError("vendor returned no rows")


WORK_JOB = Definitions(
    assets=[work], jobs=[define_asset_job("work_job", selection=[work.key])]
).resolve_job_def("work_job")


def run_work(
    instance: DagsterInstance,
    sleep_s: float = 0.0,
    fail: bool = False,
    tags: dict[str, str] | None = None,
) -> str:
    result = WORK_JOB.execute_in_process(
        instance=instance,
        tags=tags,
        run_config={
            "ops": {"monitoring_test__work": {"config": {"sleep_s": sleep_s, "fail": fail}}}
        },
        raise_on_error=False,
    )
    return result.run_id


def finished_run(instance: DagsterInstance, duration_s: float) -> str:
    """A successful run of work_job that took exactly ``duration_s``: its start and end
    events carry the times, so the test, not the machine, decides how long it ran."""
    import logging

    from dagster import DagsterEvent, DagsterEventType, DagsterRunStatus, EventLogEntry

    run = instance.create_run_for_job(WORK_JOB, status=DagsterRunStatus.STARTING)
    end = time.time()
    for event_type, at in (
        (DagsterEventType.RUN_START, end - duration_s),
        (DagsterEventType.RUN_SUCCESS, end),
    ):
        instance.handle_new_event(
            EventLogEntry(
                error_info=None,
                level=logging.DEBUG,
                user_message="",
                run_id=run.run_id,
                timestamp=at,
                dagster_event=DagsterEvent(event_type.value, job_name=WORK_JOB.name),
                job_name=WORK_JOB.name,
            )
        )
    return run.run_id


def threshold_alerts(database: str) -> list[dict[str, Any]]:
    with duckdb.connect(database, read_only=True) as conn:
        cursor = conn.execute(
            "select fingerprint, severity, source, message, run_id, resolved_at "
            "from monitoring.alerts where source = 'threshold' order by id"
        )
        columns = [d[0] for d in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def stored_metrics(database: str, name: str) -> list[tuple[float, dict[str, str]]]:
    with duckdb.connect(database, read_only=True) as conn:
        rows = conn.execute(
            f"select value, tags from {TABLE} where name = ? order by measured_at", [name]
        ).fetchall()
    return [(value, json.loads(tags)) for value, tags in rows]


@pytest.mark.parametrize(
    ("warning", "critical", "severity"), [("0.5", "60", "WARNING"), ("0.4", "0.5", "CRITICAL")]
)
def test_a_slow_run_crosses_the_execution_time_threshold_and_a_fast_one_resolves_it(
    any_instance: DagsterInstance,
    alerts_db: str,
    monkeypatch: pytest.MonkeyPatch,
    warning: str,
    critical: str,
    severity: str,
) -> None:
    monkeypatch.setenv("ROBO_THRESHOLD_EXECUTION_TIME_S_WARNING", warning)
    monkeypatch.setenv("ROBO_THRESHOLD_EXECUTION_TIME_S_CRITICAL", critical)
    slow = finished_run(any_instance, 0.6)
    first = metrics_tick(any_instance)
    (alert,) = threshold_alerts(alerts_db)
    assert alert["fingerprint"] == "threshold:execution_time_s:work_job"
    assert alert["severity"] == severity and alert["run_id"] == slow
    assert alert["resolved_at"] is None and f"at or above {severity}" in alert["message"]
    ((duration, tags),) = stored_metrics(alerts_db, "run_duration_s")
    assert duration == pytest.approx(0.6, abs=1e-3)  # stored timestamps: microseconds
    assert tags["job"] == "work_job" and tags["run_id"] == slow
    assert tags["status"] == "SUCCESS"

    # The next tick reads after its cursor: the slow run is not measured twice, and the
    # alert stays open while no new run says otherwise.
    second = metrics_tick(any_instance, first.cursor)
    assert len(stored_metrics(alerts_db, "run_duration_s")) == 1
    assert threshold_alerts(alerts_db)[0]["resolved_at"] is None

    finished_run(any_instance, 0.05)
    metrics_tick(any_instance, second.cursor)
    (alert,) = threshold_alerts(alerts_db)
    assert alert["resolved_at"] is not None
    assert len(stored_metrics(alerts_db, "run_queued_s")) == 2


def test_a_backlog_of_queued_runs_raises_then_resolves_when_drained(
    any_instance: DagsterInstance, alerts_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_THRESHOLD_BACKLOG_WARNING", "2")
    monkeypatch.setenv("ROBO_THRESHOLD_BACKLOG_CRITICAL", "3")
    runs = queue_runs(any_instance, 2)
    cursor = metrics_tick(any_instance).cursor
    (alert,) = threshold_alerts(alerts_db)
    assert (alert["fingerprint"], alert["severity"]) == ("threshold:backlog", "WARNING")
    assert alert["message"].startswith("2 runs queued")

    runs += queue_runs(any_instance, 1)
    cursor = metrics_tick(any_instance, cursor).cursor
    (alert,) = threshold_alerts(alerts_db)  # the same alert, escalated
    assert alert["severity"] == "CRITICAL" and alert["resolved_at"] is None

    for run in runs:
        any_instance.report_run_canceled(run)
    metrics_tick(any_instance, cursor)
    (alert,) = threshold_alerts(alerts_db)
    assert alert["resolved_at"] is not None
    assert [v for v, _ in stored_metrics(alerts_db, "queued_runs")] == [2, 3, 0]


def test_a_failing_job_raises_its_failure_rate_alert(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    run_work(any_instance)
    run_work(any_instance, fail=True)
    run_work(any_instance, fail=True)
    metrics_tick(any_instance)
    (alert,) = threshold_alerts(alerts_db)
    assert alert["fingerprint"] == "threshold:failure_rate:work_job"
    assert alert["severity"] == "CRITICAL" and "67% of 3 runs failed" in alert["message"]
    rate = {m.name: m.value for m in collect_run_metrics(any_instance, 0, time.time())}
    assert rate["run_success_count"] == 1 and rate["run_failure_count"] == 2


def test_a_failure_rate_alert_resolves_once_the_retries_succeed(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    """Three runs time out (fail) and run_retries retries each: once the retries have
    succeeded the failures are recovered, the rate is back at 0 and the alert resolves."""
    failed = [run_work(any_instance, fail=True) for _ in range(3)]
    cursor = metrics_tick(any_instance).cursor
    (alert,) = threshold_alerts(alerts_db)
    assert alert["severity"] == "CRITICAL" and alert["resolved_at"] is None
    for run_id in failed:
        run_work(
            any_instance, tags={"dagster/root_run_id": run_id, "dagster/parent_run_id": run_id}
        )
    metrics_tick(any_instance, cursor)
    (alert,) = threshold_alerts(alerts_db)
    assert alert["resolved_at"] is not None
    rate = {m.name: m.value for m in collect_run_metrics(any_instance, 0, time.time())}
    assert rate["run_failure_count"] == 0 and rate["run_success_count"] == 3


def test_too_few_runs_record_a_rate_but_raise_nothing(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    run_work(any_instance, fail=True)
    metrics_tick(any_instance)
    assert threshold_alerts(alerts_db) == []
    assert stored_metrics(alerts_db, "failure_rate") == [
        (1.0, {"job": "work_job", "runs": "1", "window_s": "3600"})
    ]


def test_health_failures_are_system_alerts(any_instance: DagsterInstance, alerts_db: str) -> None:
    metrics_tick(any_instance)  # no daemon ever ran on a test instance
    with duckdb.connect(alerts_db, read_only=True) as conn:
        rows = conn.execute(
            "select fingerprint, severity, message from monitoring.alerts where source = 'system'"
        ).fetchall()
    assert rows == [
        (
            "health:daemons",
            "CRITICAL",
            "health daemons: no daemon has ever run on this instance: start one with "
            "`make ui` (dagster dev)",
        )
    ]


def test_system_metrics_cover_the_desk_and_the_host(
    alerts_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first tick's own CPU interval is a sleep; recorded here instead of slept, so
    # the test asserts what is asked for, not how long a busy machine took.
    slept: list[float] = []
    monkeypatch.setattr(metrics_module.time, "sleep", slept.append)
    listed, reading = collect_system_metrics(alerts_db)
    metrics = {m.name: m for m in listed}
    assert set(metrics) == {
        "cpu_pct",
        "memory_pct",
        "dagster_rss_mb",
        "host_cpu_pct",
        "host_memory_pct",
        "disk_pct",
    }
    assert 0 < metrics["host_memory_pct"].value <= 100 and 0 < metrics["disk_pct"].value <= 100
    # No stored reading: the first call measures over an interval of its own.
    assert slept == [FIRST_SAMPLE_S]
    # With the stored reading, the next call measures from it, without waiting.
    following, later = collect_system_metrics(alerts_db, previous=reading)
    assert slept == [FIRST_SAMPLE_S]
    window = {m.name: m for m in following}["cpu_pct"].tags["window_s"]
    assert window == f"{later.at - reading.at:.1f}"
    # pytest itself is not a desk process unless its command line says so.
    assert int(metrics["dagster_rss_mb"].tags["processes"]) == len(reading.processes)
    with duckdb.connect(alerts_db) as conn:
        assert write_metrics(conn, listed) == 6
        assert conn.execute(f"select count(*) from {TABLE}").fetchone() == (6,)


def test_the_sensor_is_deployed_running_every_minute() -> None:
    from dagster import DefaultSensorStatus

    from robo_dagster.definitions import defs
    from robo_dagster.monitoring.metrics import metrics_sensor

    assert metrics_sensor in list(defs.sensors or [])
    assert metrics_sensor.default_status == DefaultSensorStatus.RUNNING
    assert metrics_sensor.minimum_interval_seconds == 60
    assert not metrics_sensor.targets  # launches nothing

"""The seed's priority scale and queues, on every job and in the instance configuration."""

from pathlib import Path

import pytest
import yaml

from robo_dagster.automation.conditions import market_automation_sensor
from robo_dagster.automation.inbox_sensor import classify
from robo_dagster.definitions import defs
from robo_dagster.tasks.queues import (
    MAX_RUNTIME_TAG,
    PRIORITY_TAG,
    QUEUE_TAG,
    QUEUES,
    SEED_QUEUES,
    Priority,
    validate_priority,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", [1, 5, 10, "7", " 3 "])
def test_the_scale_runs_from_1_to_10(value: int | str) -> None:
    assert 1 <= validate_priority(value) <= 10


@pytest.mark.parametrize("value", [0, 11, -1, "high", "5.5", 5.5, None, True])
def test_a_priority_outside_the_scale_is_refused_with_the_scale(value: object) -> None:
    with pytest.raises(ValueError, match=r"1 \(BACKGROUND\) to 10 \(CRITICAL\)"):
        validate_priority(value)  # type: ignore[arg-type]


def test_the_named_priorities_are_the_seeds() -> None:
    assert [int(p) for p in Priority] == [1, 3, 5, 7, 10]


def test_the_instance_limits_each_seed_queue_as_the_seed_did() -> None:
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_coordinator"]["config"]
    limits = {
        limit["value"]: limit["limit"]
        for limit in config["tag_concurrency_limits"]
        if limit["key"] == QUEUE_TAG
    }
    assert limits == {queue.name: queue.concurrency for queue in SEED_QUEUES}
    assert limits == {"portfolio_sync": 1, "data_fetcher": 3, "ai_analysis": 2}
    assert config["max_concurrent_runs"] == 10


def _assert_tagged(tags: dict[str, str], where: str) -> None:
    assert 1 <= int(tags[PRIORITY_TAG]) <= 10, where
    queue = QUEUES[tags[QUEUE_TAG]]
    # The two pipelines carry their own, measured limit (jobs.PIPELINE_MAX_RUNTIME_S).
    expected = (
        1800 if where in {"sequential_pipeline", "parallel_pipeline"} else queue.max_runtime_s
    )
    assert tags[MAX_RUNTIME_TAG] == str(expected), where


def test_every_job_and_schedule_carries_a_priority_a_queue_and_a_timeout() -> None:
    jobs = {job.name: job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    for name, job in jobs.items():
        _assert_tagged(dict(job.tags), name)
    for schedule in defs.schedules or []:
        _assert_tagged(dict(jobs[schedule.job_name].tags), schedule.name)
    assert {
        name: jobs[name].tags[PRIORITY_TAG]
        for name in ("recommendations_job", "morning_prep_job", "evening_review_job")
    } == {"recommendations_job": "9", "morning_prep_job": "8", "evening_review_job": "7"}
    assert jobs["portfolio_sync_job"].tags[MAX_RUNTIME_TAG] == "300"
    assert jobs["end_of_day_market_data_job"].tags[MAX_RUNTIME_TAG] == "600"
    assert jobs["recommendations_job"].tags[MAX_RUNTIME_TAG] == "900"


def test_sensor_runs_carry_the_queue_and_the_events_priority() -> None:
    import pandas as pd

    rows = pd.DataFrame(
        {
            "id": [1, 2],
            "received_at": [pd.Timestamp("2026-11-27T14:00")] * 2,
            "source": ["test"] * 2,
            "payload": [
                '{"type": "news", "symbol": "AAPL", "impact": 0.75}',
                '{"type": "news", "symbol": "AAPL", "impact": 0.9, "sentiment": -0.5}',
            ],
        }
    )
    requests, _, _ = classify(rows, {"AAPL"})
    for request in requests:
        assert request.tags[QUEUE_TAG] == "ai_analysis"
        assert request.tags[MAX_RUNTIME_TAG] == "900"
    # Coalesced by priority, the critical run first.
    assert [r.tags[PRIORITY_TAG] for r in requests] == ["10", "9"]
    _assert_tagged(dict(market_automation_sensor.run_tags), "market_automation_sensor")  # type: ignore[attr-defined]


def test_only_the_parallel_pipeline_pays_for_a_process_per_step() -> None:
    executors = {job.name: job.executor_def.name for job in defs.resolve_all_job_defs()}
    assert executors.pop("parallel_pipeline") == "multiprocess"
    assert set(executors.values()) == {"in_process"}, executors
    assert "__ASSET_JOB" in executors  # the UI's, the automation's and submitted asset runs


def test_the_parallel_mode_forks_its_steps_from_a_preloaded_server() -> None:
    """A launch's config replaces the job's whole, so a submitted max_concurrent keeps
    the forkserver too."""
    from robo_dagster.tasks.submission import parallel_execution_config, plan_orchestration

    forkserver = {"forkserver": {"preload_modules": ["robo_dagster.definitions"]}}
    task = plan_orchestration("parallel", max_concurrent=2)
    assert task.run_config["execution"]["config"] == {
        "max_concurrent": 2,
        "start_method": forkserver,
    }
    assert parallel_execution_config()["max_concurrent"] == 4
    assert defs.resolve_job_def("parallel_pipeline").tags["dagster/max_runtime"] == "1800"

"""The held-task decision. The release and failure of real queued runs are tested
under a live ``dagster dev`` (tests/integration/test_task_queue.py): a queued run needs
the code location that launches it."""

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.utils import make_new_run_id

from robo_dagster.tasks.held_tasks import (
    AFTER_TAG,
    FAILED,
    HOLD_TAG,
    decide,
    hold_tags,
    review_held_tasks,
)
from tests.monitoring.metrics_support import ORIGIN, waiting_job


def test_a_task_is_released_only_when_every_run_it_waits_on_succeeded() -> None:
    ok = DagsterRunStatus.SUCCESS
    assert decide({"a": ok, "b": ok}) == ("release", "2 run(s) it waited on succeeded")
    assert decide({"a": ok, "b": DagsterRunStatus.STARTED}) == ("wait", "waiting on b")
    assert decide({"a": DagsterRunStatus.QUEUED}) == ("wait", "waiting on a")


def test_a_task_after_a_failed_canceled_or_missing_run_fails_with_the_reason() -> None:
    ok = DagsterRunStatus.SUCCESS
    assert decide({"a": ok, "b": DagsterRunStatus.FAILURE}) == (
        "fail",
        "run b it waits on ended FAILURE",
    )
    assert decide({"a": DagsterRunStatus.CANCELED})[1] == "run a it waits on ended CANCELED"
    assert decide({"a": None})[1] == "run a it waits on does not exist"


def test_the_hold_tags() -> None:
    assert hold_tags(["a", "b"]) == {HOLD_TAG: "waiting", AFTER_TAG: "a,b"}


def test_a_failed_hold_is_never_startable(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is FAILURE before its tag leaves "waiting" (whose limit of 0 is all that
    keeps the queue from starting it): found by a live run that started anyway."""
    waited = DagsterRun(job_name="a", run_id=make_new_run_id(), status=DagsterRunStatus.FAILURE)
    instance.add_run(waited)
    held = instance.create_run_for_job(
        waiting_job,
        status=DagsterRunStatus.QUEUED,
        remote_job_origin=ORIGIN,
        tags=hold_tags([waited.run_id]),
    )
    retagged: list[tuple[DagsterRunStatus, dict[str, str]]] = []
    add_run_tags = instance.add_run_tags

    def spy(run_id: str, new_tags: dict[str, str]) -> None:
        retagged.append((instance.get_run_by_id(run_id).status, dict(new_tags)))  # type: ignore[union-attr]
        add_run_tags(run_id, new_tags)

    monkeypatch.setattr(instance, "add_run_tags", spy)
    assert review_held_tasks(instance)["fail"] == [held.run_id]
    assert retagged == [(DagsterRunStatus.FAILURE, {HOLD_TAG: FAILED})]

"""The held-task decision. The release and failure of real queued runs are tested
under a live ``dagster dev`` (tests/integration/test_task_queue.py): a queued run needs
the code location that launches it."""

from dagster import DagsterRunStatus

from robo_dagster.automation.held_tasks import AFTER_TAG, HOLD_TAG, decide, hold_tags


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

"""Held tasks: a run that waits until other runs have succeeded (``submit --after``).

A held task is an ordinary queued run, tagged ``robo/hold=waiting`` and
``robo/after=<run ids>``. ``dagster.yaml`` gives that tag value a concurrency limit of 0,
so Dagster's own queue keeps the run QUEUED, visible in the UI with the reason, without
a second queue to lose it from. ``held_tasks_sensor`` looks at the waiting runs every
pass of the daemon: when every run they wait on has succeeded, it retags the run
``robo/hold=released`` and the queue starts it by its priority; when one of them failed,
was canceled or does not exist, it fails the held run with that reason, so no task
waits forever.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

HOLD_TAG = "robo/hold"
AFTER_TAG = "robo/after"
WAITING = "waiting"
RELEASED = "released"
FAILED = "failed"
ENDED_BADLY = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def hold_tags(after: list[str]) -> dict[str, str]:
    """The tags that hold a run until the runs ``after`` have succeeded."""
    return {HOLD_TAG: WAITING, AFTER_TAG: ",".join(after)}


def decide(statuses: Mapping[str, DagsterRunStatus | None]) -> tuple[str, str]:
    """``("release" | "fail" | "wait", why)`` for a task waiting on runs with ``statuses``
    (None: no such run)."""
    for run_id, status in statuses.items():
        if status is None:
            return "fail", f"run {run_id} it waits on does not exist"
        if status in ENDED_BADLY:
            return "fail", f"run {run_id} it waits on ended {status.value}"
    pending = [run_id for run_id, status in statuses.items() if status != DagsterRunStatus.SUCCESS]
    if pending:
        return "wait", f"waiting on {', '.join(pending)}"
    return "release", f"{len(statuses)} run(s) it waited on succeeded"


def review_held_tasks(instance: DagsterInstance) -> dict[str, list[str]]:
    """Release or fail every waiting task that can be decided; returns run ids by outcome."""
    outcome: dict[str, list[str]] = {"release": [], "fail": [], "wait": []}
    held = instance.get_runs(
        RunsFilter(statuses=[DagsterRunStatus.QUEUED], tags={HOLD_TAG: WAITING})
    )
    for run in held:
        after = [r for r in run.tags.get(AFTER_TAG, "").split(",") if r]
        statuses = {
            run_id: (found.status if (found := instance.get_run_by_id(run_id)) else None)
            for run_id in after
        }
        verdict, why = decide(statuses)
        if verdict == "release":
            instance.add_run_tags(run.run_id, {HOLD_TAG: RELEASED})
        elif verdict == "fail":
            # Failed first, retagged after: once the tag leaves "waiting" its limit of 0
            # no longer holds the run, and the queue would start a run still QUEUED.
            instance.report_run_failed(run, message=f"held task not started: {why}")
            instance.add_run_tags(run.run_id, {HOLD_TAG: FAILED})
        outcome[verdict].append(run.run_id)
    return outcome


@sensor(
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Releases a task submitted with --after once the runs it waits on have succeeded, "
        "or fails it with the reason when one of them did not."
    ),
)
def held_tasks_sensor(context: SensorEvaluationContext) -> SkipReason:
    outcome = review_held_tasks(context.instance)
    summary = ", ".join(f"{len(ids)} {verdict}" for verdict, ids in outcome.items() if ids)
    if outcome["release"] or outcome["fail"]:
        context.log.info(f"held tasks: {summary}")
    return SkipReason(summary or "no held task")

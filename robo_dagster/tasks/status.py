"""``robo-dagster tasks``: the run queue as the seed's ``GET /scheduling/status`` showed it.

Read straight from the Dagster instance (``DAGSTER_HOME``), so it works whether or not
the webserver is up, and it only reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunRecord, RunsFilter

from robo_dagster.tasks.held_tasks import AFTER_TAG, HOLD_TAG, WAITING
from robo_dagster.tasks.queues import PRIORITY_TAG, QUEUE_TAG, QUEUES

IN_FLIGHT = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def _priority(run: DagsterRun) -> int:
    try:
        return int(run.tags.get(PRIORITY_TAG, 0))
    except ValueError:
        return 0


def dequeue_order(records: list[RunRecord]) -> list[RunRecord]:
    """Queued runs in the order the coordinator takes them: highest priority first, then
    oldest first."""
    return sorted(records, key=lambda r: (-_priority(r.dagster_run), r.create_timestamp))


def queue_status(
    instance: DagsterInstance, now: dt.datetime | None = None, finished: int = 10
) -> dict[str, Any]:
    """Queued runs in dequeue order, running runs per queue against their limits, held
    tasks and what they wait on, and the latest finished runs."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    queued = dequeue_order(
        list(instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.QUEUED])))
    )
    running = instance.get_run_records(RunsFilter(statuses=IN_FLIGHT))
    done = instance.get_run_records(RunsFilter(statuses=FINISHED), limit=finished)

    def brief(record: RunRecord) -> dict[str, Any]:
        run = record.dagster_run
        return {
            "run_id": run.run_id,
            "job": run.job_name,
            "priority": _priority(run),
            "queue": run.tags.get(QUEUE_TAG, "-"),
        }

    per_queue: dict[str, dict[str, Any]] = {
        name: {"limit": queue.concurrency or None, "running": []} for name, queue in QUEUES.items()
    }
    for record in running:
        name = record.dagster_run.tags.get(QUEUE_TAG, "-")
        per_queue.setdefault(name, {"limit": None, "running": []})["running"].append(
            record.dagster_run.run_id
        )
    held = [
        brief(r) | {"after": r.dagster_run.tags.get(AFTER_TAG, "").split(",")}
        for r in queued
        if r.dagster_run.tags.get(HOLD_TAG) == WAITING
    ]
    return {
        "queued": [
            brief(r) | {"waiting_s": round((moment - r.create_timestamp).total_seconds(), 1)}
            for r in queued
            if r.dagster_run.tags.get(HOLD_TAG) != WAITING
        ],
        "running": per_queue,
        "held": held,
        "finished": [
            brief(r)
            | {
                "status": r.dagster_run.status.value,
                "duration_s": round(r.end_time - r.start_time, 1)
                if r.start_time and r.end_time
                else None,
            }
            for r in done
        ],
    }


def render(status: dict[str, Any]) -> str:
    """``queue_status`` as plain-text tables."""
    lines = [f"queued ({len(status['queued'])}), in dequeue order:"]
    lines += [
        f"  {q['run_id'][:8]}  p{q['priority']:<2}  {q['queue']:<15} {q['job']:<28} waiting {q['waiting_s']:.0f} s"
        for q in status["queued"]
    ] or ["  none"]
    lines.append("running, per queue:")
    for name, queue in status["running"].items():
        limit = queue["limit"] if queue["limit"] is not None else "no limit"
        ids = ", ".join(r[:8] for r in queue["running"]) or "-"
        lines.append(f"  {name:<15} {len(queue['running'])} of {limit}: {ids}")
    lines.append(f"held ({len(status['held'])}):")
    lines += [
        f"  {h['run_id'][:8]}  {h['job']:<28} after {', '.join(a[:8] for a in h['after'])}"
        for h in status["held"]
    ] or ["  none"]
    lines.append("latest finished:")
    lines += [
        f"  {f['run_id'][:8]}  {f['status']:<8} {f['job']:<28} "
        + (f"{f['duration_s']:.1f} s" if f["duration_s"] is not None else "-")
        for f in status["finished"]
    ] or ["  none"]
    return "\n".join(lines)

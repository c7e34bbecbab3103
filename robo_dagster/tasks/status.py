"""``robo-dagster tasks``: the run queue as the seed's ``GET /scheduling/status`` showed it.

Read straight from the Dagster instance (``DAGSTER_HOME``), so it works whether or not
the webserver is up, and it only reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRecord,
    RunsFilter,
)

from robo_dagster.tasks.held_tasks import AFTER_TAG, HOLD_TAG, WAITING
from robo_dagster.tasks.queues import PRIORITY_TAG, QUEUE_TAG, QUEUES
from robo_dagster.tasks.run_names import RunNamer

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


# How many planned materializations of an asset ``tasks ASSET`` reads to find its runs.
PLANNED_SCAN = 1000


def _finished_records(
    instance: DagsterInstance, finished: int, target: str | None, target_is_asset: bool
) -> list[RunRecord]:
    if target is None:
        return list(instance.get_run_records(RunsFilter(statuses=FINISHED), limit=finished))
    if not target_is_asset:
        runs = RunsFilter(job_name=target, statuses=FINISHED)
        return list(instance.get_run_records(runs, limit=finished))
    # Every run that materializes an asset plans it when it is created: the asset's
    # planned events name its runs, whatever job they belong to.
    planned = instance.fetch_planned_materializations(
        AssetKey.from_user_string(target), limit=PLANNED_SCAN
    ).records
    run_ids = list(dict.fromkeys(r.run_id for r in planned if r.run_id))
    if not run_ids or finished == 0:
        return []
    runs = RunsFilter(run_ids=run_ids, statuses=FINISHED)
    return list(instance.get_run_records(runs, limit=finished))


def queue_status(
    instance: DagsterInstance,
    now: dt.datetime | None = None,
    finished: int = 10,
    target: str | None = None,
    target_is_asset: bool = False,
) -> dict[str, Any]:
    """Queued runs in dequeue order, running runs per queue against their limits, held
    tasks and what they wait on, and the latest finished runs.

    Each run has its ``job``, its ``assets`` and the ``name`` a person reads
    (``run_names``). With ``target`` (a job, or an asset with ``target_is_asset``), only
    the runs of that job, or that materialize that asset, are listed; the queues' loads
    stay whole, since a limit is shared by every run in the queue.
    """
    moment = now or dt.datetime.now(dt.timezone.utc)
    namer = RunNamer(instance)

    def wanted(record: RunRecord) -> bool:
        run = record.dagster_run
        if target is None:
            return True
        return target in namer.assets(run) if target_is_asset else run.job_name == target

    queued = dequeue_order(
        list(instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.QUEUED])))
    )
    queued = [r for r in queued if wanted(r)]
    running = instance.get_run_records(RunsFilter(statuses=IN_FLIGHT))
    done = _finished_records(instance, finished, target, target_is_asset)

    def brief(record: RunRecord) -> dict[str, Any]:
        run = record.dagster_run
        return {
            "run_id": run.run_id,
            "job": run.job_name,
            "name": namer.name(run),
            "assets": namer.assets(run),
            "priority": _priority(run),
            "queue": run.tags.get(QUEUE_TAG, "-"),
        }

    per_queue: dict[str, dict[str, Any]] = {
        name: {"limit": queue.concurrency or None, "running": [], "runs": []}
        for name, queue in QUEUES.items()
    }
    for record in running:
        name = record.dagster_run.tags.get(QUEUE_TAG, "-")
        load = per_queue.setdefault(name, {"limit": None, "running": [], "runs": []})
        load["running"].append(record.dagster_run.run_id)
        if wanted(record):
            load["runs"].append(brief(record))
    held = [
        brief(r) | {"after": r.dagster_run.tags.get(AFTER_TAG, "").split(",")}
        for r in queued
        if r.dagster_run.tags.get(HOLD_TAG) == WAITING
    ]
    return {
        "target": target,
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


def _aligned(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows of cells as lines, every column as wide as its widest cell."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]


def render(status: dict[str, Any]) -> str:
    """``queue_status`` as plain-text tables, each run named by ``name``."""
    target = status.get("target")
    lines = [f"runs of {target} only:"] if target else []
    lines.append(f"queued ({len(status['queued'])}), in dequeue order:")
    lines += _aligned(
        [
            [
                q["run_id"][:8],
                f"p{q['priority']}",
                q["queue"],
                q["name"],
                f"waiting {q['waiting_s']:.0f} s",
            ]
            for q in status["queued"]
        ]
    ) or ["  none"]
    lines.append("running, per queue:")
    for name, queue in status["running"].items():
        limit = queue["limit"] if queue["limit"] is not None else "no limit"
        runs = ", ".join(f"{r['run_id'][:8]} {r['name']}" for r in queue["runs"]) or "-"
        lines.append(f"  {name:<15} {len(queue['running'])} of {limit}: {runs}")
    lines.append(f"held ({len(status['held'])}):")
    lines += _aligned(
        [
            [h["run_id"][:8], h["name"], "after " + ", ".join(a[:8] for a in h["after"])]
            for h in status["held"]
        ]
    ) or ["  none"]
    lines.append("latest finished:")
    lines += _aligned(
        [
            [
                f["run_id"][:8],
                f["status"],
                f["name"],
                f"{f['duration_s']:.1f} s" if f["duration_s"] is not None else "-",
            ]
            for f in status["finished"]
        ]
    ) or ["  none"]
    return "\n".join(lines)

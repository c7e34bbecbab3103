"""Run-queue throughput: N small runs submitted at once, how fast the queue drains them.

    python benchmarks/queue_throughput.py [--runs 40] [--target portfolio/account_balances]
                                          [--prepare TARGET ...] [--priority N]
                                          [--timeout 600] [--keep]
    python benchmarks/queue_throughput.py --target market_data/news \\
        --prepare market_data/universe

What it does, in a temporary directory (removed at the end unless --keep, or on failure):

1. copies the repo's ``dagster.yaml`` into a fresh DAGSTER_HOME, points ROBO_DUCKDB_PATH
   at a fresh DuckDB file and pins the market clock (ROBO_AS_OF); no quickstart:
   portfolio/account_balances needs no data; a target with inputs (market_data/news
   reads market_data/universe) gets them from ``--prepare``, materialized once through
   the same API after startup and before anything is measured;
2. starts a real ``dagster dev`` on 127.0.0.1 in its own process group and waits until it
   is ready, both with ``event_latency.py``'s helpers (webserver answers, code location
   loaded, the daemon's first sensor tick);
3. checks the task once with ``robo_dagster.tasks.submission.plan_task(target, priority)``, then
   submits it ``--runs`` times back to back with ``launch(task, host, port)`` (GraphQL
   into the webserver: each run is created QUEUED with its ``robo/queue`` tag);
4. polls the instance (``DagsterInstance.from_config(home)``) until every run finished,
   then reads each run record and its event log:

   throughput    = N / (last run end - first submit), per minute
   queued->start = RUN_STARTING (the queued-run daemon dequeued it and called the run
                   launcher) - the run record's create_timestamp
   launch        = RUN_STARTING -> RUN_START (the code server spawns a run worker
                   process, which imports the code and loads the job)
   execute       = RUN_START -> RUN_SUCCESS/RUN_FAILURE
   concurrency   = most runs of the target's ``robo/queue`` between RUN_STARTING and
                   their end at any one time (any run of that queue counts, not only the
                   benchmark's);

5. prints a readable summary (with the executor each run used, from its engine events),
   then, as the very last line, one JSON object with the headline numbers.

Exit status: 0, 1 if a run failed or timed out, 2 if ``dagster dev`` could not start or
the task was refused.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventLogEntry,
    RunsFilter,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # the benchmarks dir is not a package
    FINISHED,
    ROOT,
    BenchmarkError,
    Scratch,
    dagster_dev,
    free_port,
    max_overlap,
    run_benchmark,
    tail,
    wait_until_ready,
)

QUEUE_TAG = "robo/queue"
HOST = "127.0.0.1"


@dataclass
class Measured:
    run_id: str
    status: str
    submitted: float  # wall clock just before launch()
    created: float  # the run record's create_timestamp
    starting: float | None  # RUN_STARTING: dequeued, the launcher is called
    started: float | None  # RUN_START: the run worker runs the job
    ended: float | None  # RUN_SUCCESS / RUN_FAILURE / RUN_CANCELED, else end_time
    executor: str  # from the run worker's "Executing steps ..." engine event
    error: str | None = None

    @property
    def queued(self) -> float | None:
        return None if self.starting is None else self.starting - self.created

    @property
    def launch(self) -> float | None:
        if self.starting is None or self.started is None:
            return None
        return self.started - self.starting

    @property
    def execute(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


def first_time(logs: list[EventLogEntry], *types: DagsterEventType) -> float | None:
    for entry in logs:
        if entry.dagster_event and entry.dagster_event.event_type in types:
            return entry.timestamp
    return None


def executor_of(logs: list[EventLogEntry]) -> str:
    for entry in logs:
        event = entry.dagster_event
        if event and event.event_type == DagsterEventType.ENGINE_EVENT:
            message = event.message or ""
            if message.startswith("Executing steps"):
                return message.split("\n")[0].split(" (pid")[0].strip()
    return "?"


def measure(instance: DagsterInstance, run_id: str, submitted: float) -> Measured:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise BenchmarkError(f"run {run_id} not in the instance")
    run = record.dagster_run
    logs = list(instance.all_logs(run_id))
    ended = first_time(
        logs,
        DagsterEventType.RUN_SUCCESS,
        DagsterEventType.RUN_FAILURE,
        DagsterEventType.RUN_CANCELED,
    )
    error = None
    if run.status != DagsterRunStatus.SUCCESS:
        for entry in logs:
            event = entry.dagster_event
            if event and event.event_type in (
                DagsterEventType.STEP_FAILURE,
                DagsterEventType.RUN_FAILURE,
            ):
                error = " ".join((entry.message or event.message or "").split())[:300]
                break
    return Measured(
        run_id=run_id,
        status=run.status.value,
        submitted=submitted,
        created=record.create_timestamp.timestamp(),
        starting=first_time(logs, DagsterEventType.RUN_STARTING),
        started=first_time(logs, DagsterEventType.RUN_START),
        ended=ended if ended is not None else record.end_time,
        executor=executor_of(logs),
        error=error,
    )


def wait_for_runs(instance: DagsterInstance, run_ids: list[str], timeout_s: float) -> list[str]:
    """Poll until every run finished or the timeout; return the unfinished ones."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        unfinished = []
        for run_id in run_ids:
            run = instance.get_run_by_id(run_id)
            if run is None or run.status not in FINISHED:
                unfinished.append(run_id)
        done = len(run_ids) - len(unfinished)
        if done != last:
            print(f"  {done}/{len(run_ids)} finished", end="\r", flush=True)
            last = done
        if not unfinished or time.monotonic() > deadline:
            print(flush=True)
            return unfinished
        time.sleep(1)


def queue_intervals(instance: DagsterInstance, queue: str, since: float) -> list[Any]:
    """(run id, RUN_STARTING, end) of every run of ``queue`` created since ``since``."""
    out = []
    for record in instance.get_run_records(filters=RunsFilter(tags={QUEUE_TAG: queue})):
        if record.create_timestamp.timestamp() < since:
            continue
        logs = list(instance.all_logs(record.dagster_run.run_id))
        starting = first_time(logs, DagsterEventType.RUN_STARTING) or record.start_time
        end = record.end_time or time.time()
        if starting is not None:
            out.append((record.dagster_run.run_id, starting, end))
    return out


def prepare(target: str, port: int, home: Path, timeout_s: float) -> None:
    """Launch ``target`` once and wait for it to succeed (setup, not measured)."""
    from robo_dagster.tasks.submission import launch, plan_task

    began = time.monotonic()
    run_id = launch(plan_task(target), HOST, port)
    with DagsterInstance.from_config(str(home)) as instance:
        if wait_for_runs(instance, [run_id], timeout_s):
            raise BenchmarkError(f"--prepare {target}: run {run_id} did not finish")
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != DagsterRunStatus.SUCCESS:
            raise BenchmarkError(f"--prepare {target}: run {run_id} did not succeed")
    print(f"prepared {target} in {time.monotonic() - began:.1f} s", flush=True)


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def fmt(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.2f}"


def report(
    measured: list[Measured],
    queue: str,
    limit_note: str,
    intervals: list[Any],
    submit_s: float,
    plan_s: float,
) -> dict[str, Any]:
    t0 = min(m.submitted for m in measured)
    print(
        f"\n{'#':>3} {'run':8} {'status':8} {'submit':>7} {'queued':>7} {'launch':>7} "
        f"{'execute':>7} {'end':>7}"
    )
    for i, m in enumerate(sorted(measured, key=lambda m: m.submitted), 1):
        print(
            f"{i:3} {m.run_id[:8]} {m.status[:8]:8} {fmt(m.submitted - t0)} {fmt(m.queued)} "
            f"{fmt(m.launch)} {fmt(m.execute)} {fmt(None if m.ended is None else m.ended - t0)}"
        )
    ends = [m.ended for m in measured if m.ended is not None]
    span = (max(ends) - t0) if ends else None
    queued = [v for m in measured if (v := m.queued) is not None]
    launch = [v for m in measured if (v := m.launch) is not None]
    execute = [v for m in measured if (v := m.execute) is not None]
    ours = {m.run_id for m in measured}
    others = [i for i in intervals if i[0] not in ours]
    max_concurrent = max_overlap([(a, b) for _, a, b in intervals]) if intervals else 0
    failed = sum(m.status != DagsterRunStatus.SUCCESS.value for m in measured)
    runs_per_min = round(len(measured) / span * 60, 2) if span else None
    starts = sorted(m.starting for m in measured if m.starting is not None)
    gaps = [b - a for a, b in pairwise(starts)]

    print(
        f"\nsubmitted {len(measured)} runs in {submit_s:.1f} s "
        f"({submit_s / len(measured) * 1000:.0f} ms per launch() call; plan_task {plan_s:.1f} s)"
    )
    print(f"first submit -> last end: {fmt(span).strip()} s => {runs_per_min} runs/min")
    print(
        "queued -> started (create_timestamp -> RUN_STARTING): "
        f"p50 {pct(queued, 50)} s, p95 {pct(queued, 95)} s, max {pct(queued, 100)} s"
    )
    print(f"launch (RUN_STARTING -> RUN_START): p50 {pct(launch, 50)} s, p95 {pct(launch, 95)} s")
    print(f"execute (RUN_START -> end): p50 {pct(execute, 50)} s, p95 {pct(execute, 95)} s")
    print(f"gap between consecutive RUN_STARTINGs: p50 {pct(gaps, 50)} s, p95 {pct(gaps, 95)} s")
    print(
        f"peak concurrent runs of robo/queue={queue} (RUN_STARTING -> end): "
        f"{max_concurrent} ({limit_note}); other runs of that queue meanwhile: {len(others)}"
    )
    for executor, count in Counter(m.executor for m in measured).items():
        print(f"executor: {executor!r} x{count}")
    for m in measured:
        if m.error:
            print(f"run {m.run_id}: {m.status}: {m.error}", file=sys.stderr)
    return {
        "n": len(measured),
        "runs_per_min": runs_per_min,
        "queued_to_started_p50_s": pct(queued, 50),
        "queued_to_started_p95_s": pct(queued, 95),
        "launch_p50_s": pct(launch, 50),
        "execute_p50_s": pct(execute, 50),
        "max_concurrent": max_concurrent,
        "queue": queue,
        "failed": failed,
    }


def queue_limit(home: Path, queue: str) -> str:
    import yaml

    config = yaml.safe_load((home / "dagster.yaml").read_text())["run_coordinator"]["config"]
    for limit in config.get("tag_concurrency_limits", []):
        if limit.get("key") == QUEUE_TAG and limit.get("value") == queue:
            return f"limit {limit['limit']}"
    return f"no tag limit; max_concurrent_runs {config.get('max_concurrent_runs')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs to submit (default 40)")
    parser.add_argument(
        "--target",
        default="portfolio/account_balances",
        help="job name or asset key group/name (default portfolio/account_balances)",
    )
    parser.add_argument(
        "--prepare",
        action="append",
        default=[],
        metavar="TARGET",
        help="materialize TARGET once before measuring (repeatable, in order), for a "
        "target whose inputs must exist, e.g. --prepare market_data/universe for "
        "market_data/news; not measured",
    )
    parser.add_argument("--priority", default=None, help="task priority (default: normal)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds for all runs to finish"
    )
    parser.add_argument("--startup-timeout", type=float, default=420.0)
    parser.add_argument("--load-retries", type=int, default=3)
    parser.add_argument("--dagster-yaml", type=Path, default=ROOT / "dagster.yaml")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    def measure_queue(scratch: Scratch) -> tuple[dict[str, Any], bool]:
        env = scratch.env
        from robo_dagster.tasks.submission import TaskRefused, launch, plan_task

        began = time.monotonic()
        try:
            task = plan_task(args.target, args.priority)
        except TaskRefused as exc:
            raise BenchmarkError(f"task refused: {exc}") from exc
        plan_s = time.monotonic() - began
        queue = task.tags.get(QUEUE_TAG, "?")
        print(f"task: {task.job_name} {task.asset_selection} tags {task.tags}", flush=True)

        port = free_port()
        log_path = scratch.tmp / "dagster_dev.log"
        began = time.monotonic()
        with dagster_dev(env, port, log_path) as proc:
            wait_until_ready(proc, port, log_path, args.startup_timeout, args.load_retries)
            print(
                f"dagster dev on http://{HOST}:{port} ready in {time.monotonic() - began:.1f} s",
                flush=True,
            )
            for name in args.prepare:
                prepare(name, port, scratch.home, args.timeout)
            since = time.time()
            submitted: list[tuple[str, float]] = []
            began = time.monotonic()
            for _ in range(args.runs):
                at = time.time()
                submitted.append((launch(task, HOST, port), at))
            submit_s = time.monotonic() - began
            print(f"submitted {args.runs} runs in {submit_s:.1f} s; waiting", flush=True)
            with DagsterInstance.from_config(str(scratch.home)) as instance:
                unfinished = wait_for_runs(instance, [r for r, _ in submitted], args.timeout)
                measured = [measure(instance, r, at) for r, at in submitted]
                intervals = queue_intervals(instance, queue, since - 1)
                summary = report(
                    measured, queue, queue_limit(scratch.home, queue), intervals, submit_s, plan_s
                )
            if unfinished:
                print(f"\ndagster dev log tail:\n{tail(log_path, 2000)}", file=sys.stderr)

        if unfinished:
            print(
                f"\nTIMEOUT after {args.timeout:.0f} s: {len(unfinished)} run(s) unfinished: "
                f"{', '.join(r[:8] for r in unfinished)}",
                file=sys.stderr,
            )
        summary["timed_out"] = len(unfinished)
        return summary, not unfinished and summary["failed"] == 0

    return run_benchmark(
        measure_queue,
        prefix="robo-queue-throughput-",
        dagster_yaml=args.dagster_yaml,
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())

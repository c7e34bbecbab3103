"""End-to-end latency of a market event: inbox push -> trade recommendations materialized.

    python benchmarks/event_latency.py [--events 20] [--interval 2.0] [--timeout 600]
    python benchmarks/event_latency.py --burst 200

What it does, in a temporary directory (removed at the end unless --keep, or on failure):

1. setup (timed apart, not measured): copies the repo's ``dagster.yaml`` into a fresh
   DAGSTER_HOME and runs ``python -m robo_dagster.cli.quickstart --sessions 260 --replays 0``
   against a fresh DuckDB file (ROBO_DUCKDB_PATH), market clock pinned with ROBO_AS_OF;
2. starts a real ``dagster dev -w workspace.yaml -h 127.0.0.1 -p <free port>`` in its own
   process group (``start_new_session=True``, what ``set -m`` gives a shell job), waits
   for GET /server_info, for the code location to load (a load error is retried: others
   may be mid-edit) and for the first tick of ``market_event_inbox_sensor``;
3. pushes ``--events`` market events into the inbox (``push_event``), one every
   ``--interval`` seconds, rotating the seed's five symbols; every 5th is critical
   (impact 0.9, sentiment -0.6: priority 10), the others high impact (priority 9). The
   push time is the wall clock just before ``push_event`` is called. With ``--burst N``
   it pushes N events back to back instead: every 5th actionable, every 5th of those
   critical, the rest below the rules' threshold;
4. polls the instance until the (coalesced) ``recommendations_job`` run carrying each
   actionable event (tag ``robo/event_ids``) has finished, then reads the run record
   and event log:

   latency = ASSET_MATERIALIZATION of ai_analysis/trade_recommendations - push
           = sensor  (push -> run created by the sensor tick; includes the push itself)
           + queue   (created -> RUN_STARTING, the queued-run daemon dequeues it)
           + launch  (RUN_STARTING -> RUN_START: the code server spawns the run worker,
                      which imports the code and loads the job)
           + execute (RUN_START -> the materialization);

5. prints a per-event table, the median step times, the runs other sensors started
   meanwhile, and, as the very last line, one JSON object with the headline numbers.

``dagster dev`` is stopped with one SIGTERM to its process group in a ``finally`` (also
on Ctrl-C), escalating to SIGKILL if the group has not gone after 60 s. Exit status
(``harness.run_benchmark``): 0, 1 if a run failed or timed out, 2 if the setup or
``dagster dev`` could not start.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventLogEntry,
    RunsFilter,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # the benchmarks dir is not a package
    FINISHED,
    LOCATION,
    ROOT,
    BenchmarkError,
    Scratch,
    dagster_dev,
    free_port,
    graphql,
    max_overlap,
    run_benchmark,
    tail,
    wait_until_ready,
)

SYMBOLS = ("AAPL", "GOOGL", "MSFT", "TSLA", "NVDA")
SENSOR = "market_event_inbox_sensor"
JOB = "recommendations_job"
TARGET = AssetKey(["ai_analysis", "trade_recommendations"])
EVENT_TAG = "robo/event_ids"  # the coalesced run's events: market-event-<id>,...
PARTS = ("sensor", "queue", "launch", "execute")
DEQUEUE_PASS_S = 1.0  # dagster.yaml's dequeue_interval_seconds


@dataclass
class Pushed:
    event_id: int
    symbol: str
    critical: bool
    actionable: bool
    pushed_at: float  # wall clock just before push_event
    push_s: float  # how long push_event took (mostly the DuckDB file lock)


@dataclass
class Measured:
    pushed: Pushed
    run_id: str
    status: str
    priority: str
    created: float
    enqueued: float | None
    starting: float | None
    worker_started: float | None  # the run worker's "Started process for run" event
    started: float | None
    materialized: float | None
    ended: float | None
    steps: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the first error of a failed run

    @property
    def parts(self) -> dict[str, float | None]:
        def diff(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        return {
            "sensor": diff(self.pushed.pushed_at, self.created),
            "queue": diff(self.created, self.starting),
            "launch": diff(self.starting, self.started),
            "execute": diff(self.started, self.materialized),
        }

    @property
    def latency(self) -> float | None:
        if self.materialized is None:
            return None
        return self.materialized - self.pushed.pushed_at


# --------------------------------------------------------------------------- dagster dev


# --------------------------------------------------------------------------- measuring


def event_payload(index: int, burst: bool = False) -> tuple[str, bool, bool, dict[str, Any]]:
    """(symbol, critical, actionable, payload) of the ``index``-th event. Spaced events
    are all actionable, every 5th critical. In a burst, every 5th event is actionable
    and every 5th of those critical (200 events: 40 actionable, 8 critical); the rest
    are below the rules' threshold (impact 0.3) and start nothing."""
    symbol = SYMBOLS[index % len(SYMBOLS)]
    if burst:
        actionable = index % 5 == 0
        critical = actionable and (index // 5) % 5 == 4
    else:
        actionable, critical = True, index % 5 == 4
    impact = (0.9 if critical else 0.75) if actionable else 0.3
    payload: dict[str, Any] = {
        "type": "news",
        "symbol": symbol,
        "impact": impact,
        "sentiment": -0.6 if critical else 0.2,
        "headline": f"benchmark event {index + 1}: {'critical ' if critical else ''}news on {symbol}",
    }
    return symbol, critical, actionable, payload


def push_events(count: int, interval: float, database: str, burst: bool = False) -> list[Pushed]:
    from robo_dagster.market_data.inbox import push_event

    pushed: list[Pushed] = []
    first = time.monotonic()
    for index in range(count):
        # On a fixed grid, so that a slow push (waiting on the file lock) does not shift
        # the ones after it.
        delay = first + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        symbol, critical, actionable, payload = event_payload(index, burst)
        at, began = time.time(), time.monotonic()
        event_id = push_event(payload, source="benchmark", database=database)
        pushed.append(Pushed(event_id, symbol, critical, actionable, at, time.monotonic() - began))
        if not burst:
            print(
                f"  pushed event {event_id} ({symbol}{', critical' if critical else ''}) "
                f"in {pushed[-1].push_s * 1000:.0f} ms",
                flush=True,
            )
    return pushed


def wait_for_runs(
    instance: DagsterInstance, pushed: list[Pushed], timeout_s: float
) -> tuple[dict[int, Any], list[str]]:
    """Run records by event id once the run of every actionable event has finished (or
    the timeout), and what is missing. An event in more than one run is an error."""
    deadline = time.monotonic() + timeout_s
    wanted = {p.event_id for p in pushed if p.actionable}
    while True:
        records = instance.get_run_records(filters=RunsFilter(job_name=JOB))
        by_event: dict[int, Any] = {}
        for record in records:
            for event_id in run_event_ids(record.dagster_run.tags):
                if event_id in by_event:
                    raise BenchmarkError(f"event {event_id} is in two runs")
                if event_id in wanted:
                    by_event[event_id] = record
        missing = [
            f"{event_id} (no run yet)"
            if event_id not in by_event
            else f"{event_id} (run {by_event[event_id].dagster_run.run_id[:8]} "
            f"{by_event[event_id].dagster_run.status.value})"
            for event_id in sorted(wanted)
            if event_id not in by_event or by_event[event_id].dagster_run.status not in FINISHED
        ]
        if not missing or time.monotonic() > deadline:
            return by_event, missing
        time.sleep(1)


def run_event_ids(tags: dict[str, str]) -> list[int]:
    """The inbox event ids a coalesced run carries."""
    return [
        int(part.removeprefix("market-event-"))
        for part in tags.get(EVENT_TAG, "").split(",")
        if part.startswith("market-event-")
    ]


def first_time(logs: list[EventLogEntry], event_type: DagsterEventType) -> float | None:
    for entry in logs:
        if entry.dagster_event and entry.dagster_event.event_type == event_type:
            return entry.timestamp
    return None


def measure(instance: DagsterInstance, pushed: Pushed, record: Any) -> Measured:
    run = record.dagster_run
    logs = list(instance.all_logs(run.run_id))
    materialized = None
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        if entry.dagster_event and entry.dagster_event.asset_key == TARGET:
            materialized = entry.timestamp
            break
    worker_started = next(
        (
            e.timestamp
            for e in logs
            if e.dagster_event
            and e.dagster_event.event_type == DagsterEventType.ENGINE_EVENT
            and (e.dagster_event.message or "").startswith("Started process for run")
        ),
        None,
    )
    step_start: dict[str, float] = {}
    steps: dict[str, float] = {}
    for e in logs:
        if not e.dagster_event or not e.step_key:
            continue
        if e.dagster_event.event_type == DagsterEventType.STEP_START:
            step_start[e.step_key] = e.timestamp
        elif (
            e.dagster_event.event_type
            in (
                DagsterEventType.STEP_SUCCESS,
                DagsterEventType.STEP_FAILURE,
            )
            and e.step_key in step_start
        ):
            steps[e.step_key] = e.timestamp - step_start[e.step_key]
    ended = first_time(logs, DagsterEventType.RUN_SUCCESS) or first_time(
        logs, DagsterEventType.RUN_FAILURE
    )
    error = None
    if run.status != DagsterRunStatus.SUCCESS:
        for e in logs:
            event = e.dagster_event
            info = None
            if event and event.event_type == DagsterEventType.STEP_FAILURE:
                info = event.step_failure_data.error
            elif event and event.event_type == DagsterEventType.ENGINE_EVENT:
                info = event.engine_event_data.error if event.engine_event_data else None
            if info is not None:
                error = " ".join(info.message.split())[:300]
                break
    return Measured(
        pushed=pushed,
        run_id=run.run_id,
        status=run.status.value,
        priority=run.tags.get("dagster/priority", "?"),
        created=record.create_timestamp.timestamp(),
        enqueued=first_time(logs, DagsterEventType.RUN_ENQUEUED),
        starting=first_time(logs, DagsterEventType.RUN_STARTING),
        worker_started=worker_started,
        started=first_time(logs, DagsterEventType.RUN_START),
        materialized=materialized,
        ended=ended,
        steps=steps,
        error=error,
    )


def background_runs(instance: DagsterInstance, since: float) -> list[Any]:
    """Runs created since ``since`` that no benchmark event started (other sensors,
    schedules, automation)."""
    return [
        r
        for r in instance.get_run_records()
        if r.create_timestamp.timestamp() >= since and EVENT_TAG not in r.dagster_run.tags
    ]


def inbox_ticks(port: int, since: float) -> list[dict[str, Any]]:
    """The inbox sensor's ticks since ``since``, oldest first."""
    query = (
        "{ sensorOrError(sensorSelector: {repositoryLocationName: "
        f'"{LOCATION}", repositoryName: "__repository__", sensorName: "{SENSOR}"}}) '
        "{ __typename ... on Sensor { sensorState { ticks(limit: 1000) "
        "{ timestamp endTimestamp status runIds } } } } }"
    )
    sensor = graphql(port, query)["sensorOrError"]
    if sensor["__typename"] != "Sensor":
        return []
    ticks = [t for t in sensor["sensorState"]["ticks"] if t["timestamp"] >= since]
    return sorted(ticks, key=lambda t: t["timestamp"])


# --------------------------------------------------------------------------- reporting


def fmt(value: float | None, width: int = 7) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def print_report(
    measured: list[Measured],
    background: list[Any],
    instance: DagsterInstance,
    ticks: list[dict[str, Any]],
) -> None:
    print()
    header = (
        f"{'event':>5} {'sym':<5} {'prio':>4} {'push':>6} {'sensor':>7} {'queue':>7} "
        f"{'launch':>7} {'(spawn':>7} {'load)':>7} {'execute':>7} {'latency':>8} "
        f"{'run end':>7}  status   run"
    )
    print(header)
    print("-" * len(header))
    for m in measured:
        parts = m.parts
        spawn = (
            None
            if m.worker_started is None or m.starting is None
            else m.worker_started - m.starting
        )
        load = (
            None if m.worker_started is None or m.started is None else m.started - m.worker_started
        )
        after = None if m.ended is None or m.materialized is None else m.ended - m.materialized
        latency = m.latency
        print(
            f"{m.pushed.event_id:>5} {m.pushed.symbol:<5} {m.priority:>4} "
            f"{m.pushed.push_s:>6.2f} {fmt(parts['sensor'])} {fmt(parts['queue'])} "
            f"{fmt(parts['launch'])} {fmt(spawn)} {fmt(load)} {fmt(parts['execute'])} "
            f"{fmt(latency, 8)} {fmt(after)}  {m.status:<8} {m.run_id[:8]}"
        )
    print("-" * len(header))

    def col(fn: Any) -> list[float | None]:
        return [fn(m) for m in measured]

    medians = {
        "push": median(col(lambda m: m.pushed.push_s)),
        **{part: median(col(lambda m, p=part: m.parts[p])) for part in PARTS},
        "spawn": median(
            col(
                lambda m: (
                    None
                    if m.worker_started is None or m.starting is None
                    else m.worker_started - m.starting
                )
            )
        ),
        "load": median(
            col(
                lambda m: (
                    None
                    if m.worker_started is None or m.started is None
                    else m.started - m.worker_started
                )
            )
        ),
        "latency": median(col(lambda m: m.latency)),
        "after": median(
            col(
                lambda m: (
                    None if m.ended is None or m.materialized is None else m.ended - m.materialized
                )
            )
        ),
    }
    print(
        f"{'p50':>5} {'':<5} {'':>4} {fmt(medians['push'], 6)} {fmt(medians['sensor'])} "
        f"{fmt(medians['queue'])} {fmt(medians['launch'])} {fmt(medians['spawn'])} "
        f"{fmt(medians['load'])} {fmt(medians['execute'])} {fmt(medians['latency'], 8)} "
        f"{fmt(medians['after'])}"
    )
    print(
        "  push: push_event call; sensor: push -> run created; queue: created -> RUN_STARTING; "
        "launch: RUN_STARTING -> RUN_START\n  (spawn: -> the run worker's first event, load: "
        "-> RUN_START); execute: RUN_START -> trade_recommendations materialized;\n"
        "  run end: materialization -> RUN_SUCCESS. Seconds."
    )

    # Where the execution goes: the median duration of each step, in run order.
    durations: dict[str, list[float]] = defaultdict(list)
    for m in measured:
        for step, seconds in m.steps.items():
            durations[step].append(seconds)
    if durations:
        print("\nmedian step durations in the event runs (s):")
        for step, values in sorted(durations.items(), key=lambda kv: -float(np.median(kv[1]))):
            print(f"  {float(np.median(values)):>6.2f}  {step}")
        pre = median(
            [
                None
                if m.started is None or not m.steps
                else min(
                    e.timestamp
                    for e in instance.all_logs(m.run_id, of_type=DagsterEventType.STEP_START)
                )
                - m.started
                for m in measured
            ]
        )
        print(f"  {fmt(pre, 6)}  (RUN_START -> first STEP_START)")

    intervals = [
        (m.started, m.ended) for m in measured if m.started is not None and m.ended is not None
    ]
    if intervals:
        print(f"\nmost event runs executing at once: {max_overlap(intervals)}")
    launches = sorted(m.starting for m in measured if m.starting is not None)
    gaps = [b - a for a, b in pairwise(launches)]
    if gaps:
        print(
            f"queued-run daemon: {len(launches)} launches, a median {np.median(gaps):.2f} s "
            f"apart (each launch waits for the code server to spawn the run worker: "
            f"median {fmt(medians['spawn'], 0).strip()} s)"
        )
    if ticks:
        spacing: list[float | None] = [b["timestamp"] - a["timestamp"] for a, b in pairwise(ticks)]
        busy = [t for t in ticks if t["runIds"]]
        took: list[float | None] = [
            t["endTimestamp"] - t["timestamp"] for t in busy if t["endTimestamp"]
        ]

        def short(value: float | None) -> str:
            return fmt(value, 0).strip()

        print(
            f"inbox sensor: {len(ticks)} ticks, a median {short(median(spacing))} s apart "
            f"(max {short(max((v for v in spacing if v is not None), default=None))} s); "
            f"{len(busy)} launched {sum(len(t['runIds']) for t in busy)} run(s), taking a "
            f"median {short(median(took))} s "
            f"(max {short(max((v for v in took if v is not None), default=None))} s)"
        )
    jobs = Counter(r.dagster_run.job_name for r in background)
    print(
        f"other runs created meanwhile: {len(background)}"
        + (f" ({', '.join(f'{n} x {j}' for j, n in jobs.most_common())})" if background else "")
    )


def burst_summary(pushed: list[Pushed], measured: list[Measured]) -> dict[str, Any]:
    """The burst's figures: the first push to the last actionable event's
    recommendations, how many runs, and whether the queue took each critical run no
    later than the other runs created with or after it. The queue dequeues in passes
    (``dequeue_interval_seconds: 1``) and launches a pass's runs on two threads, so two
    runs of one pass that both find a free slot start in either order: "first" is at
    the granularity of a pass."""
    done = [m.materialized for m in measured if m.materialized is not None]
    runs = {m.run_id: m for m in measured}
    critical = [m for m in runs.values() if m.priority == "10" and m.starting is not None]
    others = [m for m in runs.values() if m.priority != "10" and m.starting is not None]
    critical_first = all(
        c.starting <= o.starting + DEQUEUE_PASS_S  # type: ignore[operator]
        for c in critical
        for o in others
        if o.created >= c.created - 0.5
    )
    starts = {m.priority: m.starting for m in runs.values() if m.starting is not None}
    return {
        "burst_s": round(max(done) - pushed[0].pushed_at, 2) if done else None,
        "actionable": sum(p.actionable for p in pushed),
        "critical": sum(p.critical for p in pushed),
        "critical_first": critical_first,
        "critical_dequeued_after_s": (
            round(starts["10"] - starts["9"], 2) if {"9", "10"} <= set(starts) else None
        ),
        "events_per_run_max": max(Counter(m.run_id for m in measured).values(), default=0),
    }


# --------------------------------------------------------------------------- main


def run_setup(env: dict[str, str], sessions: int, log_path: Path) -> float:
    began = time.monotonic()
    with open(log_path, "wb") as log:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "robo_dagster.cli.quickstart",
                "--sessions",
                str(sessions),
                "--replays",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    if done.returncode != 0:
        raise BenchmarkError(f"quickstart failed ({done.returncode}):\n{tail(log_path)}")
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20, help="events to push (default 20)")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between pushes (default 2.0)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the runs (default 600)"
    )
    parser.add_argument(
        "--sessions", type=int, default=260, help="sessions the setup backfills (default 260)"
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=420.0,
        help="seconds for dagster dev to be ready (default 420, with load retries)",
    )
    parser.add_argument(
        "--load-retries",
        type=int,
        default=3,
        help="reloads of a code location that failed to load, a minute apart (default 3)",
    )
    parser.add_argument(
        "--dagster-yaml",
        type=Path,
        default=ROOT / "dagster.yaml",
        help="instance configuration copied into the temporary DAGSTER_HOME (default: the "
        "repo's dagster.yaml); to try another run-queue or daemon setting",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=0,
        help="push this many events at once instead (every 5th actionable, every 5th of "
        "those critical) and time the first push -> the last recommendations",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.burst:
        args.events, args.interval = args.burst, 0.0
    if args.events < 1:
        parser.error("--events must be at least 1")

    def measure_events(scratch: Scratch) -> tuple[dict[str, Any], bool]:
        env = scratch.env
        print(f"setup: quickstart --sessions {args.sessions} --replays 0 ...", flush=True)
        setup_s = run_setup(env, args.sessions, scratch.tmp / "quickstart.log")
        print(f"setup: {setup_s:.1f} s", flush=True)

        port = free_port()
        log_path = scratch.tmp / "dagster_dev.log"
        began = time.monotonic()
        with dagster_dev(env, port, log_path) as proc:
            wait_until_ready(proc, port, log_path, args.startup_timeout, args.load_retries, SENSOR)
            print(
                f"dagster dev on http://127.0.0.1:{port} ready in "
                f"{time.monotonic() - began:.1f} s (the inbox sensor has ticked)",
                flush=True,
            )
            since = time.time()
            if args.burst:
                print(f"pushing a burst of {args.events} events", flush=True)
            else:
                print(f"pushing {args.events} events, one every {args.interval:g} s", flush=True)
            pushed = push_events(
                args.events, args.interval, scratch.database, burst=bool(args.burst)
            )
            with DagsterInstance.from_config(str(scratch.home)) as instance:
                records, missing = wait_for_runs(instance, pushed, args.timeout)
                measured = [
                    measure(instance, p, records[p.event_id])
                    for p in pushed
                    if p.event_id in records
                ]
                background = background_runs(instance, since)
                print_report(measured, background, instance, inbox_ticks(port, since))
            # still inside the group's lifetime: a final look at the log on problems
            if missing:
                print(f"\ndagster dev log tail:\n{tail(log_path, 2000)}", file=sys.stderr)

        failed = [m for m in measured if m.status != DagsterRunStatus.SUCCESS.value]
        no_materialization = [
            m for m in measured if m.status == DagsterRunStatus.SUCCESS.value and m.latency is None
        ]
        latencies = [m.latency for m in measured if m.latency is not None]
        if missing:
            print(
                f"\nTIMEOUT after {args.timeout:.0f} s: {len(missing)} event(s) without a "
                f"finished run: {', '.join(missing)}",
                file=sys.stderr,
            )
        for m in failed:
            print(
                f"run {m.run_id} of event {m.pushed.event_id}: {m.status}: {m.error}",
                file=sys.stderr,
            )
        for m in no_materialization:
            print(
                f"run {m.run_id} of event {m.pushed.event_id}: no materialization of {TARGET}",
                file=sys.stderr,
            )

        def pct(q: float) -> float | None:
            return round(float(np.percentile(latencies, q)), 3) if latencies else None

        summary = {
            "n": len(latencies),
            "p50_s": pct(50),
            "p95_s": pct(95),
            "max_s": round(max(latencies), 3) if latencies else None,
            "breakdown_p50_s": {
                part: (
                    None
                    if (v := median([m.parts[part] for m in measured])) is None
                    else round(v, 3)
                )
                for part in PARTS
            },
            "priorities": dict(sorted(Counter(m.priority for m in measured).items())),
            "failed_runs": len(failed) + len(no_materialization),
            "timed_out": len(missing),
            "background_runs": len(background),
            "setup_s": round(setup_s, 1),
            "events": args.events,
            "interval_s": args.interval,
            "runs": len({m.run_id for m in measured}),
        }
        if args.burst:
            summary.update(burst_summary(pushed, measured))
        ok = not (missing or failed or no_materialization)
        return summary, ok

    return run_benchmark(
        measure_events,
        prefix="robo-event-latency-",
        dagster_yaml=args.dagster_yaml,
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())

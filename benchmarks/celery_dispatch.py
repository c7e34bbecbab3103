"""What Celery dispatch costs, per run and per step, against the single machine.

    python benchmarks/celery_dispatch.py --runs 10 --sessions 20

In one sitting, on one pinned small market (the seed's symbols and the default
watchlist, 2026-11-25), twice:

1. **The cluster** (``robo_dagster.cluster.local``, what ``make cluster`` starts, on free
   ports in a temporary folder): Postgres, Redis, webserver, daemon, two workers.
2. **The single machine**: ``dagster dev`` on ``dagster.yaml`` (SQLite, the default
   run launcher, the multiprocess executor), as ``make ui`` runs it.

On each, ``--runs`` one-asset runs (``--target``, default ``portfolio/account_balances``)
go through the run queue, then one ``parallel_pipeline`` over ``--sessions`` sessions.

- **Per run**: ``launch_s`` is RUN_STARTING (the daemon dequeued the run and called the
  launcher) to RUN_START (the run's worker executes the job). On the cluster that is
  the hop through Redis to a worker process that has the code loaded already; on the
  single machine it is a new interpreter that imports the definitions.
- **Per step** of ``parallel_pipeline``: ``step_start_s`` is from the executor's
  decision to run a step (the cluster: "Submitting celery task for step"; the single
  machine: STEP_WORKER_STARTING) to its STEP_START. The cluster also reports
  ``queue_hop_s``: submission to "Executing steps ... in celery worker".

Medians, with the cluster ÷ single-machine ratio. The JSON summary is the last line;
exit 0 when every run succeeded, 1 when one failed, 2 when nothing could be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # the benchmarks dir is not a package
    ROOT,
    BenchmarkError,
    dagster_dev,
    free_port,
    tail,
    wait_until_ready,
)
from queue_throughput import measure, wait_for_runs

AS_OF = "2026-11-25"
HOST = "127.0.0.1"
SUBMITTING = "Submitting celery task for step"
IN_WORKER = "in celery worker"


def market_environment(tmp: Path) -> dict[str, str]:
    """The pinned market both set-ups run on, each with its own DuckDB file."""
    return {
        "ROBO_AS_OF": AS_OF,
        "ROBO_SEED": "7",
        "ROBO_UNIVERSE_SIZE": "0",
        "ROBO_DUCKDB_PATH": str(tmp / "robo.duckdb"),
        "ROBO_CACHE_DIR": str(tmp / "cache"),
    }


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that would switch cluster mode on."""
    drop = ("ROBO_CELERY_", "DAGSTER_PG_", "DAGSTER_HOME", "ROBO_WAREHOUSE", "ROBO_LAKE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def step_starts(instance: Any, run_id: str) -> dict[str, list[float]]:
    """Per step of ``run_id``: the delay from the executor's decision to STEP_START, and
    on Celery the hop from submission to the worker's first event."""
    from dagster import DagsterEventType

    decided: dict[str, float] = {}
    in_worker: dict[str, float] = {}
    started: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        message = event.message or entry.message or ""
        if event.event_type == DagsterEventType.STEP_WORKER_STARTING or (
            event.event_type == DagsterEventType.ENGINE_EVENT and message.startswith(SUBMITTING)
        ):
            decided.setdefault(entry.step_key, entry.timestamp)
        elif event.event_type == DagsterEventType.ENGINE_EVENT and IN_WORKER in message:
            in_worker.setdefault(entry.step_key, entry.timestamp)
        elif event.event_type == DagsterEventType.STEP_START:
            started.setdefault(entry.step_key, entry.timestamp)
    return {
        "step_start_s": [started[k] - t for k, t in decided.items() if k in started],
        "queue_hop_s": [in_worker[k] - t for k, t in decided.items() if k in in_worker],
    }


def exercise(
    instance_factory: Callable[[], Any], port: int, runs: int, target: str, sessions: int
) -> dict[str, Any]:
    """The one-asset runs, then the pipeline, through the webserver at ``port``."""
    from robo_dagster.tasks.submission import launch, plan_task

    sys.path.insert(0, str(ROOT))
    from tests.conftest import range_tags, session_range

    task = plan_task(target)
    submitted = [(launch(task, HOST, port), time.time()) for _ in range(runs)]
    with instance_factory() as instance:
        unfinished = wait_for_runs(instance, [r for r, _ in submitted], 600)
        measured = [measure(instance, r, at) for r, at in submitted]
    pipeline = plan_task("parallel_pipeline")
    pipeline.tags.update(range_tags(*session_range(sessions, AS_OF)))
    pipeline_id = launch(pipeline, HOST, port)
    with instance_factory() as instance:
        unfinished += wait_for_runs(instance, [pipeline_id], 900)
        pipeline_run = measure(instance, pipeline_id, time.time())
        steps = step_starts(instance, pipeline_id)
    failed = [m.run_id for m in [*measured, pipeline_run] if m.status != "SUCCESS"]
    return {
        "runs": runs,
        "launch_s": median([m.launch for m in measured if m.launch is not None]),
        "execute_s": median([m.execute for m in measured if m.execute is not None]),
        "pipeline_wall_s": pipeline_run.execute,
        "pipeline_steps": len(steps["step_start_s"]),
        "step_start_s": median(steps["step_start_s"]),
        "queue_hop_s": median(steps["queue_hop_s"]),
        "failed": len(failed) + len(unfinished),
        "errors": [m.error for m in [*measured, pipeline_run] if m.error][:3],
    }


def on_the_cluster(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dagster import DagsterInstance

    from robo_dagster.cluster.local import Layout, down, up

    layout = Layout(
        tmp / "cluster", webserver_port=free_port(), postgres_port=free_port(),
        redis_port=free_port(),
    )  # fmt: skip
    base = clean_environment() | market_environment(tmp / "cluster")
    began = time.monotonic()
    env = up(layout, env=base)
    print(f"cluster up in {time.monotonic() - began:.1f} s", flush=True)
    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("DAGSTER_", "ROBO_"))})
        return exercise(
            lambda: DagsterInstance.from_config(str(layout.home)),
            layout.webserver_port, args.runs, args.target, args.sessions,
        )  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
        down(layout)


def on_one_machine(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dagster import DagsterInstance

    home = tmp / "single" / "home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = clean_environment() | market_environment(tmp / "single") | {"DAGSTER_HOME": str(home)}
    port = free_port()
    log_path = tmp / "single" / "dagster_dev.log"
    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("DAGSTER_", "ROBO_"))})
        with dagster_dev(env, port, log_path) as proc:
            wait_until_ready(proc, port, log_path, 420, 3)
            print("dagster dev ready", flush=True)
            try:
                return exercise(
                    lambda: DagsterInstance.from_config(str(home)),
                    port, args.runs, args.target, args.sessions,
                )  # fmt: skip
            except Exception:
                print(tail(log_path, 2000), file=sys.stderr)
                raise
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="one-asset runs on each (10)")
    parser.add_argument("--target", default="portfolio/account_balances")
    parser.add_argument("--sessions", type=int, default=20, help="parallel_pipeline's sessions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.sessions < 1:
        parser.error("--runs and --sessions must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="robo-celery-dispatch-"))
    print(f"working directory: {tmp}", flush=True)
    try:
        cluster = on_the_cluster(tmp, args)
        print(f"cluster: {cluster}", flush=True)
        single = on_one_machine(tmp, args)
        print(f"single machine: {single}", flush=True)
    except (BenchmarkError, OSError, RuntimeError, TimeoutError) as exc:
        print(f"benchmark: {exc}\nkept {tmp}", file=sys.stderr)
        return 2
    summary = {
        "cluster": cluster,
        "single_machine": single,
        "launch_ratio": ratio(cluster["launch_s"], single["launch_s"]),
        "step_start_ratio": ratio(cluster["step_start_s"], single["step_start_s"]),
        "pipeline_ratio": ratio(cluster["pipeline_wall_s"], single["pipeline_wall_s"]),
    }
    ok = cluster["failed"] == 0 and single["failed"] == 0
    if ok and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}", file=sys.stderr)
    print(json.dumps(summary), flush=True)  # the very last line
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

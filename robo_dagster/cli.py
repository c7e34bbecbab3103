"""``robo-dagster``: submit tasks to a running robo-dagster from the shell.

    robo-dagster submit ai_analysis/trade_recommendations --priority 9
    robo-dagster orchestrate parallel --max-concurrent 2
    robo-dagster ai recommendations --risk-tolerance conservative --max-recommendations 3

Each prints the run id. Exit status: 0 launched, 2 refused before launch (bad name,
priority, symbol or option), 3 no webserver.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from robo_dagster.monitoring.commands import (
    MONITORING_COMMANDS,
    add_monitoring_commands,
    run_monitoring_command,
)
from robo_dagster.submission import (
    Task,
    TaskRefused,
    WebserverUnavailable,
    launch,
    plan_task,
    recommendations_config,
)

ANALYSES = {
    "morning-prep": "morning_prep_job",
    "evening-review": "evening_review_job",
    "recommendations": "recommendations_job",
}
MODES = {"sequential": "sequential_pipeline", "parallel": "parallel_pipeline"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robo-dagster", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="launch a job or an asset (group/name)")
    submit.add_argument("target", help="a job name, or an asset key such as market_data/news")
    submit.add_argument("--priority", help="1 (BACKGROUND) to 10 (CRITICAL)")
    submit.add_argument(
        "--symbols", nargs="+", help="the run's subject, checked against the universe"
    )
    submit.add_argument("--partition", help="the session for partitioned targets (YYYY-MM-DD)")
    submit.add_argument(
        "--after", nargs="+", metavar="RUN_ID", help="hold the task until these runs succeed"
    )

    orchestrate = commands.add_parser("orchestrate", help="run the whole graph")
    orchestrate.add_argument("mode", choices=sorted(MODES))
    orchestrate.add_argument("--max-concurrent", type=int, help="parallel mode: steps at once")
    orchestrate.add_argument("--priority")
    orchestrate.add_argument("--partition", help="the session (default: the latest closed)")

    ai = commands.add_parser("ai", help="run one analysis with the seed's priority")
    ai.add_argument("analysis", choices=sorted(ANALYSES))
    ai.add_argument("--priority", help="override the seed's priority (1-10)")
    ai.add_argument("--risk-tolerance", choices=["conservative", "moderate", "aggressive"])
    ai.add_argument("--max-recommendations", type=int)
    ai.add_argument("--symbols", nargs="+")

    tasks = commands.add_parser("tasks", help="the run queue: queued, running, held, finished")
    tasks.add_argument("--limit", type=int, default=10, help="finished runs to show")
    tasks.add_argument("--json", action="store_true")
    add_monitoring_commands(commands)
    return parser


def _tasks(args: argparse.Namespace) -> int:
    home = os.environ.get("DAGSTER_HOME")
    if not home or not os.path.isdir(home):
        print(
            f"no Dagster instance at DAGSTER_HOME={home or '(unset)'}: run `make run` first, "
            "then export DAGSTER_HOME=$PWD/.dagster_home",
            file=sys.stderr,
        )
        return 3
    from dagster import DagsterInstance

    from robo_dagster.task_status import queue_status, render

    with DagsterInstance.get() as instance:
        status = queue_status(instance, finished=args.limit)
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


def _task(args: argparse.Namespace) -> Task:
    if args.command == "submit":
        return plan_task(args.target, args.priority, args.symbols, args.partition, after=args.after)
    if args.command == "orchestrate":
        config: dict[str, Any] = {}
        if args.max_concurrent is not None:
            if args.mode != "parallel":
                raise TaskRefused("--max-concurrent applies to the parallel mode only")
            if args.max_concurrent < 1:
                raise TaskRefused("--max-concurrent must be 1 or more")
            config = {"execution": {"config": {"max_concurrent": args.max_concurrent}}}
        return plan_task(MODES[args.mode], args.priority, None, args.partition, config)
    options = (args.risk_tolerance, args.max_recommendations)
    if args.analysis != "recommendations" and any(o is not None for o in options):
        raise TaskRefused("--risk-tolerance and --max-recommendations apply to recommendations")
    config = recommendations_config(*options) if args.analysis == "recommendations" else {}
    return plan_task(ANALYSES[args.analysis], args.priority, args.symbols, None, config)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``robo-dagster`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "tasks":
        return _tasks(args)
    if args.command in MONITORING_COMMANDS:
        return run_monitoring_command(args)
    try:
        task = _task(args)
        run_id = launch(task, args.host, args.port)
    except TaskRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except WebserverUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3
    print(run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``robo-dagster``: submit tasks to a running robo-dagster from the shell.

    robo-dagster submit ai_analysis/trade_recommendations --priority 9
    robo-dagster orchestrate parallel --max-concurrent 2
    robo-dagster ai recommendations --risk-tolerance conservative --max-recommendations 3

Each prints the run id. Exit status: 0 launched, 2 refused before launch (bad name,
priority, symbol or option), 3 no webserver.

    robo-dagster serve [--host 127.0.0.1] [--port 8001]    the REST API (``api``)
    robo-dagster audit [--since 2h] [--limit 50]           the API's audit log
    robo-dagster tasks [JOB | group/asset]                 the run queue, or one target's runs
    robo-dagster alerts resolve ID... | --all-from-run RUN_ID   alerts no later run resolves

A misspelt job, asset, mode or analysis is refused with the closest names ("did you
mean …?") and every job and asset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable

from robo_dagster.monitoring.commands import (
    MONITORING_COMMANDS,
    Unavailable,
    add_monitoring_commands,
    print_rows,
    require_dagster_home,
    run_monitoring_command,
    since_argument,
    terminal_width,
)
from robo_dagster.tasks.submission import (
    ANALYSES,
    MODES,
    Task,
    TaskRefused,
    WebserverUnavailable,
    launch,
    plan_analysis,
    plan_orchestration,
    plan_task,
    target_names,
)
from robo_dagster.tasks.suggestions import did_you_mean, unknown_target


def _one_of(options: Iterable[str], what: str) -> Callable[[str], str]:
    """An argparse type that takes one of ``options`` and refuses anything else with the
    closest option ("did you mean …?"), where ``choices`` would only list them."""
    known = sorted(options)

    def parse(value: str) -> str:
        if value in known:
            return value
        raise argparse.ArgumentTypeError(
            f"unknown {what} {value!r}: expected one of {', '.join(known)}"
            f"{did_you_mean(value, known)}"
        )

    parse.__name__ = what  # argparse names the type in some messages
    return parse


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
    orchestrate.add_argument("mode", type=_one_of(MODES, "mode"), metavar="{parallel,sequential}")
    orchestrate.add_argument("--max-concurrent", type=int, help="parallel mode: steps at once")
    orchestrate.add_argument("--priority")
    orchestrate.add_argument("--partition", help="the session (default: the latest closed)")

    ai = commands.add_parser("ai", help="run one analysis with the seed's priority")
    ai.add_argument(
        "analysis",
        type=_one_of(ANALYSES, "analysis"),
        metavar="{" + ",".join(sorted(ANALYSES)) + "}",
    )
    ai.add_argument("--priority", help="override the seed's priority (1-10)")
    ai.add_argument("--risk-tolerance", choices=["conservative", "moderate", "aggressive"])
    ai.add_argument("--max-recommendations", type=int)
    ai.add_argument("--symbols", nargs="+")

    tasks = commands.add_parser("tasks", help="the run queue: queued, running, held, finished")
    tasks.add_argument(
        "target", nargs="?", help="only the runs of this job, or that materialize this asset"
    )
    tasks.add_argument("--limit", type=int, default=10, help="finished runs to show")
    tasks.add_argument("--json", action="store_true")
    add_monitoring_commands(commands)

    serve = commands.add_parser(
        "serve", help="the REST API (FastAPI) over the webserver at the top-level --host/--port"
    )
    serve.add_argument("--host", dest="api_host", default="127.0.0.1", help="bind address")
    serve.add_argument("--port", dest="api_port", type=int, default=8001)

    audit = commands.add_parser("audit", help="the REST API's audit log, newest first")
    audit.add_argument("--since", type=since_argument, help="ISO time (UTC) or an age such as 2h")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--json", action="store_true")
    return parser


def _audit(args: argparse.Namespace) -> int:
    from robo_dagster import settings
    from robo_dagster.api.audit import list_audit

    rows = list_audit(settings.duckdb_path(), args.since, args.limit)
    columns = ("requested_at", "token_name", "client", "method", "endpoint", "status", "outcome")
    print_rows(rows, (*columns, "run_id", "event_id", "detail"), args.json, "no audit rows")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    target, is_asset = args.target, False
    if target is not None:
        jobs, assets = target_names()
        if target not in jobs | assets:
            return _refuse(unknown_target(target, jobs, assets))
        is_asset = target in assets
    try:
        require_dagster_home()
    except Unavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3
    from dagster import DagsterInstance

    from robo_dagster.tasks.status import queue_status, render

    with DagsterInstance.get() as instance:
        status = queue_status(
            instance, finished=args.limit, target=target, target_is_asset=is_asset
        )
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


def _refuse(reason: str) -> int:
    """Print a refusal on stderr, each line wrapped between words to the terminal (the
    lists of jobs and assets are long); exit status 2."""
    width = terminal_width()
    lines = reason.splitlines() or [""]
    lines[0] = f"refused: {lines[0]}"
    for line in lines:
        if width is None:
            print(line, file=sys.stderr)
        else:
            print(textwrap.fill(line, width, subsequent_indent="  "), file=sys.stderr)
    return 2


def _task(args: argparse.Namespace) -> Task:
    if args.command == "submit":
        return plan_task(args.target, args.priority, args.symbols, args.partition, after=args.after)
    if args.command == "orchestrate":
        return plan_orchestration(args.mode, args.max_concurrent, args.priority, args.partition)
    return plan_analysis(
        args.analysis, args.priority, args.symbols, args.risk_tolerance, args.max_recommendations
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``robo-dagster`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "tasks":
        return _tasks(args)
    if args.command in MONITORING_COMMANDS:
        return run_monitoring_command(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "serve":
        from robo_dagster.api.serve import serve

        return serve(args.api_host, args.api_port, args.host, args.port)
    try:
        task = _task(args)
        run_id = launch(task, args.host, args.port)
    except TaskRefused as exc:
        return _refuse(str(exc))
    except WebserverUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3
    print(run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())

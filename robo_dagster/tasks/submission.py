"""Task submission: the seed's ``POST /tasks``, ``/orchestrate/*`` and ``/ai/*``.

A task is a run launched through the running webserver's GraphQL API (Dagster's own
``DagsterGraphQLClient``), so it goes through the run queue with its priority and queue
tags like any run from the UI. Everything that can be checked here is checked before
launch: the target's name, the priority's scale, the symbols and the run config. A
refused task launches nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from dagster import AssetKey
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from pydantic import ValidationError

from robo_dagster import settings
from robo_dagster.cluster import distributed
from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import build_universe, validate_symbols
from robo_dagster.tasks.held_tasks import AFTER_TAG, hold_tags
from robo_dagster.tasks.queues import (
    GROUP_QUEUES,
    PRIORITY_TAG,
    QUEUE_TAG,
    Priority,
    validate_priority,
)
from robo_dagster.tasks.run_names import shorten_names
from robo_dagster.tasks.suggestions import did_you_mean, unknown_target

ASSET_JOB = "__ASSET_JOB"
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PARTITION_TAG = "dagster/partition"
SYMBOLS_TAG = "robo/symbols"
PARTITIONED_ASSETS = {"market_data/price_bars"}
PARTITIONED_JOBS = {"sequential_pipeline", "parallel_pipeline", "end_of_day_market_data_job"}
RECOMMENDATIONS_STEP = "ai_analysis__trade_recommendations"
DEFAULT_MAX_CONCURRENT = 4
# What a parallel step's process has imported before it forks: the whole code location.
PRELOADED_MODULES = ("robo_dagster.definitions",)
# The seed's ``/orchestrate/{mode}`` and ``/ai/{analysis}``, as the jobs that serve them.
# Each analysis job carries the seed's priority for it (``automation.jobs``).
MODES = {"sequential": "sequential_pipeline", "parallel": "parallel_pipeline"}
ANALYSES = {
    "morning-prep": "morning_prep_job",
    "evening-review": "evening_review_job",
    "recommendations": "recommendations_job",
}


class TaskRefused(ValueError):
    """The task was checked and refused before anything was launched."""


class WebserverUnavailable(RuntimeError):
    """No Dagster webserver answers at the address given."""


@dataclass(frozen=True)
class Task:
    """A validated task, ready to launch."""

    job_name: str
    asset_selection: list[AssetKey] | None = None
    run_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What a person reads for it: the job, or the assets of an asset task."""
        if self.asset_selection:
            return shorten_names(sorted(key.to_user_string() for key in self.asset_selection))
        return self.job_name


def target_names() -> tuple[set[str], set[str]]:
    """The names a task can target: the jobs (Dagster's anonymous ones left out) and the
    asset keys as ``group/name``."""
    from robo_dagster.definitions import defs

    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assets = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    return jobs, assets


def _latest_session() -> dt.date:
    pinned = settings.as_of()
    return calendar.session_on_or_before(pinned) if pinned else calendar.last_closed_session()


def _session(partition: str | None) -> str:
    """The partition to run: a trading session that has closed (refused before launch
    otherwise, so a run never fails on it); by default the latest closed one."""
    latest = _latest_session()
    if partition is None:
        return latest.isoformat()
    try:
        day = dt.date.fromisoformat(partition)
    except ValueError as exc:
        raise TaskRefused(f"partition {partition!r} is not a date (YYYY-MM-DD)") from exc
    if day > latest:
        raise TaskRefused(
            f"partition {partition}: that session has not closed yet (the latest closed "
            f"session is {latest}); its bars are not final"
        )
    first = calendar.session_on_or_after(calendar.history_start())
    if day < first:
        raise TaskRefused(
            f"partition {partition}: before the first partition {first} (ROBO_HISTORY_START)"
        )
    reason = calendar.closed_reason(day)
    if reason:
        raise TaskRefused(f"partition {partition}: {reason}; pick a trading session")
    return day.isoformat()


def _symbols(symbols: list[str] | None) -> dict[str, str]:
    if not symbols:
        return {}
    try:
        wanted = validate_symbols(symbols)
    except ValueError as exc:
        raise TaskRefused(str(exc)) from exc
    known = set(build_universe(settings.watchlist(), settings.universe_size())["symbol"])
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise TaskRefused(
            f"unknown symbol(s) {', '.join(unknown)}: not in the universe (add them to ROBO_WATCHLIST)"
        )
    return {SYMBOLS_TAG: ",".join(wanted)}


def plan_task(
    target: str,
    priority: int | str | None = None,
    symbols: list[str] | None = None,
    partition: str | None = None,
    run_config: dict[str, Any] | None = None,
    after: list[str] | None = None,
) -> Task:
    """Check a task and return what to launch, or raise ``TaskRefused`` with the reason.

    ``target`` is a job name or an asset key (``group/name``). Assets are computed for
    the whole universe at once, so ``symbols`` are checked and recorded on the run
    (``robo/symbols``) as its subject, not used to narrow it. ``after``: run ids the task
    waits for (``tasks.held_tasks``); ``launch`` checks that they exist.
    """
    jobs, assets = target_names()
    tags: dict[str, str] = {}
    if after:
        malformed = [r for r in after if not RUN_ID.fullmatch(r)]
        if malformed:
            raise TaskRefused(f"not a run id: {', '.join(malformed)}")
        tags |= hold_tags(after)
    if priority is not None:
        try:
            tags[PRIORITY_TAG] = str(validate_priority(priority))
        except ValueError as exc:
            raise TaskRefused(str(exc)) from exc
    tags |= _symbols(symbols)
    if target in jobs:
        if target in PARTITIONED_JOBS:
            tags[PARTITION_TAG] = _session(partition)
        elif partition is not None:
            raise TaskRefused(f"{target} is not partitioned: --partition does not apply")
        return Task(target, None, dict(run_config or {}), tags)
    if target in assets:
        if target in PARTITIONED_ASSETS:
            tags[PARTITION_TAG] = _session(partition)
        elif partition is not None:
            raise TaskRefused(
                f"{target} is not partitioned: --partition does not apply (it is computed "
                "as of the latest closed session; only market_data/price_bars takes one)"
            )
        # An asset's run joins its group's queue, with that queue's timeout.
        queue = GROUP_QUEUES[target.split("/")[0]]
        tags = queue.tags(tags.get(PRIORITY_TAG, Priority.NORMAL)) | tags
        return Task(ASSET_JOB, [AssetKey(target.split("/"))], dict(run_config or {}), tags)
    raise TaskRefused(unknown_target(target, jobs, assets))


def recommendations_config(
    risk_tolerance: str | None = None, max_recommendations: int | None = None
) -> dict[str, Any]:
    """Run config for the recommendations' request options, validated as the asset will."""
    from robo_dagster.ai_analysis.assets import RecommendationConfig

    options: dict[str, Any] = {}
    if risk_tolerance is not None:
        options["risk_tolerance"] = risk_tolerance
    if max_recommendations is not None:
        options["max_recommendations"] = max_recommendations
    try:
        RecommendationConfig(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TaskRefused(f"bad recommendation options: {problems}") from exc
    return {"ops": {RECOMMENDATIONS_STEP: {"config": options}}} if options else {}


def parallel_execution_config(max_concurrent: int = DEFAULT_MAX_CONCURRENT) -> dict[str, Any]:
    """``parallel_pipeline``'s executor config: ``max_concurrent`` step processes, each
    forked from a server that has imported the definitions once (``forkserver`` with
    ``preload_modules``), instead of a fresh interpreter that imports them again per
    step (BENCHMARKS.md, "The parallel mode"). A launch that sets ``max_concurrent``
    keeps the start method: Dagster replaces a job's default config whole."""
    return {
        "max_concurrent": max_concurrent,
        "start_method": {"forkserver": {"preload_modules": list(PRELOADED_MODULES)}},
    }


def plan_orchestration(
    mode: str,
    max_concurrent: int | None = None,
    priority: int | str | None = None,
    partition: str | None = None,
) -> Task:
    """The whole graph, ``sequential`` or ``parallel`` (``max_concurrent`` steps at once)."""
    if mode not in MODES:
        raise TaskRefused(
            f"unknown mode {mode!r}: expected one of {', '.join(sorted(MODES))}"
            f"{did_you_mean(mode, MODES)}"
        )
    config: dict[str, Any] = {}
    if max_concurrent is not None:
        if mode != "parallel":
            raise TaskRefused("max_concurrent applies to the parallel mode only")
        if distributed.enabled():
            # On a cluster the steps run as Celery tasks: the workers' concurrency
            # bounds them, and the multiprocess config would not validate.
            raise TaskRefused(
                "max_concurrent does not apply on a Celery cluster (ROBO_CELERY_BROKER is "
                "set): the workers' concurrency bounds the parallel steps"
            )
        if max_concurrent < 1:
            raise TaskRefused("max_concurrent must be 1 or more")
        config = {"execution": {"config": parallel_execution_config(max_concurrent)}}
    return plan_task(MODES[mode], priority, None, partition, config)


def plan_analysis(
    analysis: str,
    priority: int | str | None = None,
    symbols: list[str] | None = None,
    risk_tolerance: str | None = None,
    max_recommendations: int | None = None,
) -> Task:
    """One analysis job; without ``priority`` it runs at the seed's priority for it."""
    if analysis not in ANALYSES:
        raise TaskRefused(
            f"unknown analysis {analysis!r}: expected one of {', '.join(sorted(ANALYSES))}"
            f"{did_you_mean(analysis, ANALYSES)}"
        )
    options = (risk_tolerance, max_recommendations)
    if analysis != "recommendations" and any(o is not None for o in options):
        raise TaskRefused("risk_tolerance and max_recommendations apply to recommendations")
    config = recommendations_config(*options) if analysis == "recommendations" else {}
    return plan_task(ANALYSES[analysis], priority, symbols, None, config)


def queue_and_priority(task: Task) -> tuple[str, int]:
    """The queue and priority ``task``'s run will carry: its own tags, else its job's."""
    from robo_dagster.definitions import defs

    tags = dict(task.tags)
    if task.job_name != ASSET_JOB:
        tags = dict(defs.resolve_job_def(task.job_name).tags) | tags
    return tags.get(QUEUE_TAG, "-"), int(tags.get(PRIORITY_TAG, Priority.NORMAL))


def launch(task: Task, host: str = "127.0.0.1", port: int = 3000) -> str:
    """Launch ``task`` through the webserver at ``host:port``; return the run id."""
    url = f"http://{host}:{port}"
    try:
        httpx.get(f"{url}/server_info", timeout=5.0).raise_for_status()
    except httpx.HTTPError as exc:
        raise WebserverUnavailable(
            f"no Dagster webserver at {url} ({type(exc).__name__}); start it with `make ui` "
            "(or `make run`), or pass --host/--port"
        ) from exc
    client = DagsterGraphQLClient(host, port_number=port, timeout=60)
    for run_id in [r for r in task.tags.get(AFTER_TAG, "").split(",") if r]:
        try:
            client.get_run_status(run_id)
        except DagsterGraphQLClientError as exc:
            raise TaskRefused(f"--after {run_id}: no such run on {url}") from exc
    try:
        return client.submit_job_execution(
            task.job_name,
            run_config=task.run_config or None,
            tags=task.tags or None,
            asset_selection=task.asset_selection,
        )
    except DagsterGraphQLClientError as exc:
        raise TaskRefused(f"the webserver refused {task.name}: {exc}") from exc

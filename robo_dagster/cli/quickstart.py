"""Run the whole graph once on the embedded default: ``python -m robo_dagster.cli.quickstart``.

1. It backfills the last ``--sessions`` trading sessions of price bars: by default two
   years, or back to the paper account's opening when that is earlier, so the book's
   history (``portfolio/equity_history``) starts with the account.
2. It replays the analyses as of ``--replays`` past sessions (every ``--replay-every``
   sessions), so the recommendation history has matured entries and the scorecard means
   something on day one. Each replay pins the market clock to its session, so it sees
   only the data of that day.
3. It runs ``sequential_pipeline`` over the range on the persistent instance
   (``DAGSTER_HOME``), so the run, its checks and the partitions appear in the UI, and
   prints the DuckDB tables.

It prints one numbered line per stage ("robo-dagster: [2/13] replaying ...") and Dagster's
messages from INFO up, not its DEBUG event lines (``CONSOLE_AT_INFO``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    ExecuteInProcessResult,
    JobDefinition,
    build_reconstructable_job,
    execute_job,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from robo_dagster import settings
from robo_dagster.domain import calendar
from robo_dagster.providers import MarketDataProvider, PaperBroker, ProviderError
from robo_dagster.resources import build_market
from robo_dagster.tasks.run_owner import fail_orphaned_runs, owner_tags
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.snapshot import publish_snapshot
from robo_dagster.warehouse.target import describe

# Dagster's console logger prints every event of a run at DEBUG unless told otherwise:
# about 4,000 lines for one quickstart, 840 KB of a notebook's output. Its level filters the
# terminal only: the instance's event log (the UI's run page) is written by its own handler
# and keeps every event, STEP_START and the DEBUG ones included.
CONSOLE_AT_INFO: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class Progress:
    """Numbered progress lines, one per stage: ``robo-dagster: [2/13] replaying ...``."""

    total: int
    done: int = 0

    def stage(self, message: str) -> None:
        self.done += 1
        print(f"robo-dagster: [{self.done}/{self.total}] {message}", flush=True)


def pipeline_job(name: str = "sequential_pipeline") -> JobDefinition:
    """A job of the code location by name; ``reconstructable`` needs a module-level
    function so that other processes can rebuild the job."""
    from robo_dagster.definitions import defs

    return defs.resolve_job_def(name)


DEFAULT_SESSIONS = 504  # two years


def default_sessions(market: MarketDataProvider) -> int:
    """Two years of sessions, or as many as reach back to the paper account's opening
    (``opened_on`` in the portfolio file) when that is earlier. An Alpaca account's
    history is Alpaca's own; a portfolio file that cannot be read is reported by the
    pipeline's broker sync, so it falls back to two years here."""
    if settings.broker_kind() != "paper":
        return DEFAULT_SESSIONS
    try:
        opened = PaperBroker(portfolio_file=settings.portfolio_file(), market=market).portfolio()
    except ProviderError:
        return DEFAULT_SESSIONS
    since = calendar.session_index(opened.opened_on, market.session())
    return max(DEFAULT_SESSIONS, len(since))


def partition_range(sessions: int, market: MarketDataProvider | None = None) -> tuple[str, str]:
    """The first and last of the latest ``sessions`` sessions the market-data source
    serves: up to its "today" (the latest closed session, ``ROBO_AS_OF``, or the newest
    bar of your files) and from no earlier than its first session. Asking for more than
    it has backfills what it has and says so."""
    source = market or build_market()
    last = source.session()
    days = calendar.session_index(source.first_session(), last)
    if sessions < 1:
        raise SystemExit("--sessions must be at least 1")
    if not len(days):
        raise SystemExit(f"{source.describe()} has no session up to {last}")
    if sessions > len(days):
        print(
            f"robo-dagster: {source.describe()} has {len(days)} sessions up to {last}; "
            f"backfilling those, not {sessions}",
            flush=True,
        )
        sessions = len(days)
    return days[-sessions].date().isoformat(), last.isoformat()


def replay_sessions(first: str, last: str, replays: int, every: int) -> list[dt.date]:
    """The past sessions the analyses are replayed as of: up to ``replays`` of them, one
    every ``every`` sessions before ``last``, oldest first, none before ``first``."""
    if not replays:
        return []
    days = calendar.session_index(first, last)
    return [d.date() for d in days[-1 - every * replays :: every][:replays]]


def replay_analyses(
    first: str,
    last: str,
    replays: int,
    every: int,
    database: str | None = None,
    progress: Progress | None = None,
    **market_overrides: Any,
) -> int:
    """Backfill the price history over ``first`` .. ``last``, then materialize every
    unpartitioned asset but the execution group's as of ``replays`` past sessions, oldest first, in this process (the
    replays stay out of the UI's run list). Returns how many replays succeeded.
    ``progress`` numbers the stages (by default: the backfill, then each replay);
    ``database`` and ``market_overrides`` go to ``build_resources``."""
    from robo_dagster.definitions import defs
    from robo_dagster.resources import build_resources

    past = replay_sessions(first, last, replays, every)
    progress = progress or Progress(total=1 + len(past))
    history_keys = [["market_data", "price_bars"], ["market_data", "technical_indicators"]]
    history = AssetSelection.assets(*history_keys)
    assets = [*defs.assets, *defs.asset_checks]  # type: ignore[misc]
    sessions = len(calendar.session_index(first, last))
    progress.stage(
        f"backfilling {sessions} sessions of price bars and indicators ({first} .. {last})"
    )
    prepared = materialize(
        assets,
        resources=build_resources(database, **market_overrides),
        selection=history | AssetSelection.assets(["market_data", "universe"]),
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        run_config=CONSOLE_AT_INFO,
        raise_on_error=False,
    )
    if not prepared.success:
        print(
            f"robo-dagster: the backfill failed: {failed_steps(prepared)}; no replays", flush=True
        )
        return 0
    done = 0
    for number, session in enumerate(past, start=1):
        progress.stage(f"replaying the analyses as of {session} (replay {number} of {len(past)})")
        # Fresh resources rather than copies: Dagster rebuilds a resource from the
        # configuration it was created with.
        pinned = build_resources(database, **{**market_overrides, "as_of": session.isoformat()})
        result = materialize(
            assets,
            resources=pinned,
            # Orders go out only through execution_job, as in the pipelines: a replay
            # sized and "submitted" orders on past sessions, and its blocking pre-trade
            # check failed the replay on a day the analyses wanted a large order.
            selection=AssetSelection.all()
            - history
            - AssetSelection.checks_for_assets(*history_keys)
            - AssetSelection.groups("execution"),
            run_config=CONSOLE_AT_INFO,
            raise_on_error=False,
        )
        if not result.success:
            print(
                f"robo-dagster: the replay as of {session} failed at {failed_steps(result)}; "
                "the steps before it are kept",
                flush=True,
            )
        done += int(result.success)
    return done


def failed_steps(result: ExecuteInProcessResult) -> str:
    """The steps that failed in an in-process run's result, for a one-line summary."""
    steps = [event.step_key for event in result.all_events if event.is_step_failure]
    return ", ".join(step for step in steps if step) or "the run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Backfill the simulated market and run the whole graph once."
    )
    parser.add_argument(
        "--sessions",
        type=int,
        default=None,
        help="sessions to backfill (default: 504, two years, or back to the paper "
        "account's opening when that is earlier)",
    )
    parser.add_argument(
        "--replays",
        type=int,
        default=10,
        help="past sessions to replay the analyses for (default 10)",
    )
    parser.add_argument(
        "--replay-every", type=int, default=5, help="sessions between replays (default 5)"
    )
    args = parser.parse_args(argv)
    market = build_market()
    first, last = partition_range(
        args.sessions if args.sessions is not None else default_sessions(market), market
    )
    replays = args.replays
    if replays and settings.broker_kind() != "paper":
        print(
            "robo-dagster: no replays with ROBO_BROKER=alpaca: the account's book is today's, "
            "and marking it on past sessions would invent a history (--replays 0)",
            flush=True,
        )
        replays = 0
    past = replay_sessions(first, last, replays, args.replay_every)
    # The backfill and the replays, if any, then the pipeline and the snapshot.
    progress = Progress(total=(1 + len(past) if replays else 0) + 2)
    if replays:
        replayed = replay_analyses(first, last, replays, args.replay_every, progress=progress)
        print(
            f"robo-dagster: {replayed} of {len(past)} replays succeeded "
            "(the recommendation scorecard matures on them)",
            flush=True,
        )
    progress.stage(
        f"running sequential_pipeline over sessions {first} .. {last} "
        "(one run on the instance, in the UI's run list)"
    )
    with DagsterInstance.get() as instance:
        orphans = fail_orphaned_runs(instance)
        if orphans:
            print(
                f"robo-dagster: marked {len(orphans)} run(s) of a killed earlier process as "
                f"failed: {', '.join(orphans)}",
                flush=True,
            )
        result = execute_job(
            build_reconstructable_job(
                "robo_dagster.cli.quickstart", "pipeline_job", ("sequential_pipeline",)
            ),
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: first,
                ASSET_PARTITION_RANGE_END_TAG: last,
                **owner_tags(),
            },
            run_config=CONSOLE_AT_INFO,
        )
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    database = settings.duckdb_path()
    progress.stage("publishing the readers' snapshot")
    snapshot, _ = publish_snapshot(database)
    print(
        f"readers' snapshot: {describe(snapshot)} "
        "(open it read-only with duckdb; it never blocks a run)"
    )
    with locked_connection(database) as conn:
        tables = conn.execute(
            "select schema_name || '.' || table_name as name, estimated_size as rows "
            "from duckdb_tables() order by 1"
        ).fetchall()
    print(f"DuckDB {describe(database)}:")
    for name, rows in tables:
        print(f"  {name:<40} {rows:>10,} rows")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())

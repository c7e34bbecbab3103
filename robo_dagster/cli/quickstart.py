"""Run the whole graph once on the embedded default: ``python -m robo_dagster.cli.quickstart``.

1. It backfills the last ``--sessions`` trading sessions of price bars.
2. It replays the analyses as of ``--replays`` past sessions (every ``--replay-every``
   sessions), so the recommendation history has matured entries and the scorecard means
   something on day one. Each replay pins the market clock to its session, so it sees
   only the data of that day.
3. It runs ``sequential_pipeline`` over the range on the persistent instance
   (``DAGSTER_HOME``), so the run, its checks and the partitions appear in the UI, and
   prints the DuckDB tables.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
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
from robo_dagster.providers import MarketDataProvider
from robo_dagster.resources import build_market
from robo_dagster.tasks.run_owner import fail_orphaned_runs, owner_tags
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.snapshot import publish_snapshot


def pipeline_job(name: str = "sequential_pipeline") -> JobDefinition:
    """A job of the code location by name; ``reconstructable`` needs a module-level
    function so that other processes can rebuild the job."""
    from robo_dagster.definitions import defs

    return defs.resolve_job_def(name)


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


def replay_analyses(
    first: str,
    last: str,
    replays: int,
    every: int,
    database: str | None = None,
    **market_overrides: Any,
) -> int:
    """Materialize every unpartitioned asset as of ``replays`` past sessions, oldest
    first, in this process (the replays stay out of the UI's run list). Returns how many
    replays succeeded. ``database`` and ``market_overrides`` go to ``build_resources``."""
    from robo_dagster.definitions import defs
    from robo_dagster.resources import build_resources

    history_keys = [["market_data", "price_bars"], ["market_data", "technical_indicators"]]
    history = AssetSelection.assets(*history_keys)
    assets = [*defs.assets, *defs.asset_checks]  # type: ignore[misc]
    prepared = materialize(
        assets,
        resources=build_resources(database, **market_overrides),
        selection=history | AssetSelection.assets(["market_data", "universe"]),
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )
    if not prepared.success:
        return 0
    days = calendar.session_index(first, last)
    past = [d.date() for d in days[-1 - every * replays :: every][:replays]] if replays else []
    done = 0
    for number, session in enumerate(past, start=1):
        print(f"robo-dagster: replay {number}/{len(past)}: analyses as of {session}", flush=True)
        # Fresh resources rather than copies: Dagster rebuilds a resource from the
        # configuration it was created with.
        pinned = build_resources(database, **{**market_overrides, "as_of": session.isoformat()})
        result = materialize(
            assets,
            resources=pinned,
            selection=AssetSelection.all()
            - history
            - AssetSelection.checks_for_assets(*history_keys),
            raise_on_error=False,
        )
        done += int(result.success)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Backfill the simulated market and run the whole graph once."
    )
    parser.add_argument(
        "--sessions", type=int, default=504, help="sessions to backfill (default 504, two years)"
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
    first, last = partition_range(args.sessions)
    if args.replays and settings.broker_kind() != "paper":
        print(
            "robo-dagster: no replays with ROBO_BROKER=alpaca: the account's book is today's, "
            "and marking it on past sessions would invent a history (--replays 0)",
            flush=True,
        )
    elif args.replays:
        print(
            f"robo-dagster: preparing {args.sessions} sessions and replaying {args.replays} past sessions",
            flush=True,
        )
        replay_analyses(first, last, args.replays, args.replay_every)
    print(f"robo-dagster: running sequential_pipeline for sessions {first} .. {last}", flush=True)
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
        )
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    database = settings.duckdb_path()
    snapshot, _ = publish_snapshot(database)
    print(f"readers' snapshot: {snapshot} (open it read-only with duckdb; it never blocks a run)")
    with locked_connection(database) as conn:
        tables = conn.execute(
            "select schema_name || '.' || table_name as name, estimated_size as rows "
            "from duckdb_tables() order by 1"
        ).fetchall()
    print(f"DuckDB {database}:")
    for name, rows in tables:
        print(f"  {name:<40} {rows:>10,} rows")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())

"""Run the whole graph once on the embedded default: ``python -m robo_dagster.quickstart``.

It backfills the last ``--sessions`` trading sessions of price bars in a single run of
``sequential_pipeline`` on the persistent instance (``DAGSTER_HOME``), so the run, its
checks and the asset partitions appear in the UI, then prints the DuckDB tables.
"""

from __future__ import annotations

import argparse
import sys

from dagster import DagsterInstance, JobDefinition, build_reconstructable_job, execute_job
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from robo_dagster import settings
from robo_dagster.domain import calendar
from robo_dagster.warehouse.connection import locked_connection


def pipeline_job(name: str = "sequential_pipeline") -> JobDefinition:
    """A job of the code location by name; ``reconstructable`` needs a module-level
    function so that other processes can rebuild the job."""
    from robo_dagster.definitions import defs

    return defs.resolve_job_def(name)


def partition_range(sessions: int) -> tuple[str, str]:
    """The first and last of the latest ``sessions`` closed sessions."""
    pinned = settings.as_of()
    last = calendar.session_on_or_before(pinned) if pinned else calendar.last_closed_session()
    days = calendar.session_index(calendar.PARTITIONS_START, last)
    if sessions < 1 or sessions > len(days):
        raise SystemExit(f"--sessions must be between 1 and {len(days)}")
    return days[-sessions].date().isoformat(), last.isoformat()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Backfill the simulated market and run the whole graph once."
    )
    parser.add_argument(
        "--sessions", type=int, default=504, help="sessions to backfill (default 504, two years)"
    )
    args = parser.parse_args(argv)
    first, last = partition_range(args.sessions)
    print(f"robo-dagster: running sequential_pipeline for sessions {first} .. {last}", flush=True)
    with DagsterInstance.get() as instance:
        result = execute_job(
            build_reconstructable_job(
                "robo_dagster.quickstart", "pipeline_job", ("sequential_pipeline",)
            ),
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    database = settings.duckdb_path()
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

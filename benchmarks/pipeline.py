"""Materialize the whole graph in-process on a fresh temporary DuckDB and time it.

    python benchmarks/pipeline.py --symbols 500 --days 504
    python benchmarks/pipeline.py --symbols 500 --days 504 --source files
    python benchmarks/pipeline.py --symbols 500 --days 504 --executor multiprocess --repeat 3
    python benchmarks/pipeline.py --symbols 500 --days 504 --warehouse ducklake

``--executor in_process`` (the default) materializes the graph in this process.
``--executor multiprocess`` runs the code location's two jobs instead, each on a
temporary instance through ``execute_job`` as the daemon would: ``sequential_pipeline``
(one process) and ``parallel_pipeline`` (a process per step, ``--max-concurrent``),
alternated ``--repeat`` times on fresh DuckDB files, and reports both medians and their
ratio, measured in one sitting.

``--source files`` first writes the simulated market as a folder of Yahoo-style CSV
exports (one ``bars/<SYMBOL>.csv`` per symbol, with Adj Close) and runs the graph on the
files source over it, so the two sources compute on the same numbers. Writing the
folder is timed apart (``prepare_s``).

``--warehouse ducklake`` writes to a DuckLake instead of the single file: a Postgres
catalog started for the run in the temporary folder (``robo_dagster.cluster.services``)
and Parquet data beside it. Starting Postgres is timed apart (``prepare_s``).

The last line printed is one JSON object: source, warehouse, symbols, days, wall_s (the
materialization, excluding interpreter start, imports and preparing the folder),
import_s, prepare_s, peak_rss_mb (of this process), steps (each step's seconds, its I/O
included), io (the seconds spent opening warehouse connections, writing outputs and
loading inputs, summed over the steps), storage_mb (the file, or the lake's Parquet) and
success.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

AS_OF = "2026-11-25"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--symbols",
        type=int,
        default=500,
        help="universe size (the seed's five, SPY and the watchlist count towards it)",
    )
    parser.add_argument("--days", type=int, default=504, help="trading sessions to backfill")
    parser.add_argument("--as-of", default=AS_OF, help="the market's date (default %(default)s)")
    parser.add_argument(
        "--source", choices=["sim", "files"], default="sim", help="market-data source"
    )
    parser.add_argument(
        "--warehouse",
        choices=["duckdb", "ducklake"],
        default="duckdb",
        help="the single DuckDB file (default), or a DuckLake on a Postgres started here",
    )
    parser.add_argument(
        "--executor",
        choices=["in_process", "multiprocess"],
        default="in_process",
        help="materialize here, or compare sequential_pipeline with parallel_pipeline",
    )
    parser.add_argument("--max-concurrent", type=int, default=2, help="parallel steps (2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each job (3)")
    parser.add_argument(
        "--start-method",
        choices=["default", "spawn", "forkserver"],
        default="default",
        help="parallel_pipeline's step processes: the job's own setting, or spawn, or "
        "forkserver with the definitions preloaded",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="robo-bench-") as tmp:
        if args.executor == "multiprocess":
            return compare_jobs(args, Path(tmp))
        return run(args, Path(tmp))


def job_wall_s(name: str, args: argparse.Namespace, tmp: Path, attempt: int) -> dict:
    """One run of the job ``name`` through ``execute_job`` on a fresh instance and a
    fresh DuckDB file: its wall time from launch to the end, and how it ended."""
    from dagster import DagsterInstance, build_reconstructable_job, execute_job
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from robo_dagster.domain import calendar

    os.environ["ROBO_DUCKDB_PATH"] = str(tmp / f"{name}-{attempt}.duckdb")
    sessions = calendar.session_index(calendar.history_start(), args.as_of)
    first, last = sessions[-args.days].date().isoformat(), sessions[-1].date().isoformat()
    home = tmp / f"home-{name}-{attempt}"
    home.mkdir()
    config: dict = {}
    if name == "parallel_pipeline":
        from robo_dagster.tasks.submission import parallel_execution_config

        # The job's own execution config, with this run's concurrency and start method.
        execution: dict = parallel_execution_config(args.max_concurrent)
        if args.start_method == "spawn":
            execution["start_method"] = {"spawn": {}}
        elif args.start_method == "forkserver":
            execution["start_method"] = {
                "forkserver": {"preload_modules": ["robo_dagster.definitions"]}
            }
        config = {"execution": {"config": execution}}
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        t0 = time.perf_counter()
        result = execute_job(
            build_reconstructable_job("robo_dagster.cli.quickstart", "pipeline_job", (name,)),
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
            run_config=config,
        )
        wall_s = time.perf_counter() - t0
        steps = [e for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    return {"wall_s": round(wall_s, 2), "success": result.success, "steps": len(steps)}


def compare_jobs(args: argparse.Namespace, tmp: Path) -> int:
    import statistics

    os.environ["ROBO_AS_OF"] = args.as_of
    os.environ["ROBO_UNIVERSE_SIZE"] = str(args.symbols)
    walls: dict[str, list[float]] = {"sequential_pipeline": [], "parallel_pipeline": []}
    ok = True
    for attempt in range(args.repeat):
        for name in walls:
            outcome = job_wall_s(name, args, tmp, attempt)
            ok = ok and outcome["success"]
            walls[name].append(outcome["wall_s"])
            print(f"{name} #{attempt + 1}: {outcome}", file=sys.stderr, flush=True)
    medians = {name: statistics.median(values) for name, values in walls.items()}
    print(
        json.dumps(
            {
                "symbols": args.symbols,
                "days": args.days,
                "max_concurrent": args.max_concurrent,
                "repeat": args.repeat,
                "wall_s": walls,
                "median_s": medians,
                "parallel_over_sequential": round(
                    medians["parallel_pipeline"] / medians["sequential_pipeline"], 3
                ),
                "success": ok,
            }
        )
    )
    return 0 if ok else 1


def write_folder(folder: Path, symbols: list[str], first: str, last: str, seed: int) -> None:
    """The simulated bars of ``symbols`` as Yahoo exports in ``folder/bars``."""
    from robo_dagster.domain import calendar
    from robo_dagster.domain.market_sim import MarketSimulator

    bars = MarketSimulator(seed).daily_bars(symbols, calendar.sessions_between(first, last))
    (folder / "bars").mkdir(parents=True)
    bars = bars.assign(
        date=bars["date"].dt.strftime("%Y-%m-%d"), **{"Adj Close": bars["close"]}
    ).rename(columns=str.title)
    for symbol, rows in bars.groupby("Symbol"):
        rows[["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(
            folder / "bars" / f"{symbol}.csv", index=False
        )


class IoTimer:
    """Seconds spent in the warehouse's connections, writes and reads, by wrapping the
    three functions that do them (in this process: the in-process executor)."""

    def __init__(self) -> None:
        self.seconds = {"connect_s": 0.0, "write_s": 0.0, "read_s": 0.0}
        self.writes = 0

    def install(self) -> None:
        from dagster._core.storage.db_io_manager import DbIOManager

        from robo_dagster.warehouse import connection, io_manager, lake

        def timed(fn, key):  # type: ignore[no-untyped-def]
            def wrapper(*a, **k):  # type: ignore[no-untyped-def]
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    self.seconds[key] += time.perf_counter() - t0
                    self.writes += key == "write_s"

            return wrapper

        lake.lake_connection = timed(lake.lake_connection, "connect_s")  # type: ignore[assignment]
        connection.connect_when_free = timed(connection.connect_when_free, "connect_s")  # type: ignore[assignment]
        io_manager.RetryingDbIOManager.handle_output = timed(  # type: ignore[method-assign]
            io_manager.RetryingDbIOManager.handle_output, "write_s"
        )
        DbIOManager.load_input = timed(DbIOManager.load_input, "read_s")  # type: ignore[method-assign]

    def report(self) -> dict:
        return {key: round(value, 2) for key, value in self.seconds.items()} | {
            "outputs_written": self.writes
        }


def storage_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


def start_lake(tmp: Path):  # type: ignore[no-untyped-def]
    """A Postgres for the catalog in ``tmp``; the server and the lake's target string."""
    from robo_dagster.cluster.services import Postgres, free_port
    from robo_dagster.warehouse.target import LakeTarget

    server = Postgres(tmp / "pg", free_port()).start()
    server.create_database("robo_lake")
    target = LakeTarget(
        "robo_lake", "127.0.0.1", server.port, server.user, str(tmp / "lake")
    ).render()
    return server, target


def run(args: argparse.Namespace, tmp: Path) -> int:
    prepare_s = 0.0
    server = None
    database = str(tmp / "bench.duckdb")
    if args.warehouse == "ducklake":
        t0 = time.perf_counter()
        server, database = start_lake(tmp)
        prepare_s += time.perf_counter() - t0
    try:
        return _run(args, tmp, database, prepare_s)
    finally:
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace, tmp: Path, database: str, prepare_s: float) -> int:
    if args.source == "files":
        from robo_dagster import settings
        from robo_dagster.domain import calendar
        from robo_dagster.domain.market_sim import DEFAULT_WATCHLIST, build_universe
        from robo_dagster.providers.broker import PortfolioFile

        t0 = time.perf_counter()
        symbols = build_universe(DEFAULT_WATCHLIST, args.symbols)["symbol"].tolist()
        days = calendar.session_index(calendar.history_start(), args.as_of)[-args.days :]
        # The folder reaches back to the sample book's first fill, which it prices.
        book = PortfolioFile.model_validate_json(Path(settings.portfolio_file()).read_text())
        first = min(days[0].date(), book.opened_on)
        write_folder(tmp / "data", symbols, str(first), args.as_of, seed=7)
        prepare_s += time.perf_counter() - t0
        os.environ["ROBO_MARKET_DATA"] = "files"
        os.environ["ROBO_DATA_DIR"] = str(tmp / "data")

    started = time.perf_counter()
    from dagster import AssetSelection, materialize
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from robo_dagster.definitions import defs
    from robo_dagster.domain import calendar
    from robo_dagster.resources import build_resources

    import_s = time.perf_counter() - started
    sessions = calendar.session_index(calendar.history_start(), args.as_of)
    first, last = sessions[-args.days].date().isoformat(), sessions[-1].date().isoformat()
    resources = build_resources(database, as_of=args.as_of, universe_size=args.symbols)
    symbols = len(resources["market"].universe())
    timer = IoTimer()
    timer.install()
    t0 = time.perf_counter()
    result = materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=resources,
        selection=AssetSelection.all(),
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        raise_on_error=False,
    )
    wall_s = time.perf_counter() - t0
    steps = {
        e.step_key: round(e.event_specific_data.duration_ms / 1000.0, 3)
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS"
    }
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{'step':<60} {'seconds':>8}", file=sys.stderr)
    for key, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"{key:<60} {seconds:>8.3f}", file=sys.stderr)
    print(
        json.dumps(
            {
                "source": args.source,
                "warehouse": args.warehouse,
                "symbols": symbols,
                "days": args.days,
                "wall_s": round(wall_s, 2),
                "import_s": round(import_s, 2),
                "prepare_s": round(prepare_s, 2),
                "peak_rss_mb": round(peak_rss_mb, 1),
                "steps_total_s": round(sum(steps.values()), 2),
                "io": timer.report(),
                "storage_mb": storage_mb(
                    tmp / "lake" if args.warehouse == "ducklake" else Path(database)
                ),
                "steps": steps,
                "success": result.success,
            }
        )
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())

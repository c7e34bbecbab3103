"""Many writers at once on one DuckLake, and a plain ``duckdb`` reader beside them."""

from __future__ import annotations

import json
import multiprocessing
import queue
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from dagster import materialize

from robo_dagster.domain import calendar
from robo_dagster.market_data.assets import universe
from robo_dagster.resources import build_resources
from robo_dagster.warehouse import query
from robo_dagster.warehouse.lake import extension_paths
from robo_dagster.warehouse.target import LakeTarget
from tests.cluster.lake_workers import attach_fresh_lake, write_partition_into
from tests.conftest import AS_OF

pytestmark = pytest.mark.cluster

WRITERS = 8
ROUNDS = 3  # rounds of eight simultaneous writers, until one commit has conflicted


def last_sessions(count: int) -> list[str]:
    days = calendar.session_index("2026-01-01", AS_OF)
    return [day.date().isoformat() for day in days[-count:]]


def run_writers(database: str, days: list[str]) -> list[dict[str, Any]]:
    """One spawned process per day, all released at once by a barrier, each
    materializing its partition; their outcomes, in the order they finished."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(days))
    results = spawn.Queue()
    processes = [
        spawn.Process(target=write_partition_into, args=(database, day, barrier, results))
        for day in days
    ]
    for process in processes:
        process.start()
    outcomes: list[dict[str, Any]] = []
    try:
        while len(outcomes) < len(days):
            try:
                outcomes.append(results.get(timeout=5))
            except queue.Empty:
                dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                assert not dead, f"a writer process died (exit codes {dead})"
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    return outcomes


def seed_universe(database: str) -> None:
    resources = build_resources(database, as_of=AS_OF, universe_size=0, seed=7)
    assert materialize([universe], resources=resources).success


def test_eight_concurrent_partition_runs_leave_every_partition_exactly_once(
    lake_target: str,
) -> None:
    seed_universe(lake_target)
    days = last_sessions(WRITERS)
    symbols = len(query("select symbol from market_data.universe", database=lake_target))
    retries = 0
    for _ in range(ROUNDS):
        outcomes = run_writers(lake_target, days)
        assert all(o["success"] for o in outcomes), outcomes
        retries += sum(o["retries"] for o in outcomes)
        counts = query(
            "select strftime(date, '%Y-%m-%d') as day, count(*) as n, "
            "count(distinct symbol) as symbols from market_data.price_bars group by 1 order by 1",
            database=lake_target,
        )
        # Every partition once: one row per symbol and day, none missing, none doubled.
        assert list(counts["day"]) == days
        assert (counts["n"] == symbols).all() and (counts["symbols"] == symbols).all()
        if retries:
            break
    assert retries >= 1, "no commit conflicted in any round: the retry path went untested"


READER = textwrap.dedent(
    """
    import json, sys, time, pathlib, duckdb
    conninfo, data_path, stop, *extensions = sys.argv[1:]
    conn = duckdb.connect(config={"autoload_known_extensions": False,
                                  "autoinstall_known_extensions": False})
    for path in extensions:
        conn.execute(f"LOAD '{path}'")
    conn.execute(f"ATTACH 'ducklake:postgres:{conninfo}' AS lake "
                 f"(DATA_PATH '{data_path}', READ_ONLY)")
    while not pathlib.Path(stop).exists():
        tables = conn.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where database_name = 'lake'").fetchall()
        counts = {t: conn.execute(f"select count(*) from lake.{t}").fetchone()[0]
                  for (t,) in tables}
        print(json.dumps({"at": time.time(), "counts": counts}), flush=True)
        time.sleep(0.05)
    """
)


def test_a_plain_duckdb_reader_sees_every_table_while_runs_write(
    lake_target: str, tmp_path: Path
) -> None:
    seed_universe(lake_target)
    days = last_sessions(WRITERS)
    run_writers(lake_target, days[:1])  # price_bars exists before the reader starts
    target = LakeTarget.parse(lake_target)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER,
            target.conninfo(),
            target.data_path,
            str(stop),
            *extension_paths(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = time.time()
        outcomes = run_writers(lake_target, days)
        ended = time.time()
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    # The writers were never blocked by the reader: every run succeeded.
    assert all(o["success"] for o in outcomes), outcomes
    reads = [json.loads(line) for line in out.splitlines()]
    during = [r for r in reads if started <= r["at"] <= ended]
    assert during, "the reader read nothing while the writers ran"
    for read in during:
        assert {"market_data.universe", "market_data.price_bars"} <= set(read["counts"])
    # What it read while they wrote was always a committed state: whole partitions.
    symbols = reads[0]["counts"]["market_data.universe"]
    assert all(r["counts"]["market_data.price_bars"] % symbols == 0 for r in reads)
    final = query("select count(*) as n from market_data.price_bars", database=lake_target)
    assert int(final["n"].iloc[0]) == symbols * len(days)


def test_processes_that_attach_a_new_catalog_at_once_all_succeed(lake_target: str) -> None:
    """The first attach of an empty catalog creates its tables. Eight workers of a new
    cluster do that at the same moment, and all but one then hit Postgres's own catalog
    ("duplicate key value ... pg_type"). Each must retry rather than report the catalog as
    down."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(WRITERS)
    results = spawn.Queue()
    processes = [
        spawn.Process(target=attach_fresh_lake, args=(lake_target, barrier, results))
        for _ in range(WRITERS)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=180) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert outcomes == ["ok"] * WRITERS

"""How soon a write goes ahead after an outside process lets go of the DuckDB file, and
how long publishing the readers' snapshot takes.

    python benchmarks/lock_wait.py [--holds 1 5 20] [--repeat 3] [--database PATH]

1. A spawned interpreter opens a fresh DuckDB file read-write with plain ``duckdb`` (as a
   notebook that kept a connection would) and holds it for each of ``--holds`` seconds.
   Meanwhile this process opens a connection, once with ``connect_when_free`` (poll every
   0.1 s, what robo-dagster does now) and once with Dagster's ``backoff`` as the I/O
   manager used it before (delays 0.1, 0.2, 0.4 ... s, ten retries). Measured: the gap
   from the holder's close to the connection, median of ``--repeat``.
2. ``publish_snapshot`` on ``--database`` (default: a quickstart's ``data/robo.duckdb``
   if there is one), median of ``--repeat``: how long the write lock is held per snapshot.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from dagster._utils.backoff import backoff

from robo_dagster.warehouse.connection import connect_when_free
from robo_dagster.warehouse.snapshot import publish_snapshot


def _hold(path: str, seconds: float, ready, released) -> None:
    conn = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    conn.close()
    released.value = time.time()


def poll(path: str) -> duckdb.DuckDBPyConnection:
    return connect_when_free(path, False, {}, deadline_s=600)


def dagster_backoff(path: str) -> duckdb.DuckDBPyConnection:
    return backoff(
        fn=duckdb.connect,
        retry_on=(RuntimeError, duckdb.IOException),
        kwargs={"database": path, "read_only": False},
        max_retries=10,
    )


def gap_after_release(
    connect: Callable[[str], duckdb.DuckDBPyConnection], hold_s: float, folder: Path
) -> float:
    path = str(folder / f"held-{time.monotonic_ns()}.duckdb")
    duckdb.connect(path).close()
    ctx = mp.get_context("spawn")
    ready, released = ctx.Event(), ctx.Value("d", 0.0)
    holder = ctx.Process(target=_hold, args=(path, hold_s, ready, released))
    holder.start()
    ready.wait(60)
    conn = connect(path)
    connected = time.time()
    conn.close()
    holder.join(60)
    return connected - released.value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holds", type=float, nargs="+", default=[1.0, 5.0, 20.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default="data/robo.duckdb")
    args = parser.parse_args(argv)
    results: dict[str, object] = {"repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{'hold s':>7} {'poll: gap s':>12} {'backoff: gap s':>15}")
        for hold in args.holds:
            gaps = {
                name: statistics.median(
                    gap_after_release(connect, hold, folder) for _ in range(args.repeat)
                )
                for name, connect in (("poll", poll), ("backoff", dagster_backoff))
            }
            print(f"{hold:>7g} {gaps['poll']:>12.3f} {gaps['backoff']:>15.3f}")
            results[f"hold_{hold:g}s"] = {k: round(v, 3) for k, v in gaps.items()}
    database = Path(args.database)
    if database.exists():
        size_mb = database.stat().st_size / 1e6
        seconds = statistics.median(publish_snapshot(str(database))[1] for _ in range(args.repeat))
        print(f"publish_snapshot of {database} ({size_mb:.0f} MB): {seconds:.2f} s")
        results["snapshot"] = {"mb": round(size_mb, 1), "median_s": round(seconds, 3)}
    else:
        print(f"no {database}: run `make quickstart` first to time the snapshot")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

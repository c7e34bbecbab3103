"""What the concurrent-writer tests run in child processes (importable by ``spawn``)."""

from __future__ import annotations

import logging
import multiprocessing.queues
import multiprocessing.synchronize
from typing import Any

from tests.conftest import AS_OF


def write_partition(
    database: str, day: str, barrier: multiprocessing.synchronize.Barrier | None
) -> dict[str, Any]:
    """Materialize one ``price_bars`` partition into ``database`` in this process, after
    every writer reached ``barrier`` (so that the commits collide); the run's outcome and
    its commit retries: the I/O manager's (its materialization's ``commit_retries``) and
    the resource's (the quarantine's transaction: its retry log lines)."""
    from dagster import AssetSelection, materialize

    from robo_dagster.market_data.assets import price_bars, universe
    from robo_dagster.resources import build_resources

    class Count(logging.Handler):
        seen = 0

        def emit(self, record: logging.LogRecord) -> None:
            Count.seen += "commit conflict" in record.getMessage()

    logging.getLogger("robo_dagster.warehouse.retry").addHandler(Count())
    resources = build_resources(database, as_of=AS_OF, universe_size=0, seed=7)
    if barrier is not None:
        barrier.wait(timeout=120)
    result = materialize(
        [universe, price_bars],
        resources=resources,
        partition_key=day,
        selection=AssetSelection.assets(price_bars),
        raise_on_error=False,
    )
    retries = Count.seen
    for event in result.get_asset_materialization_events():
        value = event.materialization.metadata.get("commit_retries")
        retries += int(value.value) if value is not None else 0
    return {"day": day, "success": result.success, "retries": retries}


def write_partition_into(
    database: str,
    day: str,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue,  # type: ignore[type-arg]
) -> None:
    """``write_partition``, its outcome (or its error) put on ``results``."""
    try:
        outcome = write_partition(database, day, barrier)
    except Exception as exc:
        outcome = {"day": day, "success": False, "retries": 0, "error": repr(exc)}
    results.put(outcome)


def attach_fresh_lake(
    database: str,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue,  # type: ignore[type-arg]
) -> None:
    """Attach ``database`` (a brand-new catalog) once every process reached ``barrier``,
    and write one row: "ok", or the error."""
    from robo_dagster.warehouse.lake import lake_connection

    barrier.wait(timeout=120)
    try:
        lake_connection(database).close()
        results.put("ok")
    except Exception as exc:
        results.put(repr(exc))

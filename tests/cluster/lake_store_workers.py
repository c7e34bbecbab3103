"""What the lake store tests run in child processes (importable by ``spawn``)."""

from __future__ import annotations

import logging
import multiprocessing.synchronize
from typing import Any


def push_events(
    database: str,
    worker: int,
    count: int,
    shared_keys: int,
    barrier: multiprocessing.synchronize.Barrier | None,
) -> dict[str, Any]:
    """Push ``count`` events of this worker's own into the inbox ``database``, and the
    ``shared_keys`` events every worker pushes with the same idempotency keys, once all
    workers reached ``barrier`` (so that their commits collide). The ids each push got,
    and how many commits were retried."""
    from robo_dagster.market_data.inbox import push_event_once
    from tests.automation.test_inbox import event

    class Count(logging.Handler):
        seen = 0

        def emit(self, record: logging.LogRecord) -> None:
            Count.seen += "commit conflict" in record.getMessage()

    logging.getLogger("robo_dagster.warehouse.retry").addHandler(Count())
    if barrier is not None:
        barrier.wait(timeout=120)
    own = [push_event_once(event(worker * 1000 + i), database=database).id for i in range(count)]
    shared = [
        push_event_once(event(i), database=database, idempotency_key=f"shared-{i}").id
        for i in range(shared_keys)
    ]
    return {"worker": worker, "own": own, "shared": shared, "retries": Count.seen}

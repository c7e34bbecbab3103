"""The seed's task queues and priority scale, as Dagster run tags.

Every job, schedule and sensor run carries three tags built here:

- ``dagster/priority``: the seed's 1-10 scale, 10 highest, which Dagster's queued run
  coordinator dequeues highest first (CRITICAL 10, HIGH 7, NORMAL 5, LOW 3,
  BACKGROUND 1);
- ``robo/queue``: which of the seed's queues the run belongs to; ``dagster.yaml`` limits
  how many runs of each queue run at once (``tag_concurrency_limits``);
- ``dagster/max_runtime``: the queue's timeout, which run monitoring enforces by
  cancelling the run.

On a Celery cluster (``ROBO_CELERY_BROKER`` set, ``robo_dagster.cluster.distributed``) a
fourth tag, ``dagster-celery/queue``, sends the run to a worker of the queue's Celery
queue. It is added only there: a single-machine run keeps exactly its three tags.

No Dagster import: the CLI and the tests read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from robo_dagster.cluster import distributed

PRIORITY_TAG = "dagster/priority"
QUEUE_TAG = "robo/queue"
MAX_RUNTIME_TAG = "dagster/max_runtime"


class Priority(IntEnum):
    """The seed's named priorities."""

    BACKGROUND = 1
    LOW = 3
    NORMAL = 5
    HIGH = 7
    CRITICAL = 10


def validate_priority(value: int | str) -> int:
    """``value`` as an int on the 1-10 scale, or a ValueError that says what is allowed."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or str(value).strip() not in {str(number), f"+{number}"}:
        raise ValueError(
            f"priority must be a whole number from 1 (BACKGROUND) to 10 (CRITICAL), not {value!r}"
        )
    if not 1 <= number <= 10:
        raise ValueError(
            f"priority {number} is outside the seed's scale: 1 (BACKGROUND) to 10 (CRITICAL)"
        )
    return number


@dataclass(frozen=True)
class Queue:
    """One of the seed's queues: its concurrency limit, timeout and retry policy."""

    name: str
    concurrency: int
    max_runtime_s: int
    max_retries: int
    backoff_factor: float

    def tags(self, priority: int | str = Priority.NORMAL) -> dict[str, str]:
        """The run tags of a run in this queue at ``priority`` (validated), with its
        Celery queue on a cluster."""
        tags = {
            PRIORITY_TAG: str(validate_priority(priority)),
            QUEUE_TAG: self.name,
            MAX_RUNTIME_TAG: str(self.max_runtime_s),
        }
        return tags | self.celery_tags()

    def celery_tags(self) -> dict[str, str]:
        """``dagster-celery/queue`` for this queue's runs and steps on a Celery cluster;
        nothing on a single machine."""
        if not distributed.enabled():
            return {}
        return {distributed.CELERY_QUEUE_TAG: distributed.celery_queue(self.name)}


PORTFOLIO_SYNC = Queue("portfolio_sync", 1, 300, 3, 2.0)
DATA_FETCHER = Queue("data_fetcher", 3, 600, 5, 1.5)
AI_ANALYSIS = Queue("ai_analysis", 2, 900, 2, 3.0)
# Runs of the automation sensor mix fetches and analyses; no seed limit applies, the
# longest seed timeout does.
AUTOMATION = Queue("automation", 0, 900, 2, 3.0)

SEED_QUEUES = (PORTFOLIO_SYNC, DATA_FETCHER, AI_ANALYSIS)
QUEUES = {queue.name: queue for queue in (*SEED_QUEUES, AUTOMATION)}
# The queue of a run that materializes assets of one group (a task submitted by asset).
GROUP_QUEUES = {
    "portfolio": PORTFOLIO_SYNC,
    "market_data": DATA_FETCHER,
    "ai_analysis": AI_ANALYSIS,
    # Orders trade the book: they queue with the broker sync, one at a time.
    "execution": PORTFOLIO_SYNC,
}

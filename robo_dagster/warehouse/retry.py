"""Retrying a warehouse transaction whose commit conflicted with another writer's.

DuckLake commits optimistically: two processes that write the same table (say, the
delete + insert of two partitions of ``price_bars``) both run, and the second to commit
fails with ``TransactionException: Transaction conflict ...``. The commit is atomic, so
nothing of the failed transaction is left behind, and the whole transaction can run
again on a new connection: that is what ``retry_conflicts`` does, with bounded
exponential backoff and full jitter (the writers that collided must not collide again in
lockstep). The single DuckDB file never conflicts (its writers queue on the flock), so
there the wrapper runs the function once.

A retry must redo the whole unit, never a part: the function passed in opens its own
connection, begins, writes and commits. Rows are then never lost (a failed commit wrote
nothing) nor doubled (the retry's delete runs again before its insert).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

T = TypeVar("T")

MAX_TRIES = 8
BASE_DELAY_S = 0.05
MAX_DELAY_S = 2.0

logger = logging.getLogger(__name__)


class CommitConflict(RuntimeError):
    """A transaction still conflicted with other writers after ``MAX_TRIES`` tries."""


def is_conflict(exc: BaseException) -> bool:
    """True for DuckLake's (and DuckDB's) optimistic-concurrency conflict at commit."""
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _jitter() -> float:
    return random.random()


def backoff_s(attempt: int, base_s: float = BASE_DELAY_S, cap_s: float = MAX_DELAY_S) -> float:
    """The wait before try ``attempt + 1`` (``attempt`` >= 1): full jitter under
    ``base_s * 2 ** (attempt - 1)``, capped at ``cap_s``."""
    return min(cap_s, base_s * 2 ** (attempt - 1)) * _jitter()


def retry_conflicts(
    fn: Callable[[], T],
    what: str,
    *,
    tries: int = MAX_TRIES,
    log: Any = None,
    on_retry: Callable[[int], None] | None = None,
) -> T:
    """Run ``fn`` (a whole transaction) until it commits without a conflict, at most
    ``tries`` times. Each retry is logged (on ``log``, e.g. a Dagster context's logger,
    else this module's logger) and reported to ``on_retry`` with its number. Any other
    error propagates at once; after the last conflict, ``CommitConflict``."""
    for attempt in range(1, tries + 1):
        try:
            return fn()
        except duckdb.TransactionException as exc:
            if not is_conflict(exc):
                raise
            if attempt == tries:
                raise CommitConflict(
                    f"{what}: the commit still conflicted with other writers after {tries} "
                    f"tries; nothing of it was written. Last conflict: {exc}"
                ) from exc
            delay = backoff_s(attempt)
            (log or logger).warning(
                f"{what}: commit conflict with another writer (try {attempt} of {tries}), "
                f"retrying the whole transaction in {delay:.2f} s: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            )
            if on_retry is not None:
                on_retry(attempt)
            _sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises

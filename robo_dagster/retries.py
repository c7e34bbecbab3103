"""Step retries with the seed's backoff: a transient provider failure waits and retries.

Dagster's ``RetryPolicy`` backs off by powers of two only, and cannot read a provider's
``Retry-After``. The seed's factors (portfolio 2.0, data 1.5, AI 3.0) and the header
need ``RetryRequested``: a step that catches ``ProviderUnavailable`` asks to be retried
after ``base * factor ** retry_number`` seconds (plus or minus 10 % jitter, so retries of
parallel steps do not arrive together), or after the provider's ``Retry-After`` when it
is longer. Any other error (bad input, an unknown symbol) fails the step at once:
retrying would give the same answer.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dagster import AssetExecutionContext, RetryRequested

from robo_dagster import settings
from robo_dagster.automation.queues import Queue
from robo_dagster.providers import ProviderUnavailable

JITTER = 0.1


def retry_delay(
    queue: Queue,
    retry_number: int,
    retry_after: float | None = None,
    base_delay_s: float | None = None,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry ``retry_number + 1`` of a step in ``queue``."""
    base = settings.retry_base_delay_s() if base_delay_s is None else base_delay_s
    backoff = base * queue.backoff_factor**retry_number
    jittered = backoff * (1.0 + JITTER * (2.0 * draw() - 1.0))
    return max(jittered, retry_after or 0.0)


@contextmanager
def provider_retries(context: AssetExecutionContext, queue: Queue) -> Iterator[None]:
    """Turn a transient provider failure inside the block into a delayed step retry,
    up to the queue's ``max_retries``; after the last one the failure stands."""
    try:
        yield
    except ProviderUnavailable as exc:
        attempt = context.retry_number
        if attempt >= queue.max_retries:
            context.log.error(f"{exc}; no retry left ({queue.max_retries} in {queue.name})")
            raise
        wait = retry_delay(queue, attempt, exc.retry_after)
        context.log.warning(
            f"{exc}; retry {attempt + 1} of {queue.max_retries} in {wait:.1f} s "
            f"(queue {queue.name}, backoff x{queue.backoff_factor:g})"
        )
        raise RetryRequested(max_retries=queue.max_retries, seconds_to_wait=wait) from exc


def retrying(fn: Callable[..., Any], queue: Queue) -> Callable[..., Any]:
    """``fn`` (an asset body) with ``provider_retries`` around it. The signature is kept
    (``functools.wraps``), so Dagster still sees the body's parameters; a body that
    yields (an asset whose output is optional) stays a generator."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_body(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with provider_retries(AssetExecutionContext.get(), queue):
                yield from fn(*args, **kwargs)

        return generator_body

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> Any:
        with provider_retries(AssetExecutionContext.get(), queue):
            return fn(*args, **kwargs)

    return body

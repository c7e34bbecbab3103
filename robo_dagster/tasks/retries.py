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

from robo_dagster import redaction, settings
from robo_dagster.providers import ProviderUnavailable
from robo_dagster.tasks.queues import Queue

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


class RedactedError(RuntimeError):
    """An error whose message carried a secret: raised in its place, with the secret
    removed and the original (and its traceback's messages) left behind."""


@contextmanager
def provider_retries(context: AssetExecutionContext, queue: Queue) -> Iterator[None]:
    """Turn a transient provider failure inside the block into a delayed step retry,
    up to the queue's ``max_retries``; after the last one the failure stands. Any error
    whose text holds a secret leaves the step redacted (``robo_dagster.redaction``), so
    neither the event log nor the compute log ever sees it."""
    try:
        yield
    except RetryRequested:
        raise
    except ProviderUnavailable as exc:
        attempt = context.retry_number
        said = redaction.redact(str(exc))
        if attempt >= queue.max_retries:
            context.log.error(f"{said}; no retry left ({queue.max_retries} in {queue.name})")
            _raise_redacted(exc)
            raise
        wait = retry_delay(queue, attempt, exc.retry_after)
        context.log.warning(
            f"{said}; retry {attempt + 1} of {queue.max_retries} in {wait:.1f} s "
            f"(queue {queue.name}, backoff x{queue.backoff_factor:g})"
        )
        # The retry carries no exception chain: the cause's text is logged above, redacted.
        raise RetryRequested(max_retries=queue.max_retries, seconds_to_wait=wait) from None
    except Exception as exc:
        _raise_redacted(exc)
        raise


def _raise_redacted(exc: BaseException) -> None:
    """Raise a ``RedactedError`` in place of ``exc`` when its text, or that of any error
    in its chain, holds a secret."""
    chain = "\n".join(str(e) for e in _chain(exc))
    if redaction.redact(chain) != chain:
        raise RedactedError(f"{type(exc).__name__}: {redaction.redact(str(exc))}") from None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


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

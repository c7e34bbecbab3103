"""Retrying one call in-process: the one mechanism the HTTP clients share (the LLM
analyst, the alert webhook). A step that fails retries through Dagster instead
(``tasks.retries``), so no call is retried by two loops at once.

tenacity runs the loop. The wait before retry ``n`` (0-based) is full jitter on
``base_s * 2**n``, capped at ``cap_s``; a server's ``Retry-After`` wins when it is
longer. A deadline ends the retries early when the next wait would pass it. Only
``Transient`` failures are retried: the caller says which failures those are
(timeouts, dropped connections, 429, 5xx, a body cut short).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import tenacity

T = TypeVar("T")


def _sleep(seconds: float) -> None:
    """Wait between attempts. Tests monkeypatch this module attribute to record delays."""
    time.sleep(seconds)


def _jitter() -> float:
    """Full jitter: a uniform factor in [0, 1). Tests monkeypatch it to make delays exact."""
    return random.random()


class Transient(Exception):
    """A failure that another attempt may not repeat. ``reason`` is what logs and errors
    show, so the caller redacts it before raising."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status
        self.error_type = error_type


class GaveUp(Exception):
    """The retries ran out, or the deadline came first: ``last`` is the final failure."""

    def __init__(self, last: Transient, attempts: int, *, deadline_passed: bool) -> None:
        why = "the deadline came" if deadline_passed else f"after {attempts} attempt(s)"
        super().__init__(f"{last.reason} ({why})")
        self.last = last
        self.attempts = attempts
        self.deadline_passed = deadline_passed


@dataclass(frozen=True)
class Backoff:
    """How often and how long to retry."""

    retries: int
    base_s: float
    cap_s: float

    def delay_s(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``retry_number + 1``."""
        ceiling = min(self.cap_s, self.base_s * 2**retry_number)
        delay = ceiling * _jitter()
        return retry_after if retry_after is not None and retry_after > delay else delay


def call_with_retries(
    call: Callable[[], T],
    backoff: Backoff,
    *,
    what: str,
    log: logging.Logger,
    deadline: float | None = None,
) -> tuple[T, int]:
    """``call()``'s result and the attempts it took. A ``Transient`` failure is retried
    up to ``backoff.retries`` times, unless the wait would end past ``deadline`` (a
    ``time.monotonic()`` instant); then ``GaveUp``. Any other error propagates at once."""

    def wait(state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        return backoff.delay_s(state.attempt_number - 1, getattr(failure, "retry_after", None))

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number > backoff.retries:
            return True
        return deadline is not None and time.monotonic() + state.upcoming_sleep >= deadline

    def announce(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s; retry %d/%d in %.2fs",
            what,
            getattr(failure, "reason", failure),
            state.attempt_number,
            backoff.retries,
            state.upcoming_sleep,
        )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Transient),
        wait=wait,
        stop=stop,
        sleep=lambda seconds: _sleep(seconds),
        before_sleep=announce,
        reraise=True,
    )
    try:
        result = retrying(call)
    except Transient as failure:
        attempts = int(retrying.statistics["attempt_number"])
        raise GaveUp(failure, attempts, deadline_passed=attempts <= backoff.retries) from None
    return result, int(retrying.statistics["attempt_number"])


def retry_after_s(
    headers: Mapping[str, str], cap_s: float, now: float | None = None
) -> float | None:
    """The wait a server asks for, clamped to ``[0, cap_s]``: ``Retry-After`` in seconds
    or as an HTTP date, or else the distance to ``X-RateLimit-Reset`` (Unix seconds,
    Alpaca's); None when neither says."""
    wait = _retry_after_header(headers.get("retry-after"))
    reset = headers.get("x-ratelimit-reset")
    if wait is None and reset:
        try:
            wait = float(reset) - (time.time() if now is None else now)
        except ValueError:
            wait = None
    if wait is None or wait != wait:  # absent, unreadable or NaN
        return None
    return min(max(wait, 0.0), cap_s)


def _retry_after_header(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when - dt.datetime.now(dt.timezone.utc)).total_seconds()

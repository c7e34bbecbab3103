"""Per-token rate limits, counted by the ``limits`` library in a moving window.

``ROBO_API_RATE_LIMIT`` sets them: one limit for every kind of request (``100/minute``)
or per kind, ``submit=60/minute,events=600/minute,read=600/minute``; a kind left out
keeps its default. Counts live in the service's memory: a restart starts them afresh.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

RATE_LIMIT_VARIABLE = "ROBO_API_RATE_LIMIT"
DEFAULT_LIMITS = {"submit": "60/minute", "events": "600/minute", "read": "600/minute"}


class RateLimitConfigError(ValueError):
    """``ROBO_API_RATE_LIMIT`` cannot be read; the message names the variable."""


def _parse(kind: str, text: str) -> RateLimitItem:
    try:
        return parse(text)
    except ValueError:
        raise RateLimitConfigError(
            f"{RATE_LIMIT_VARIABLE}: {kind}={text!r} is not a rate such as 60/minute"
        ) from None


def parse_rate_limits(text: str | None) -> dict[str, RateLimitItem]:
    """The limit of each kind of request from ``text`` (the variable's value)."""
    chosen = dict(DEFAULT_LIMITS)
    raw = (text or "").strip()
    if raw and "=" not in raw:
        chosen = dict.fromkeys(DEFAULT_LIMITS, raw)
    elif raw:
        for part in (p.strip() for p in raw.split(",") if p.strip()):
            kind, _, value = part.partition("=")
            if kind.strip() not in DEFAULT_LIMITS:
                raise RateLimitConfigError(
                    f"{RATE_LIMIT_VARIABLE}: unknown kind {kind.strip()!r}; "
                    f"expected {', '.join(DEFAULT_LIMITS)}"
                )
            chosen[kind.strip()] = value.strip()
    return {kind: _parse(kind, value) for kind, value in chosen.items()}


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go on, and if not, in how many seconds to try again."""

    allowed: bool
    retry_after_s: int = 0


class RateLimits:
    """One moving window per caller and kind of request."""

    def __init__(self, limits: dict[str, RateLimitItem]) -> None:
        self.limits = limits
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_environment(cls) -> RateLimits:
        """The limits ``ROBO_API_RATE_LIMIT`` sets."""
        return cls(parse_rate_limits(os.environ.get(RATE_LIMIT_VARIABLE)))

    def hit(self, kind: str, caller: str) -> Verdict:
        """Count one request of ``kind`` by ``caller``, unless it is over its limit."""
        item = self.limits[kind]
        if self._limiter.hit(item, kind, caller):
            return Verdict(True)
        stats = self._limiter.get_window_stats(item, kind, caller)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))

    def describe(self) -> str:
        """The limits in force, for the start-up line."""
        return ", ".join(f"{kind} {item}" for kind, item in self.limits.items())

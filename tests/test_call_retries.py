"""The one in-process retry mechanism (``robo_dagster.call_retries``): backoff, Retry-After,
what is retried, and the deadline."""

import email.utils
import logging
import time

import httpx
import pytest

from robo_dagster import call_retries
from robo_dagster.call_retries import Backoff, GaveUp, Transient, call_with_retries, retry_after_s

LOG = logging.getLogger("tests.call_retries")


def failing(*failures: Exception, then: str = "done"):
    """A call that raises ``failures`` one by one, then returns ``then``; it counts calls."""
    pending = list(failures)
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if pending:
            raise pending.pop(0)
        return then

    return call, calls


def test_full_jitter_stays_under_a_ceiling_that_doubles_up_to_its_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backoff = Backoff(retries=5, base_s=1.0, cap_s=8.0)
    monkeypatch.setattr(call_retries, "_jitter", lambda: 0.5)
    assert [backoff.delay_s(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.delay_s(0, retry_after=3.0) == 3.0  # a longer Retry-After wins
    assert backoff.delay_s(4, retry_after=1.0) == 4.0  # a shorter one does not
    monkeypatch.setattr(call_retries, "_jitter", lambda: 0.0)
    assert backoff.delay_s(3) == 0.0


def test_transient_failures_are_retried_with_the_backoff(sleeps: list[float]) -> None:
    call, calls = failing(Transient("a"), Transient("b", retry_after=0.7))
    result, attempts = call_with_retries(call, Backoff(3, 0.1, 1.0), what="t", log=LOG)
    assert (result, attempts, len(calls)) == ("done", 3, 3)
    assert sleeps == pytest.approx([0.1, 0.7])


def test_the_last_failure_stands_after_the_retries(sleeps: list[float]) -> None:
    call, calls = failing(*[Transient(f"boom {i}", status=503) for i in range(5)])
    with pytest.raises(GaveUp) as info:
        call_with_retries(call, Backoff(2, 0.1, 1.0), what="t", log=LOG)
    assert (info.value.attempts, len(calls)) == (3, 3)
    assert info.value.last.reason == "boom 2"
    assert info.value.last.status == 503
    assert not info.value.deadline_passed
    assert str(info.value) == "boom 2 (after 3 attempt(s))"


def test_other_errors_are_not_retried(sleeps: list[float]) -> None:
    call, calls = failing(KeyError("bad input"))
    with pytest.raises(KeyError):
        call_with_retries(call, Backoff(5, 0.1, 1.0), what="t", log=LOG)
    assert len(calls) == 1
    assert sleeps == []


def test_no_retry_waits_past_the_deadline(sleeps: list[float]) -> None:
    """The wait before a retry would end past the deadline: give up now, and say so."""
    call, calls = failing(Transient("slow", retry_after=30.0), Transient("never reached"))
    deadline = time.monotonic() + 5.0
    with pytest.raises(GaveUp) as info:
        call_with_retries(call, Backoff(9, 0.1, 1.0), what="t", log=LOG, deadline=deadline)
    assert info.value.deadline_passed
    assert (info.value.attempts, len(calls), sleeps) == (1, 1, [])


def test_each_retry_is_announced(sleeps: list[float], caplog: pytest.LogCaptureFixture) -> None:
    call, _ = failing(Transient("HTTP 503 overloaded"))
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        call_with_retries(call, Backoff(2, 0.25, 1.0), what="the webhook", log=LOG)
    assert [r.getMessage() for r in caplog.records] == [
        "the webhook: HTTP 503 overloaded; retry 1/2 in 0.25s"
    ]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "100000"}, 300.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
        ({"x-ratelimit-reset": "1100"}, 100.0),
        ({"x-ratelimit-reset": "900"}, 0.0),
        ({"retry-after": "4", "x-ratelimit-reset": "1100"}, 4.0),
    ],
)
def test_retry_after_reads_seconds_and_rate_limit_resets(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_s(httpx.Headers(headers), 300.0, now=1000.0) == expected


def test_retry_after_reads_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    wait = retry_after_s(httpx.Headers({"retry-after": when}), 300.0)
    assert wait is not None and 55.0 <= wait <= 60.0

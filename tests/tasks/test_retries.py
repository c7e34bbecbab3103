"""Step retries with the seed's backoff, run for real by Dagster's in-process executor."""

from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from robo_dagster.asset_defaults import group_asset
from robo_dagster.providers import ProviderUnavailable, UnknownSymbolError
from robo_dagster.tasks.queues import AI_ANALYSIS, DATA_FETCHER, PORTFOLIO_SYNC, Queue
from robo_dagster.tasks.retries import retry_delay

FLAKY = Queue("test_queue", 1, 60, max_retries=2, backoff_factor=3.0)


@pytest.mark.parametrize(
    ("queue", "retries", "factor"),
    [(PORTFOLIO_SYNC, 3, 2.0), (DATA_FETCHER, 5, 1.5), (AI_ANALYSIS, 2, 3.0)],
)
def test_the_seeds_retry_policies_back_off_by_their_factor(
    queue: Queue, retries: int, factor: float
) -> None:
    assert (queue.max_retries, queue.backoff_factor) == (retries, factor)
    no_jitter = [retry_delay(queue, n, base_delay_s=1.0, draw=lambda: 0.5) for n in range(retries)]
    assert no_jitter == pytest.approx([factor**n for n in range(retries)])
    low = retry_delay(queue, 1, base_delay_s=1.0, draw=lambda: 0.0)
    high = retry_delay(queue, 1, base_delay_s=1.0, draw=lambda: 1.0)
    assert low == pytest.approx(0.9 * factor) and high == pytest.approx(1.1 * factor)


def test_a_longer_retry_after_wins() -> None:
    assert retry_delay(AI_ANALYSIS, 0, retry_after=30.0, base_delay_s=1.0) == 30.0
    assert retry_delay(AI_ANALYSIS, 2, retry_after=1.0, base_delay_s=1.0) > 8.0


def _flaky_asset(tmp_path: Path, failures: int, error: Exception):
    attempts = tmp_path / "attempts"
    attempts.write_text("0")

    @group_asset("test", owners=["team:test"], queue=FLAKY)()
    def flaky_quotes() -> int:
        made = int(attempts.read_text()) + 1
        attempts.write_text(str(made))
        if made <= failures:
            raise error
        return made

    return flaky_quotes, attempts


def _waits(instance: DagsterInstance, run_id: str) -> list[float]:
    events = instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    return [
        e.dagster_event.event_specific_data.seconds_to_wait  # type: ignore[union-attr]
        for e in events
    ]


def test_a_step_failing_twice_transiently_succeeds_the_third_time_with_growing_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_RETRY_BASE_DELAY_S", "0.05")
    flaky, attempts = _flaky_asset(tmp_path, 2, ProviderUnavailable("quote server answered 503"))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([flaky], instance=instance)
        assert result.success
        assert attempts.read_text() == "3"
        first, second = _waits(instance, result.run_id)
    assert 0.045 <= first <= 0.055
    assert second / first > 2.4  # x3 with at most 10 % jitter either way


def test_retries_stop_at_the_queues_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_RETRY_BASE_DELAY_S", "0.01")
    flaky, attempts = _flaky_asset(tmp_path, 10, ProviderUnavailable("still down"))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([flaky], instance=instance, raise_on_error=False)
        assert not result.success
        assert attempts.read_text() == "3"  # the first try and FLAKY's 2 retries


def test_retry_after_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_RETRY_BASE_DELAY_S", "0.01")
    flaky, _ = _flaky_asset(tmp_path, 1, ProviderUnavailable("429", retry_after=0.3))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([flaky], instance=instance)
        assert result.success
        assert _waits(instance, result.run_id) == [0.3]


def test_a_permanent_error_fails_at_once(tmp_path: Path) -> None:
    flaky, attempts = _flaky_asset(tmp_path, 1, UnknownSymbolError("unknown symbol ZZZZ"))
    result = materialize([flaky], raise_on_error=False)
    assert not result.success
    assert attempts.read_text() == "1"

"""The trading-day partitions' cache on disk: reused while its key holds, rebuilt when it
does not, and never in the way."""

import datetime as dt
import json
from pathlib import Path

import pytest

from robo_dagster import partitions
from robo_dagster.domain import calendar


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROBO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "trading_days.json"


def calendar_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("the calendar was built although the cache holds the answer")

    monkeypatch.setattr(calendar, "exchange_calendar", refuse)


def test_the_answer_is_the_calendars_and_is_reused(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, closed = partitions.partition_days()
    assert first == dt.date(2020, 1, 2)
    assert dt.date(2020, 12, 25) in closed  # Christmas, a Friday
    assert dt.date(2025, 1, 9) in closed  # the national day of mourning for President Carter
    assert all(day.weekday() < 5 for day in closed)
    assert cache.exists()
    calendar_unavailable(monkeypatch)
    assert partitions.partition_days() == (first, closed)


def test_another_history_start_rebuilds_it(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partitions.partition_days()
    monkeypatch.setenv("ROBO_HISTORY_START", "2021-01-04")
    first, closed = partitions.partition_days()
    assert first == dt.date(2021, 1, 4)
    assert min(closed) >= first
    assert json.loads(cache.read_text())["key"]["history_start"] == "2021-01-04"


def test_a_corrupt_or_foreign_file_is_rebuilt(cache: Path) -> None:
    expected = partitions.partition_days()
    for junk in ["{not json", json.dumps({"key": "other"}), json.dumps([1, 2])]:
        cache.write_text(junk)
        assert partitions.partition_days() == expected
        assert json.loads(cache.read_text())["first_session"] == "2020-01-02"


def test_a_cache_that_cannot_be_written_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ROBO_CACHE_DIR", str(blocker / "cache"))  # under a file: no mkdir
    first, _ = partitions.partition_days()
    assert first == dt.date(2020, 1, 2)
    assert not list(tmp_path.glob("**/*.tmp"))

"""Schedules on the XNYS calendar, evaluated at explicit New York times."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from dagster import DagsterInstance, RunRequest, build_schedule_context
from dagster._utils.schedules import cron_string_iterator

from robo_dagster.automation.schedules import (
    SCHEDULES,
    end_of_day_market_data_schedule,
    evening_review_schedule,
    morning_prep_schedule,
    portfolio_sync_schedule,
)
from robo_dagster.definitions import defs

NY = ZoneInfo("America/New_York")


def at(day: str, hhmm: str) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NY)


def evaluate(schedule_def, moment: dt.datetime):
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=moment,
            repository_def=defs.get_repository_def(),
        )
        return schedule_def.evaluate_tick(context)


def runs(schedule_def, moment: dt.datetime) -> list[RunRequest]:
    return list(evaluate(schedule_def, moment).run_requests or [])


def skip(schedule_def, moment: dt.datetime) -> str:
    result = evaluate(schedule_def, moment)
    assert not result.run_requests, result.run_requests
    return str(result.skip_message)


@pytest.mark.parametrize("schedule_def", SCHEDULES, ids=lambda s: s.name)
def test_thanksgiving_skips_every_schedule_with_the_holidays_name(schedule_def) -> None:
    for hhmm in ["08:30", "09:30", "13:15", "13:30", "16:00", "16:15", "16:30"]:
        assert "Thanksgiving" in skip(schedule_def, at("2026-11-26", hhmm))


def test_an_ordinary_tuesday() -> None:
    day = "2026-11-24"
    assert len(runs(morning_prep_schedule, at(day, "08:30"))) == 1
    assert "market closed at 09:15" in skip(portfolio_sync_schedule, at(day, "09:15"))
    for hhmm in ["09:30", "12:45", "16:00"]:  # the open, midday, and the last run at the close
        assert len(runs(portfolio_sync_schedule, at(day, hhmm))) == 1
    assert "market closed at 16:15" in skip(portfolio_sync_schedule, at(day, "16:15"))
    assert "closes at 16:00" in skip(end_of_day_market_data_schedule, at(day, "13:15"))
    [eod] = runs(end_of_day_market_data_schedule, at(day, "16:15"))
    assert eod.partition_key == day and eod.run_key == f"eod-{day}"
    assert "closes at 16:00" in skip(evening_review_schedule, at(day, "13:30"))
    assert len(runs(evening_review_schedule, at(day, "16:30"))) == 1


def test_the_early_close_after_thanksgiving_moves_the_close_relative_runs() -> None:
    day = "2026-11-27"  # XNYS closes at 13:00
    assert len(runs(portfolio_sync_schedule, at(day, "13:00"))) == 1  # the last run, at the close
    assert "open 09:30-13:00" in skip(portfolio_sync_schedule, at(day, "13:15"))
    [eod] = runs(end_of_day_market_data_schedule, at(day, "13:15"))
    assert eod.partition_key == day
    assert "closes at 13:00" in skip(end_of_day_market_data_schedule, at(day, "16:15"))
    assert len(runs(evening_review_schedule, at(day, "13:30"))) == 1
    assert "closes at 13:00" in skip(evening_review_schedule, at(day, "16:30"))


@pytest.mark.parametrize(
    ("sunday", "monday"), [("2026-03-08", "2026-03-09"), ("2026-11-01", "2026-11-02")]
)
def test_daylight_saving_changes_keep_new_york_hours(sunday: str, monday: str) -> None:
    assert "weekend" in skip(portfolio_sync_schedule, at(sunday, "10:00"))
    assert "weekend" in skip(morning_prep_schedule, at(sunday, "08:30"))
    # The cron's ticks stay on New York wall time across the change...
    start = at(sunday, "00:00").timestamp()
    ticks = cron_string_iterator(start, "30 8 * * 1-5", "America/New_York")
    first = next(ticks)
    assert (first.date().isoformat(), first.hour, first.minute) == (monday, 8, 30)
    # ...and Monday's open and close are read from the calendar in local time.
    assert "market closed at 09:15" in skip(portfolio_sync_schedule, at(monday, "09:15"))
    assert len(runs(portfolio_sync_schedule, at(monday, "09:30"))) == 1
    assert len(runs(portfolio_sync_schedule, at(monday, "16:00"))) == 1
    assert len(runs(end_of_day_market_data_schedule, at(monday, "16:15"))) == 1


def test_a_weekend_skips_and_run_keys_never_repeat_a_session() -> None:
    assert "Saturday 2026-11-28: weekend" in skip(
        evening_review_schedule, at("2026-11-28", "16:30")
    )
    first = runs(end_of_day_market_data_schedule, at("2026-11-24", "16:15"))[0].run_key
    again = runs(end_of_day_market_data_schedule, at("2026-11-24", "16:15"))[0].run_key
    assert first == again  # the daemon launches one run per run key


def test_schedules_start_running_and_target_loadable_jobs() -> None:
    for schedule_def in SCHEDULES:
        # Orders go out on a schedule only when a user starts it.
        expected = "STOPPED" if schedule_def.name == "execution_schedule" else "RUNNING"
        assert schedule_def.default_status.value == expected
        assert schedule_def.execution_timezone == "America/New_York"
        assert defs.resolve_job_def(schedule_def.job_name) is not None
    assert defs.resolve_job_def("morning_prep_job").tags["dagster/priority"] == "8"
    assert defs.resolve_job_def("evening_review_job").tags["dagster/priority"] == "7"

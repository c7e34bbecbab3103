"""The exchange calendar: holidays, early closes and the latest closed session."""

import datetime as dt

import pandas as pd
import pytest

from robo_dagster.domain import calendar


def test_thanksgiving_and_the_early_close() -> None:
    assert not calendar.is_session("2026-11-26")
    assert calendar.holiday_name("2026-11-26") == "Thanksgiving"
    assert calendar.is_early_close("2026-11-27")
    assert calendar.session_close("2026-11-27").hour == 13
    assert calendar.holiday_name("2026-11-28") is None  # a weekend is not a holiday


def test_last_closed_session_respects_the_close() -> None:
    ny = calendar.EXCHANGE_TIMEZONE
    assert calendar.last_closed_session(pd.Timestamp("2026-11-25 15:59", tz=ny)) == dt.date(
        2026, 11, 24
    )
    assert calendar.last_closed_session(pd.Timestamp("2026-11-25 16:00", tz=ny)) == dt.date(
        2026, 11, 25
    )
    assert calendar.last_closed_session(pd.Timestamp("2026-11-26 12:00", tz=ny)) == dt.date(
        2026, 11, 25
    )
    assert calendar.last_closed_session(pd.Timestamp("2026-11-27 13:05", tz=ny)) == dt.date(
        2026, 11, 27
    )
    assert calendar.last_closed_session(pd.Timestamp("2026-11-28 10:00", tz=ny)) == dt.date(
        2026, 11, 27
    )


def test_session_navigation() -> None:
    assert calendar.previous_session("2026-11-27") == dt.date(2026, 11, 25)
    assert calendar.session_on_or_before("2026-11-26") == dt.date(2026, 11, 25)
    assert calendar.session_on_or_after("2026-11-26") == dt.date(2026, 11, 27)
    assert dt.date(2026, 11, 26) in calendar.closed_weekdays("2026-11-01", "2026-11-30")
    assert (
        len(calendar.sessions_between("2026-01-01", "2026-12-31")) == 251
    )  # 261 weekdays less 10 weekday holidays


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2026-11-24 09:29", False),  # an ordinary Tuesday, before the open
        ("2026-11-24 09:30", True),
        ("2026-11-24 15:59", True),
        ("2026-11-24 16:00", False),  # the close itself is after the session
        ("2026-11-26 12:00", False),  # Thanksgiving
        ("2026-11-27 12:59", True),  # the early close at 13:00
        ("2026-11-27 13:00", False),
        ("2026-11-28 12:00", False),  # Saturday
        ("2026-03-09 09:30", True),  # the Monday after clocks went forward
        ("2026-11-02 09:30", True),  # the Monday after clocks went back
    ],
)
def test_is_open_at_follows_the_session_hours(moment: str, is_open: bool) -> None:
    assert calendar.is_open_at(pd.Timestamp(moment)) is is_open
    # The same instant in UTC gives the same answer.
    utc = pd.Timestamp(moment, tz=calendar.EXCHANGE_TIMEZONE).tz_convert("UTC")
    assert calendar.is_open_at(utc) is is_open

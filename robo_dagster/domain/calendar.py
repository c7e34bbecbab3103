"""The exchange calendar: trading sessions, holidays and early closes of the NYSE (XNYS).

Everything time-related in robo-dagster asks this module, never a hard-coded cron or
weekday rule, so that holidays and early closes (the day after Thanksgiving closes at
13:00 New York time) are right by construction.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import exchange_calendars as xcals

EXCHANGE = "XNYS"
EXCHANGE_TIMEZONE = "America/New_York"
# The simulator's epoch: a fixed date, so that the same seed gives the same market
# whatever day the code runs.
CALENDAR_START = dt.date(2015, 1, 1)
HISTORY_START_VARIABLE = "ROBO_HISTORY_START"
DEFAULT_HISTORY_START = dt.date(2020, 1, 2)
# exchange_calendars' XNYS reaches back to 1885; older files are not a use case.
EARLIEST_HISTORY_START = dt.date(1990, 1, 2)


def history_start() -> dt.date:
    """``ROBO_HISTORY_START``: the first day of the trading-day partitions (default
    2020-01-02). The calendar is built from here when it is earlier than the simulator's
    epoch, so that twenty years of a user's own files fit.

    The one setting read here rather than in ``robo_dagster.settings``: every date
    function below depends on it, and the calendar must be right in any process.
    """
    raw = (os.environ.get(HISTORY_START_VARIABLE) or "").strip()
    if not raw:
        return DEFAULT_HISTORY_START
    try:
        start = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{HISTORY_START_VARIABLE}={raw!r} is not a date of the form YYYY-MM-DD"
        ) from None
    if start < EARLIEST_HISTORY_START:
        raise ValueError(
            f"{HISTORY_START_VARIABLE}={raw!r}: the history may start on "
            f"{EARLIEST_HISTORY_START.isoformat()} at the earliest"
        )
    if start > dt.date.today():
        raise ValueError(f"{HISTORY_START_VARIABLE}={raw!r} is in the future")
    return start


def calendar_start() -> dt.date:
    """The first day the exchange calendar knows: the simulator's epoch, or the history
    start when that is earlier."""
    return min(CALENDAR_START, history_start())


def calendar_end() -> dt.date:
    """The last day the exchange calendar knows: the end of next year."""
    # Sessions of a whole year are needed at once (the simulator bridges a year at a
    # time), so the calendar always reaches past the end of next year.
    return dt.date(dt.date.today().year + 1, 12, 31)


@lru_cache(maxsize=1)
def exchange_calendar() -> xcals.ExchangeCalendar:
    """The XNYS calendar from exchange_calendars, built once per process, when first
    asked for: loading the definitions does not need it (``partitions`` caches what it
    needs on disk)."""
    import exchange_calendars as xcals

    return xcals.get_calendar(EXCHANGE, start=calendar_start().isoformat(), end=calendar_end())


def to_date(value: str | dt.date | dt.datetime | pd.Timestamp) -> dt.date:
    """Normalise a date-like value (ISO string, date, datetime, Timestamp) to a date."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def is_session(day: str | dt.date) -> bool:
    """True when the exchange trades on ``day``."""
    return bool(exchange_calendar().is_session(pd.Timestamp(to_date(day))))


def sessions_between(start: str | dt.date, end: str | dt.date) -> list[dt.date]:
    """Trading sessions from ``start`` to ``end``, both inclusive."""
    start_d, end_d = to_date(start), to_date(end)
    if end_d < start_d:
        return []
    cal = exchange_calendar()
    first, last = pd.Timestamp(max(start_d, cal.first_session.date())), pd.Timestamp(end_d)
    return [ts.date() for ts in cal.sessions_in_range(first, last)]


def session_index(start: str | dt.date, end: str | dt.date) -> pd.DatetimeIndex:
    """Trading sessions from ``start`` to ``end`` (inclusive) as a naive DatetimeIndex."""
    return pd.DatetimeIndex(pd.to_datetime(sessions_between(start, end)))


def previous_session(day: str | dt.date) -> dt.date:
    """The last session strictly before ``day``."""
    return session_on_or_before(to_date(day) - dt.timedelta(days=1))


def session_on_or_before(day: str | dt.date) -> dt.date:
    """``day`` itself when it is a session, otherwise the session before it."""
    return exchange_calendar().date_to_session(pd.Timestamp(to_date(day)), "previous").date()


def session_on_or_after(day: str | dt.date) -> dt.date:
    """``day`` itself when it is a session, otherwise the session after it."""
    return exchange_calendar().date_to_session(pd.Timestamp(to_date(day)), "next").date()


def session_close(day: str | dt.date) -> pd.Timestamp:
    """The close of session ``day`` in New York time (13:00 on an early close)."""
    return (
        exchange_calendar().session_close(pd.Timestamp(to_date(day))).tz_convert(EXCHANGE_TIMEZONE)
    )


def session_open(day: str | dt.date) -> pd.Timestamp:
    """The open of session ``day`` in New York time."""
    return (
        exchange_calendar().session_open(pd.Timestamp(to_date(day))).tz_convert(EXCHANGE_TIMEZONE)
    )


def is_early_close(day: str | dt.date) -> bool:
    """True when session ``day`` closes before 16:00 New York time."""
    return is_session(day) and session_close(day).hour < 16


def last_closed_session(now: dt.datetime | pd.Timestamp | None = None) -> dt.date:
    """The latest session whose close is at or before ``now`` (default: the wall clock)."""
    moment = pd.Timestamp(now if now is not None else dt.datetime.now(dt.timezone.utc))
    if moment.tzinfo is None:
        moment = moment.tz_localize(EXCHANGE_TIMEZONE)
    today = moment.tz_convert(EXCHANGE_TIMEZONE).date()
    candidate = session_on_or_before(today)
    if session_close(candidate) > moment:
        candidate = previous_session(candidate)
    return candidate


def holiday_name(day: str | dt.date) -> str | None:
    """The holiday's name when ``day`` is a weekday on which the exchange is closed."""
    day_d = to_date(day)
    if day_d.weekday() >= 5 or is_session(day_d):
        return None
    cal = exchange_calendar()
    ts = pd.Timestamp(day_d)
    regular = cal.regular_holidays
    if regular is not None:
        names = regular.holidays(ts, ts, return_name=True)
        if len(names):
            return str(names.iloc[0])
    return "Exchange holiday"


def closed_weekdays(start: str | dt.date, end: str | dt.date) -> list[dt.date]:
    """Weekdays between ``start`` and ``end`` on which the exchange does not trade."""
    weekdays = pd.bdate_range(to_date(start), to_date(end))
    closed = weekdays.difference(session_index(start, end))
    return [d.date() for d in closed]


def minutes_after_close(moment: dt.datetime | pd.Timestamp) -> float | None:
    """Minutes from today's close to ``moment`` (negative before it), or None when the
    exchange does not trade on ``moment``'s New York date."""
    local = pd.Timestamp(moment)
    if local.tzinfo is None:
        local = local.tz_localize(EXCHANGE_TIMEZONE)
    day = local.tz_convert(EXCHANGE_TIMEZONE).date()
    if not is_session(day):
        return None
    return (local - session_close(day)).total_seconds() / 60.0


def closed_reason(day: str | dt.date) -> str | None:
    """Why the exchange is closed on ``day`` ("weekend" or the holiday's name), or None."""
    day_d = to_date(day)
    if is_session(day_d):
        return None
    if day_d.weekday() >= 5:
        return f"{day_d:%A} {day_d.isoformat()}: weekend, the exchange is closed"
    return f"{day_d:%A} {day_d.isoformat()}: {holiday_name(day_d)}, the exchange is closed"


def is_open_at(moment: dt.datetime | pd.Timestamp) -> bool:
    """True while XNYS is in session at ``moment`` (naive means New York time), from the
    open up to, not including, the close: early closes and holidays included."""
    local = pd.Timestamp(moment)
    if local.tzinfo is None:
        local = local.tz_localize(EXCHANGE_TIMEZONE)
    day = local.tz_convert(EXCHANGE_TIMEZONE).date()
    if not is_session(day):
        return False
    return bool(session_open(day) <= local < session_close(day))

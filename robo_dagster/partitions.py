"""The trading-day partitions: one partition per XNYS session, none on weekends or holidays."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

from dagster import BetaWarning, DailyPartitionsDefinition

from robo_dagster import settings
from robo_dagster.domain import calendar


def partition_days() -> tuple[dt.date, list[dt.date]]:
    """(the first session, the weekdays XNYS is closed from there to the calendar's end).

    Building the XNYS calendar costs about 0.1 s, and every run launch loads the
    definitions, so the answer is kept on disk under a key of everything it depends on:
    the exchange_calendars version, the history start and the calendar's end (the end of
    next year). A missing, unreadable or stale file is recomputed; a cache that cannot be
    written is skipped."""
    end = calendar.calendar_end()
    key = {
        "exchange_calendars": version("exchange_calendars"),
        "exchange": calendar.EXCHANGE,
        "calendar_start": calendar.calendar_start().isoformat(),
        "history_start": calendar.history_start().isoformat(),
        "calendar_end": end.isoformat(),
    }
    path = settings.cache_dir() / "trading_days.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stored = json.loads(path.read_text())
        if stored["key"] == key:
            return (
                dt.date.fromisoformat(stored["first_session"]),
                [dt.date.fromisoformat(day) for day in stored["closed_weekdays"]],
            )
    first = calendar.session_on_or_after(calendar.history_start())
    closed = calendar.closed_weekdays(first, calendar.exchange_calendar().last_session)
    _write_atomically(
        path,
        {
            "key": key,
            "first_session": first.isoformat(),
            "closed_weekdays": [day.isoformat() for day in closed],
        },
    )
    return first, closed


def _write_atomically(path: Path, content: dict[str, object]) -> None:
    """Write ``content`` as JSON so that a reader sees the old file or the new one whole."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(content, handle)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def trading_day_partitions() -> DailyPartitionsDefinition:
    """Daily partitions in New York time that skip every day the exchange is closed,
    from the first session on or after ``ROBO_HISTORY_START`` (default 2020-01-02).

    ``end_offset=1`` makes today's partition exist from midnight, so the end-of-day run
    can fill it right after the close; the provider refuses a session that has not
    closed yet, so no partial bar is ever written.
    """
    start, closed = partition_days()
    return DailyPartitionsDefinition(
        start_date=start.isoformat(),
        timezone=calendar.EXCHANGE_TIMEZONE,
        end_offset=1,
        exclusions=["0 0 * * 6,0", *(dt.datetime(d.year, d.month, d.day) for d in closed)],
    )


TRADING_DAYS = trading_day_partitions()

# A range backfill in one run needs the single-run backfill policy, still marked beta in
# Dagster 1.13; its notice would otherwise repeat on every load of the code location.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")

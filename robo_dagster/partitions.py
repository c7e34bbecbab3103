"""The trading-day partitions: one partition per XNYS session, none on weekends or holidays."""

from __future__ import annotations

import datetime as dt
import warnings

from dagster import BetaWarning, DailyPartitionsDefinition

from robo_dagster.domain import calendar


def trading_day_partitions() -> DailyPartitionsDefinition:
    """Daily partitions in New York time that skip every day the exchange is closed,
    from the first session on or after ``ROBO_HISTORY_START`` (default 2020-01-02).

    ``end_offset=1`` makes today's partition exist from midnight, so the end-of-day run
    can fill it right after the close; the provider refuses a session that has not
    closed yet, so no partial bar is ever written.
    """
    start = calendar.session_on_or_after(calendar.history_start())
    closed = calendar.closed_weekdays(start, calendar.exchange_calendar().last_session)
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

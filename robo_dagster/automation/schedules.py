"""Timed triggers on the exchange's own calendar (XNYS, New York time).

Cron only says when to wake up; whether to run is asked of exchange_calendars, so
holidays skip with their name and an early close (13:00 the day after Thanksgiving)
moves every close-relative run. Each run request carries a run key per session, so a
second tick for the same session never launches a second run.
"""

import datetime as dt

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from robo_dagster.automation.jobs import evening_review_job, execution_job, morning_prep_job
from robo_dagster.domain import calendar
from robo_dagster.tasks.queues import DATA_FETCHER, PORTFOLIO_SYNC, Priority

TIMEZONE = calendar.EXCHANGE_TIMEZONE
END_OF_DAY_DELAY_MIN = 15  # bars are final a few minutes after the close
EVENING_REVIEW_DELAY_MIN = 30  # 16:30 on a regular day, 13:30 after an early close

portfolio_sync_job = define_asset_job(
    name="portfolio_sync_job",
    selection=AssetSelection.groups("portfolio"),
    executor_def=in_process_executor,
    description="Balances, positions, P&L and risk from the broker and the latest stored prices.",
    tags=PORTFOLIO_SYNC.tags(Priority.NORMAL),
)

end_of_day_market_data_job = define_asset_job(
    name="end_of_day_market_data_job",
    selection=AssetSelection.groups("market_data"),
    executor_def=in_process_executor,
    description="The session's price bars, then indicators, news, earnings, fundamentals and options.",
    tags=DATA_FETCHER.tags(Priority.NORMAL),
)


def _tick(context: ScheduleEvaluationContext) -> dt.datetime:
    moment = context.scheduled_execution_time
    if moment is None:
        raise ValueError("the schedule needs its scheduled execution time")
    return moment


@schedule(
    cron_schedule="*/15 9-16 * * 1-5",
    execution_timezone=TIMEZONE,
    job=portfolio_sync_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every 15 minutes while XNYS is open, including a last run at the close.",
)
def portfolio_sync_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    moment = _tick(context)
    local = moment.astimezone(dt.timezone.utc)
    day = calendar.to_date(moment)
    reason = calendar.closed_reason(day)
    if reason:
        return SkipReason(reason)
    opens, closes = calendar.session_open(day), calendar.session_close(day)
    if not opens <= local <= closes:
        return SkipReason(
            f"market closed at {moment:%H:%M} New York time "
            f"(open {opens:%H:%M}-{closes:%H:%M} on {day.isoformat()})"
        )
    return RunRequest(run_key=f"portfolio-sync-{moment:%Y-%m-%dT%H:%M}")


@schedule(
    cron_schedule="30 8 * * 1-5",
    execution_timezone=TIMEZONE,
    job=morning_prep_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="The pre-market brief at 08:30 New York time on trading days.",
)
def morning_prep_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    day = calendar.to_date(_tick(context))
    reason = calendar.closed_reason(day)
    if reason:
        return SkipReason(reason)
    return RunRequest(run_key=f"morning-prep-{day.isoformat()}")


def _after_close(
    context: ScheduleEvaluationContext, delay_min: int, what: str
) -> tuple[dt.date | None, SkipReason | None]:
    """The session this tick is ``delay_min`` minutes after the close of, or why not."""
    moment = _tick(context)
    day = calendar.to_date(moment)
    reason = calendar.closed_reason(day)
    if reason:
        return None, SkipReason(reason)
    minutes = calendar.minutes_after_close(moment)
    closes = calendar.session_close(day)
    if minutes is None or abs(minutes - delay_min) > 1:
        return None, SkipReason(
            f"{what} runs {delay_min} min after the close; {day.isoformat()} closes at "
            f"{closes:%H:%M} New York time"
        )
    return day, None


def _after_close_schedule(
    name: str,
    job: UnresolvedAssetJobDefinition,
    delay_min: int,
    run_key_prefix: str,
    subject: str,
    description: str,
    partitioned: bool = False,
) -> ScheduleDefinition:
    """A schedule that runs ``delay_min`` minutes after each session's close. XNYS closes
    at 16:00, or 13:00 on an early close, so it wakes at both times and keeps the one
    that matches the calendar."""

    @schedule(
        name=name,
        cron_schedule=[f"{delay_min} 13 * * 1-5", f"{delay_min} 16 * * 1-5"],
        execution_timezone=TIMEZONE,
        job=job,
        default_status=DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        day, skip = _after_close(context, delay_min, subject)
        if skip or day is None:
            return skip or SkipReason("no session")
        return RunRequest(
            run_key=f"{run_key_prefix}-{day.isoformat()}",
            partition_key=day.isoformat() if partitioned else None,
        )

    return _schedule


end_of_day_market_data_schedule = _after_close_schedule(
    "end_of_day_market_data_schedule",
    end_of_day_market_data_job,
    END_OF_DAY_DELAY_MIN,
    "eod",
    "end-of-day market data",
    "End-of-day market data, for the day's partition, 15 min after the close (13:15 on an early close).",
    partitioned=True,
)
evening_review_schedule = _after_close_schedule(
    "evening_review_schedule",
    evening_review_job,
    EVENING_REVIEW_DELAY_MIN,
    "evening-review",
    "the evening review",
    "The evening review, at 16:30 New York time, or 13:30 after an early close.",
)


@schedule(
    cron_schedule="45 8 * * 1-5",
    execution_timezone=TIMEZONE,
    job=execution_job,
    # Orders go out only when a user turns this on (and sets ROBO_EXECUTION=paper).
    default_status=DefaultScheduleStatus.STOPPED,
    description=(
        "Order intents and their submission at 08:45 New York time on trading days, after "
        "the morning prep. STOPPED by default; ROBO_EXECUTION decides what is sent."
    ),
)
def execution_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    day = calendar.to_date(_tick(context))
    reason = calendar.closed_reason(day)
    if reason:
        return SkipReason(reason)
    return RunRequest(run_key=f"execution-{day.isoformat()}")


SCHEDULES = [
    portfolio_sync_schedule,
    morning_prep_schedule,
    end_of_day_market_data_schedule,
    evening_review_schedule,
    execution_schedule,
]
SCHEDULE_JOBS = [portfolio_sync_job, end_of_day_market_data_job]

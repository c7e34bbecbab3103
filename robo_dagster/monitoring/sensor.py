"""``alerts_sensor``: failed checks and runs from the Dagster event log become durable alerts.

Each tick reads the event log after its cursor (a storage id), maps the events to alerts
(``alerts_from_records``, pure), writes them to ``monitoring.alerts`` in one transaction, and
then hands the alerts that are due to the webhook, if one is configured. It launches nothing.

Reading the event log. The instance's default storage (SQLite, as in ``dagster.yaml``)
shards events by run and mirrors only asset-check evaluations and run-status events into
one cross-run index whose ids are a single sequence. So the cursor is read with
``get_logs_for_all_runs_by_log_id`` on exactly those types: ``ASSET_CHECK_EVALUATION``,
``RUN_FAILURE`` and ``RUN_SUCCESS`` (``EventRecordsFilter(after_cursor=int)`` raises on that
storage for check events, and ``STEP_FAILURE`` ids are per run, so no global cursor can
cover them). A failed run's ``STEP_FAILURE`` events are read from that run when its
``RUN_FAILURE`` arrives: a step that failed for good always fails its run, and a step that
recovered on retry is not worth waking anyone for. Each event type is read up to
``MAX_EVENTS_PER_TICK`` past the cursor, the lists are merged, and the first
``MAX_EVENTS_PER_TICK`` by storage id are processed; the cursor moves to the last one
processed. Nothing is skipped (every id up to the cursor was seen) and a tick whose cursor
was never saved replays into an unchanged table (see ``alerts``).

What raises and resolves what:

- a failed check: ``check:<asset>:<check>``, at the desk level the check recorded in its
  ``severity`` metadata (the limit checks do: a sector at 50.8 % of a 50 % limit is ERROR
  in the check, the alert and the reports). A check without one: WARN is WARNING, ERROR
  is ERROR, a blocking ERROR check or the seed's risk breach (``risk_breach``) is
  CRITICAL. A passing evaluation of the same check resolves it.
- a failed run: ``run:<job>``, ERROR (CRITICAL at ``dagster/priority`` 10 or more). One open
  alert per failing job: repeated failures move its ``last_seen`` and ``run_id``, so a job
  that fails every 15 minutes is one alert, not one per run. Each failed step:
  ``step:<job>:<step>``, ERROR. A later successful run of the job resolves both.
- Runs of Dagster's anonymous asset jobs (names starting ``__``: the UI's and the
  automation sensor's ``__ASSET_JOB``, ``materialize()``) select different assets each time,
  so another success of "the same job" proves nothing: their alerts are per run
  (``run:<run_id>``, ``step:<run_id>:<step>``), named by the run's assets in their
  messages ("one-off run of portfolio/positions +3 failed"), and stay open until resolved
  by hand (``robo-dagster alerts resolve``); the asset's own checks still resolve themselves.

A tick that raised or resolved something also reports a materialization of the
``monitoring/alerts`` asset with the alert summary when that changed (``dashboard.py``).

Delivery is an outbox: after the write, open alerts never sent (or sent at a lower
severity) go to the webhook, and only the delivered ones are marked. A channel that is
down, misconfigured or slow is logged, never fails the tick and never holds the cursor
back; its alerts are sent on a later tick. While the sensor is catching up on a backlog
(its batch was full) it sends nothing, so a first start on a long history does not page
about incidents that later events in that history resolved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    EventLogRecord,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from robo_dagster import redaction, settings
from robo_dagster.check_severity import severity_from_metadata
from robo_dagster.monitoring.alerts import (
    MAX_MESSAGE_CHARS,
    Alert,
    Severity,
    due_notifications,
    ensure_alerts,
    mark_notified,
    record_alert,
    resolve_alerts,
)
from robo_dagster.monitoring.dashboard import dashboard_reports
from robo_dagster.monitoring.webhook import DeliveryReport, WebhookChannel
from robo_dagster.tasks.run_names import RunNamer
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import SENSOR_DEADLINE_S, WarehouseBusy
from robo_dagster.warehouse.retry import retry_conflicts
from robo_dagster.warehouse.stores import write_transaction

MAX_EVENTS_PER_TICK = 1000
MAX_DELIVERIES_PER_TICK = 50
INDEXED_EVENT_TYPES = (
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_SUCCESS,
)
CRITICAL_CHECKS = frozenset({"ai_analysis/risk_assessment:risk_breach"})
CRITICAL_PRIORITY = 10
PRIORITY_TAG = "dagster/priority"
MAX_LINE_CHARS = 300


class RaiseAction(NamedTuple):
    """Open or refresh ``alert`` as of ``at``; ``seq`` orders it among the tick's actions."""

    seq: int
    alert: Alert
    at: dt.datetime


class ResolveAction(NamedTuple):
    """Resolve the open alerts of ``fingerprint`` (every one it prefixes, with ``prefix``)."""

    seq: int
    fingerprint: str
    at: dt.datetime
    prefix: bool = False


@dataclass(frozen=True)
class EventBatch:
    """Index records past the cursor, in storage order, and where the cursor goes next."""

    records: list[EventLogRecord]
    cursor: int
    caught_up: bool


@dataclass
class TickCounts:
    """What one tick's write did, for its summary line."""

    new: int = 0
    escalated: int = 0
    repeated: int = 0
    stale: int = 0
    resolved: int = 0


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:MAX_LINE_CHARS]
    return ""


def _root_error(error: Any) -> str:
    """The first line of the innermost cause: the user's exception, not Dagster's wrapper."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    return _first_line(getattr(error, "message", None))


def _message(text: str) -> str:
    """An alert's text, redacted before it is cut (a cut key is still a key)."""
    clean = redaction.redact(text)
    return clean if len(clean) <= MAX_MESSAGE_CHARS else clean[: MAX_MESSAGE_CHARS - 1] + "…"


def _at(record: EventLogRecord) -> dt.datetime:
    return dt.datetime.fromtimestamp(record.event_log_entry.timestamp, dt.timezone.utc).replace(
        tzinfo=None
    )


def _is_anonymous(job_name: str) -> bool:
    return job_name.startswith("__")


def _priority(tags: Mapping[str, str]) -> int | None:
    try:
        return int(tags[PRIORITY_TAG])
    except (KeyError, ValueError):
        return None


def check_severity(evaluation: AssetCheckEvaluation) -> Severity:
    """A failed check's alert severity: the desk level the check recorded (``severity``
    metadata, ``check_severity.graded_check_result``) when it has one; otherwise the risk
    breach and blocking ERROR checks are CRITICAL, ERROR is ERROR and WARN is WARNING."""
    try:
        recorded = severity_from_metadata(evaluation.metadata)
    except ValueError:
        # One check's malformed metadata must not stop the sensor: the alert falls back
        # to Dagster's severity, and its message quotes the bad value (``_check_action``).
        recorded = None
    if recorded is not None:
        return recorded
    key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
    if key in CRITICAL_CHECKS:
        return Severity.CRITICAL
    if evaluation.severity == AssetCheckSeverity.WARN:
        return Severity.WARNING
    return Severity.CRITICAL if evaluation.blocking else Severity.ERROR


def _check_action(
    seq: int, record: EventLogRecord, evaluation: AssetCheckEvaluation
) -> RaiseAction | ResolveAction:
    asset = evaluation.asset_key.to_user_string()
    fingerprint = f"check:{asset}:{evaluation.check_name}"
    at = _at(record)
    if evaluation.passed:
        return ResolveAction(seq, fingerprint, at)
    kind = "blocking check" if evaluation.blocking else "check"
    where = f" (partition {evaluation.partition})" if evaluation.partition else ""
    detail = _first_line(evaluation.description)
    try:
        severity_from_metadata(evaluation.metadata)
    except ValueError as exc:
        detail = f"{detail} [{exc}]" if detail else str(exc)
    alert = Alert(
        fingerprint=fingerprint,
        severity=check_severity(evaluation),
        source="check",
        asset=asset,
        check_name=evaluation.check_name,
        message=_message(
            f"{kind} {evaluation.check_name} failed on {asset}{where}"
            + (f": {detail}" if detail else "")
        ),
        run_id=record.event_log_entry.run_id or None,
    )
    return RaiseAction(seq, alert, at)


def alerts_from_records(
    records: Sequence[EventLogRecord],
    run_tags: Mapping[str, Mapping[str, str]] | None = None,
    run_names: Mapping[str, str] | None = None,
) -> tuple[list[RaiseAction], list[ResolveAction]]:
    """The alerts to raise and resolve for ``records``, which are taken in the order given.

    ``records`` are asset-check evaluations, run failures and successes, and step failures
    (the sensor puts a run's step failures just before its run failure). ``run_tags`` gives
    each failed run's tags, for its priority, and ``run_names`` what a failed run of an
    anonymous asset job is called in its messages (its assets, ``one_off_run_names``).
    Other event types are ignored. Each action's ``seq`` is its record's position, so
    raises and resolves can be replayed in order.
    """
    tags_by_run = run_tags or {}
    names = run_names or {}
    raises: list[RaiseAction] = []
    resolves: list[ResolveAction] = []
    for seq, record in enumerate(records):
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            if isinstance(data, AssetCheckEvaluation):
                action = _check_action(seq, record, data)
                if isinstance(action, RaiseAction):
                    raises.append(action)
                else:
                    resolves.append(action)
            continue
        job = event.job_name or "unknown job"
        run_id = entry.run_id
        at = _at(record)
        if event.event_type == DagsterEventType.RUN_SUCCESS:
            if not _is_anonymous(job):
                resolves.append(ResolveAction(seq, f"run:{job}", at))
                resolves.append(ResolveAction(seq, f"step:{job}:", at, prefix=True))
            continue
        scope = run_id if _is_anonymous(job) else job
        # "job __ASSET_JOB" says nothing: a one-off run is called by its assets.
        one_off = names.get(run_id)
        error = _root_error(getattr(data, "error", None))
        if event.event_type == DagsterEventType.RUN_FAILURE:
            priority = _priority(tags_by_run.get(run_id, {}))
            severity = (
                Severity.CRITICAL
                if priority is not None and priority >= CRITICAL_PRIORITY
                else Severity.ERROR
            )
            reason = error or _first_line(event.message)
            run = f"run {run_id[:8]}" + (f", priority {priority}" if priority else "")
            alert = Alert(
                fingerprint=f"run:{scope}",
                severity=severity,
                source="run",
                message=_message(
                    (f"one-off run of {one_off}" if one_off else f"job {job}")
                    + f" failed ({run})"
                    + (f": {reason}" if reason else "")
                ),
                run_id=run_id,
            )
            raises.append(RaiseAction(seq, alert, at))
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            step = event.step_key or entry.step_key or "unknown step"
            alert = Alert(
                fingerprint=f"step:{scope}:{step}",
                severity=Severity.ERROR,
                source="run",
                message=_message(
                    f"step {step} of "
                    + (f"the one-off run of {one_off}" if one_off else f"job {job}")
                    + f" failed (run {run_id[:8]})"
                    + (f": {error}" if error else "")
                ),
                run_id=run_id,
            )
            raises.append(RaiseAction(seq, alert, at))
    return raises, resolves


def one_off_run_names(
    instance: DagsterInstance, records: Sequence[EventLogRecord]
) -> dict[str, str]:
    """What each failed run of an anonymous asset job in ``records`` is called: its assets,
    shortened (``tasks.run_names``), e.g. ``portfolio/positions +3``."""
    failed = [
        r.event_log_entry.run_id
        for r in records
        if r.event_log_entry.dagster_event_type == DagsterEventType.RUN_FAILURE
        and _is_anonymous(r.event_log_entry.job_name or "")
    ]
    if not failed:
        return {}
    namer = RunNamer(instance)
    runs = instance.get_runs(filters=RunsFilter(run_ids=failed))
    return {run.run_id: name for run in runs if (name := namer.name(run)) != run.job_name}


def read_events(instance: DagsterInstance, after: int, limit: int) -> EventBatch:
    """The index records (see the module docstring) after storage id ``after``, at most ``limit``."""
    storage = instance.event_log_storage
    merged: list[EventLogRecord] = []
    full = False
    for event_type in INDEXED_EVENT_TYPES:
        entries = storage.get_logs_for_all_runs_by_log_id(
            after_cursor=after, dagster_event_type=event_type, limit=limit
        )
        full = full or len(entries) >= limit
        merged.extend(
            EventLogRecord(storage_id=storage_id, event_log_entry=entry)
            for storage_id, entry in entries.items()
        )
    merged.sort(key=lambda record: record.storage_id)
    records = merged[:limit]
    cursor = records[-1].storage_id if records else after
    return EventBatch(records=records, cursor=cursor, caught_up=not full and len(merged) <= limit)


def with_run_context(
    instance: DagsterInstance, records: Sequence[EventLogRecord]
) -> tuple[list[EventLogRecord], dict[str, dict[str, str]]]:
    """``records`` with each failed run's step failures inserted before its run failure,
    and the failed runs' tags."""
    failed = [
        r.event_log_entry.run_id
        for r in records
        if r.event_log_entry.dagster_event_type == DagsterEventType.RUN_FAILURE
    ]
    if not failed:
        return list(records), {}
    tags = {
        run.run_id: dict(run.tags) for run in instance.get_runs(filters=RunsFilter(run_ids=failed))
    }
    expanded: list[EventLogRecord] = []
    for record in records:
        entry = record.event_log_entry
        if entry.dagster_event_type == DagsterEventType.RUN_FAILURE:
            steps = instance.get_records_for_run(
                entry.run_id, of_type=DagsterEventType.STEP_FAILURE
            ).records
            expanded.extend(steps)
        expanded.append(record)
    return expanded, tags


def record_actions(
    conn: Any, raises: Sequence[RaiseAction], resolves: Sequence[ResolveAction]
) -> TickCounts:
    """Apply the actions in ``seq`` order in one transaction: all of a tick or none of it."""
    counts = TickCounts()
    actions: list[RaiseAction | ResolveAction] = sorted(
        [*raises, *resolves], key=lambda action: action.seq
    )
    conn.execute("begin transaction")
    try:
        ensure_alerts(conn)
        for action in actions:
            if isinstance(action, RaiseAction):
                result = record_alert(conn, action.alert, action.at)
                if result.status == "new":
                    counts.new += 1
                elif result.status == "escalated":
                    counts.escalated += 1
                elif result.status == "updated":
                    counts.repeated += 1
                else:
                    counts.stale += 1
            else:
                counts.resolved += resolve_alerts(
                    conn, action.fingerprint, action.at, prefix=action.prefix
                )
    except BaseException:
        conn.execute("rollback")
        raise
    # Outside the try: a commit that conflicted (on the lake) has undone the transaction
    # itself, and its conflict must reach the caller's retry, not a failed rollback.
    conn.execute("commit")
    return counts


def _record_tick(
    instance: DagsterInstance,
    database: str,
    raises: Sequence[RaiseAction],
    resolves: Sequence[ResolveAction],
) -> tuple[TickCounts, list[AssetMaterialization]]:
    """One try of a tick's write (``record_actions``) and its dashboard reports, on a new
    connection: what ``retry_conflicts`` runs again after a conflicting commit."""
    with locked_connection(database, deadline_s=SENSOR_DEADLINE_S) as conn:
        counts = record_actions(conn, raises, resolves)
        return counts, dashboard_reports(instance, conn, include_metrics=False)


def deliver_due(database: str, channel: WebhookChannel) -> DeliveryReport:
    """Send the alerts that are due and mark those delivered. The file lock is not held
    while the webhook is called: a slow channel must not stall the pipeline's writes."""
    with locked_connection(database) as conn:
        ensure_alerts(conn)
        due = due_notifications(conn, channel.min_severity, MAX_DELIVERIES_PER_TICK)
    if not due:
        return DeliveryReport()
    report = channel.send([alert for _, alert in due])
    ids = {alert.fingerprint: alert_id for alert_id, alert in due}
    if report.delivered:
        sent = [(ids[alert.fingerprint], alert.severity) for alert in report.delivered]
        at = dt.datetime.now(dt.timezone.utc)
        # One transaction, retried whole when it conflicts with another writer (the lake).
        write_transaction(
            database, lambda conn: mark_notified(conn, sent, at), "alerts: mark delivered"
        )
    return report


def _parse_cursor(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        return int(cursor)
    except ValueError:
        raise ValueError(f"alerts_sensor cursor {cursor!r} is not an event storage id") from None


def _delivery_summary(context: SensorEvaluationContext, database: str, caught_up: bool) -> str:
    """Deliver if a channel is configured; any failure is logged and summarised, not raised."""
    try:
        channel = WebhookChannel.from_env()
    except ValueError as exc:
        context.log.error(f"alert webhook not used: {exc}")
        return f"; webhook misconfigured: {exc}"
    if channel is None:
        return ""
    if not caught_up:
        return f"; webhook {channel.target}: waits until the backlog is read"
    try:
        report = deliver_due(database, channel)
    except Exception as exc:
        context.log.warning(
            f"alert webhook {channel.target}: delivery failed: {type(exc).__name__}"
        )
        return f"; webhook {channel.target}: delivery failed ({type(exc).__name__})"
    if report.failed:
        context.log.warning(
            f"alert webhook {channel.target}: {report.error}; "
            f"{len(report.failed)} alert(s) stay due for the next tick"
        )
        return (
            f"; webhook {channel.target}: {len(report.delivered)} sent, "
            f"{len(report.failed)} pending ({report.error})"
        )
    return f"; webhook {channel.target}: {len(report.delivered)} sent" if report.delivered else ""


@sensor(
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Records failed asset checks and failed runs as deduplicated alerts in "
        "monitoring.alerts, resolves them when the check passes or the job succeeds again, "
        "and sends new or escalated ones to ROBO_ALERT_WEBHOOK_URL. Launches nothing."
    ),
)
def alerts_sensor(context: SensorEvaluationContext) -> SensorResult:
    """One tick: read past the cursor, record in one transaction, then deliver."""
    after = _parse_cursor(context.cursor)
    batch = read_events(context.instance, after, MAX_EVENTS_PER_TICK)
    records, run_tags = with_run_context(context.instance, batch.records)
    run_names = one_off_run_names(context.instance, records)
    raises, resolves = alerts_from_records(records, run_tags, run_names)
    database = settings.duckdb_path()
    counts = TickCounts()
    reports: list[AssetMaterialization] = []
    if raises or resolves:
        try:
            counts, reports = retry_conflicts(
                lambda: _record_tick(context.instance, database, raises, resolves),
                "alerts sensor: record a tick",
                log=context.log,
            )
        except WarehouseBusy as exc:
            # The cursor stays where it was: the next tick reads the same events again.
            return SensorResult(skip_reason=f"the warehouse is busy; the next tick retries ({exc})")
    if batch.records:
        summary = (
            f"events {batch.records[0].storage_id}..{batch.cursor}: {counts.new} new, "
            f"{counts.escalated} escalated, {counts.repeated} repeated, "
            f"{counts.resolved} resolved alert(s)"
            + (f", {counts.stale} stale event(s) ignored" if counts.stale else "")
        )
    else:
        summary = f"no new event after id {after}"
    summary += _delivery_summary(context, database, batch.caught_up)
    if batch.records:
        context.log.info(summary)
    return SensorResult(cursor=str(batch.cursor), skip_reason=summary, asset_events=reports)

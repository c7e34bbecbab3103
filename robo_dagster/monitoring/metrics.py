"""Metrics in ``monitoring.metrics``, and ``metrics_sensor``, which raises threshold alerts.

The table is long and narrow: ``(name varchar, value double, tags varchar, measured_at
timestamp)``, ``tags`` a JSON object (``{"job": "recommendations_job"}``), ``measured_at``
naive UTC (DuckDB reserves ``at``, as SQL reserves ``check`` for the alerts). Metrics:

- per run that finished in the tick's window: ``run_duration_s`` (start to end) and
  ``run_queued_s`` (created to started), tagged with the job, run id, status and, for asset
  runs, the assets selected;
- per job over the last ``FAILURE_RATE_WINDOW_S``: ``run_success_count``,
  ``run_failure_count`` and ``failure_rate`` (failed / (failed + succeeded));
- ``queued_runs``: the backlog, runs in status QUEUED;
- the desk's own processes (``processes.py``: the webserver, the daemon, the code
  servers, the runs): ``cpu_pct`` (in % of the whole machine, over the interval since the
  previous tick, from the counters stored in the cursor), ``memory_pct`` (their resident
  memory, in % of the machine's) and ``dagster_rss_mb``;
- the host: ``host_cpu_pct``, ``host_memory_pct`` and ``disk_pct`` (of the DuckDB file's
  filesystem). Host-wide figures include whatever else runs on the machine, so their
  thresholds only raise alerts with ``ROBO_HOST_ALERTS`` on.

``metrics_sensor`` (RUNNING, every 60 s) collects them, checks the thresholds
(``thresholds.py``) and the health items (``health.py``, without the slow definitions
load: the sensor running proves its code location loaded), then writes the metrics and
their threshold actions, then checks health and records its alerts (after the write, so
the DuckDB file exists; two short lock holds), and reports the monitoring assets'
materializations when their summary changed (``dashboard.py``). Fingerprints: ``threshold:backlog``,
``threshold:cpu_pct``, ``threshold:memory_pct`` (the desk's), ``threshold:host_cpu_pct``,
``threshold:host_memory_pct``, ``threshold:failure_rate:<job>``,
``threshold:execution_time_s:<job>`` and ``health:<item>``. An alert is resolved when its
metric is back under the warning level: each finished run of a job raises or resolves
its job's execution-time alert in end-time order, so the next fast run resolves it.

The window is the cursor: the previous tick's time, so each finished run is measured once
(the first tick looks back ``FIRST_WINDOW_S``). A job's failure rate needs at least
``MIN_RUNS_FOR_RATE`` finished runs in the hour: one failure out of one run is already an
alert of ``alerts_sensor`` and says nothing about a rate; with fewer runs the rate is
recorded but neither raises nor resolves.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRecord,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from robo_dagster import redaction, settings
from robo_dagster.monitoring import thresholds
from robo_dagster.monitoring.alerts import MAX_MESSAGE_CHARS, SCHEMA, Alert, Severity
from robo_dagster.monitoring.dashboard import dashboard_reports
from robo_dagster.monitoring.health import health_alerts, health_report
from robo_dagster.monitoring.processes import CpuReading, cpu_between, read_desk
from robo_dagster.monitoring.sensor import RaiseAction, ResolveAction, record_actions
from robo_dagster.monitoring.webhook import WebhookChannel
from robo_dagster.providers import BrokerProvider, MarketDataProvider
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.lake import WarehouseUnavailable
from robo_dagster.warehouse.locking import SENSOR_DEADLINE_S, WarehouseBusy
from robo_dagster.warehouse.target import side_folder

TABLE = f"{SCHEMA}.metrics"
FAILURE_RATE_WINDOW_S = 3600.0
ROOT_RUN_TAG = "dagster/root_run_id"  # set on a retry: the run it retries, first of its chain
FIRST_WINDOW_S = 3600.0
FIRST_SAMPLE_S = 1.0  # the CPU interval of a tick with no stored reading
MIN_RUNS_FOR_RATE = 3
MAX_READING_AGE_S = 900.0  # an older stored CPU reading is replaced by a fresh interval
UPDATE_SLACK_S = 5.0
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


@dataclass(frozen=True)
class Metric:
    """One measurement; ``at`` is naive UTC like every timestamp robo-dagster stores."""

    name: str
    value: float
    at: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)

    def as_row(self) -> tuple[str, float, str, dt.datetime]:
        """The row ``write_metrics`` inserts."""
        return (self.name, float(self.value), json.dumps(self.tags, sort_keys=True), self.at)


def _naive(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)


def _updated_after(epoch: float) -> dt.datetime:
    """The storage filter for runs that may have ended after ``epoch``. SQLite run storage
    keeps ``update_timestamp`` to the second, so the filter starts a little earlier and
    the exact ``end_time`` test is made in Python: nothing at a window's edge is lost."""
    return dt.datetime.fromtimestamp(epoch - UPDATE_SLACK_S, dt.timezone.utc)


def ensure_metrics(conn: Any) -> None:
    """Create the schema and the metrics table if they do not exist yet."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"create table if not exists {TABLE} ("
        "name varchar not null, value double not null, tags varchar, measured_at timestamp not null)"
    )


def write_metrics(conn: Any, metrics: Sequence[Metric]) -> int:
    """Insert ``metrics`` (creating the table if needed); return how many were written."""
    ensure_metrics(conn)
    if metrics:
        conn.executemany(
            f"insert into {TABLE} (name, value, tags, measured_at) values (?, ?, ?, ?)",
            [m.as_row() for m in metrics],
        )
    return len(metrics)


def _run_tags(record: RunRecord) -> dict[str, str]:
    run = record.dagster_run
    tags = {"job": run.job_name, "run_id": run.run_id, "status": run.status.value}
    if run.asset_selection:
        tags["assets"] = ",".join(sorted(k.to_user_string() for k in run.asset_selection))
    return tags


def finished_runs(instance: DagsterInstance, since: float, now: float) -> list[RunRecord]:
    """Runs that ended in ``(since, now]`` (epoch seconds), oldest end first."""
    records = instance.get_run_records(
        RunsFilter(statuses=FINISHED, updated_after=_updated_after(since))
    )
    done = [
        r
        for r in records
        if r.start_time is not None and r.end_time is not None and since < r.end_time <= now
    ]
    return sorted(done, key=lambda r: r.end_time or 0.0)


def collect_run_metrics(
    instance: DagsterInstance, since: float, now: float, runs: list[RunRecord] | None = None
) -> list[Metric]:
    """Run metrics from the Dagster instance for the window ``(since, now]`` (epoch s).

    ``runs`` are the window's finished runs when the caller already read them.
    """
    at = _naive(now)
    metrics: list[Metric] = []
    for record in finished_runs(instance, since, now) if runs is None else runs:
        assert record.start_time is not None and record.end_time is not None
        tags = _run_tags(record)
        end = _naive(record.end_time)
        metrics.append(Metric("run_duration_s", record.end_time - record.start_time, end, tags))
        queued = max(record.start_time - record.create_timestamp.timestamp(), 0.0)
        metrics.append(Metric("run_queued_s", queued, end, tags))
    window_start = now - FAILURE_RATE_WINDOW_S
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"success": 0, "failure": 0})
    finished = [
        record.dagster_run
        for record in instance.get_run_records(
            RunsFilter(
                statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
                updated_after=_updated_after(window_start),
            )
        )
        if record.end_time is not None and window_start < record.end_time <= now
    ]
    # A failure whose retry succeeded was recovered: it does not count against the job.
    recovered = {
        run.tags.get(ROOT_RUN_TAG, run.run_id)
        for run in finished
        if run.status == DagsterRunStatus.SUCCESS and ROOT_RUN_TAG in run.tags
    }
    for run in finished:
        if run.status == DagsterRunStatus.SUCCESS:
            counts[run.job_name]["success"] += 1
        elif run.tags.get(ROOT_RUN_TAG, run.run_id) not in recovered:
            counts[run.job_name]["failure"] += 1
    window = str(int(FAILURE_RATE_WINDOW_S))
    for job, count in sorted(counts.items()):
        tags = {"job": job, "window_s": window}
        total = count["success"] + count["failure"]
        metrics.append(Metric("run_success_count", count["success"], at, tags))
        metrics.append(Metric("run_failure_count", count["failure"], at, tags))
        metrics.append(
            Metric("failure_rate", count["failure"] / total, at, tags | {"runs": str(total)})
        )
    backlog = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
    metrics.append(Metric("queued_runs", backlog, at))
    return metrics


def _existing_dir(database: str) -> str:
    # The warehouse's own folder: the file's, or the lake's data folder.
    path = side_folder(database).expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return str(path)


def collect_system_metrics(
    database: str | None = None, previous: CpuReading | None = None
) -> tuple[list[Metric], CpuReading]:
    """The desk's CPU and memory, the host's, and the disk; and the reading to store.

    CPU is measured over the interval since ``previous`` (the reading the last tick
    stored). Without one, this call takes a first reading and measures over the next
    ``FIRST_SAMPLE_S``. The disk is the DuckDB file's filesystem.
    """
    if previous is None:
        previous = read_desk().reading
        time.sleep(FIRST_SAMPLE_S)
    sample = read_desk()
    host_cpu, desk_cpu = cpu_between(previous, sample.reading, psutil.cpu_count() or 1)
    at = _naive(sample.reading.at)
    memory = psutil.virtual_memory()
    path = _existing_dir(database or settings.duckdb_path())
    desk = {
        "processes": str(sample.processes),
        "window_s": f"{sample.reading.at - previous.at:.1f}",
    }
    metrics = [
        Metric("cpu_pct", round(desk_cpu, 2), at, desk),
        Metric("memory_pct", round(100.0 * sample.rss_bytes / memory.total, 2), at, desk),
        Metric("dagster_rss_mb", round(sample.rss_bytes / 2**20, 1), at, desk),
        Metric("host_cpu_pct", round(host_cpu, 2), at, {"window_s": desk["window_s"]}),
        Metric("host_memory_pct", memory.percent, at),
        Metric("disk_pct", psutil.disk_usage(path).percent, at, {"path": path}),
    ]
    return metrics, sample.reading


def _crossing(
    name: str,
    value: float,
    fingerprint: str,
    at: dt.datetime,
    message: str,
    run_id: str | None = None,
) -> Alert | None:
    severity = thresholds.evaluate(name, value)
    if severity is None:
        return None
    level = thresholds.threshold(name)
    bound = level.critical if severity == Severity.CRITICAL else level.warning
    return Alert(
        fingerprint=fingerprint,
        severity=severity,
        source="threshold",
        message=f"{message} (at or above {severity.name} {bound:g})",
        run_id=run_id,
    )


def threshold_actions(
    metrics: Sequence[Metric], start_seq: int = 0
) -> tuple[list[RaiseAction], list[ResolveAction]]:
    """The alerts ``metrics`` raise and resolve against the configured thresholds.

    Pure but for reading the thresholds from the environment (a bad value raises)."""
    raises: list[RaiseAction] = []
    resolves: list[ResolveAction] = []
    seq = start_seq
    for metric in metrics:
        job = metric.tags.get("job", "")
        if metric.name == "run_duration_s":
            name, fingerprint = "execution_time_s", f"threshold:execution_time_s:{job}"
            message = f"run {metric.tags.get('run_id', '')[:8]} of {job} took {metric.value:.1f} s"
        elif metric.name == "failure_rate":
            name, fingerprint = "failure_rate", f"threshold:failure_rate:{job}"
            if int(metric.tags.get("runs", "0")) < MIN_RUNS_FOR_RATE:
                # Too few runs to raise on; but a rate back under the warning level
                # resolves an alert raised before.
                if thresholds.evaluate(name, metric.value) is None:
                    resolves.append(ResolveAction(seq, fingerprint, metric.at))
                    seq += 1
                continue
            message = (
                f"{job}: {metric.value:.0%} of {metric.tags.get('runs')} runs failed in the "
                f"last {int(FAILURE_RATE_WINDOW_S) // 60} min"
            )
        elif metric.name == "queued_runs":
            name, fingerprint = "backlog", "threshold:backlog"
            message = f"{metric.value:.0f} runs queued"
        elif metric.name in ("cpu_pct", "memory_pct"):
            name, fingerprint = metric.name, f"threshold:{metric.name}"
            message = (
                f"the desk's {metric.tags.get('processes', '?')} processes use "
                f"{metric.value:.0f} % of the machine's {metric.name.removesuffix('_pct')}"
            )
        elif metric.name in ("host_cpu_pct", "host_memory_pct"):
            name, fingerprint = metric.name, f"threshold:{metric.name}"
            if not settings.host_alerts():
                # Opt-in: off, it raises nothing, and clears what it raised while on.
                resolves.append(ResolveAction(seq, fingerprint, metric.at))
                seq += 1
                continue
            message = (
                f"host {metric.name.removeprefix('host_').removesuffix('_pct')} at "
                f"{metric.value:.0f} % (every process on the machine)"
            )
        else:
            continue
        alert = _crossing(
            name, metric.value, fingerprint, metric.at, message, metric.tags.get("run_id")
        )
        if alert is None:
            resolves.append(ResolveAction(seq, fingerprint, metric.at))
        else:
            raises.append(RaiseAction(seq, alert, metric.at))
        seq += 1
    return raises, resolves


def _parse_cursor(cursor: str | None, now: float) -> tuple[float, CpuReading | None]:
    """The window's start and the stored CPU reading (None if absent or too old)."""
    if not cursor:
        return now - FIRST_WINDOW_S, None
    try:
        data = json.loads(cursor)
        since = float(data["since"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"metrics_sensor cursor {cursor!r} is not {{'since': epoch}}") from None
    reading = CpuReading.from_json(data.get("cpu"))
    if reading is not None and not 0 < now - reading.at <= MAX_READING_AGE_S:
        reading = None  # after a long pause, a fresh interval says more than a long average
    return since, reading


UNREACHABLE_KEY = "unreachable_paged"


def page_unreachable_warehouse(exc: BaseException, already_sent: bool) -> tuple[str, bool]:
    """Page the desk that the warehouse does not answer (a DuckLake whose Postgres catalog
    is down): a CRITICAL ``health:duckdb`` alert straight to the webhook, once per outage.

    The alert store lives in the warehouse, so this one alert cannot be recorded there or
    go through its outbox: it is sent directly, and ``robo-dagster status`` reports the
    same failure from its health check. Returns what happened, and whether it was sent."""
    if already_sent:
        return "the desk was already paged for this outage", False
    try:
        channel = WebhookChannel.from_env()
    except ValueError as exc_channel:
        return f"cannot page: webhook misconfigured ({exc_channel})", False
    if channel is None:
        return "no alert webhook configured (ROBO_ALERT_WEBHOOK_URL): not paged", False
    alert = Alert(
        fingerprint="health:duckdb",
        severity=Severity.CRITICAL,
        source="system",
        message=redaction.redact(f"health duckdb: {exc}")[:MAX_MESSAGE_CHARS],
    )
    report = channel.send([alert])
    if report.delivered:
        return f"paged through {channel.target}", True
    return f"paging through {channel.target} failed ({report.error}); the next tick retries", False


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Records run, queue and host metrics in monitoring.metrics, raises threshold "
        "(ROBO_THRESHOLD_*) and health alerts in monitoring.alerts and resolves them once "
        "back to normal. Launches nothing."
    ),
)
def metrics_sensor(
    context: SensorEvaluationContext, market: MarketDataProvider, broker: BrokerProvider
) -> SensorResult:
    """One tick: collect and write metrics with their threshold alerts, then check health."""
    now = time.time()
    since, previous = _parse_cursor(context.cursor, now)
    database = settings.duckdb_path()
    instance = context.instance
    system, reading = collect_system_metrics(database, previous)
    metrics = collect_run_metrics(instance, since, now) + system
    raises, resolves = threshold_actions(metrics)
    try:
        with locked_connection(database, deadline_s=SENSOR_DEADLINE_S) as conn:
            write_metrics(conn, metrics)
            counts = record_actions(conn, raises, resolves)
    except WarehouseBusy as exc:
        # Nothing written, the cursor unchanged: the next tick measures this interval too.
        return SensorResult(skip_reason=f"the warehouse is busy; nothing recorded ({exc})")
    except WarehouseUnavailable as exc:
        context.log.error(f"warehouse unreachable, nothing recorded: {exc}")
        sent = json.loads(context.cursor or "{}").get(UNREACHABLE_KEY, False)
        note, delivered = page_unreachable_warehouse(exc, already_sent=sent)
        # The interval is not moved on: once the warehouse answers, it is measured whole.
        data = {"since": since, "cpu": previous.to_json() if previous else None}
        return SensorResult(
            cursor=json.dumps({**data, UNREACHABLE_KEY: sent or delivered}),
            skip_reason=f"the warehouse does not answer; nothing recorded ({exc}); {note}",
        )
    cursor = json.dumps({"since": now, "cpu": reading.to_json()})
    # After the write, so that the DuckDB file exists and no connection of ours is open.
    items = health_report(instance, database, market, broker, load_definitions=False)
    failed, healthy = health_alerts(items)
    at = _naive(now)
    try:
        with locked_connection(database, deadline_s=SENSOR_DEADLINE_S) as conn:
            health = record_actions(
                conn,
                [RaiseAction(i, alert, at) for i, alert in enumerate(failed)],
                [ResolveAction(len(failed) + i, fp, at) for i, fp in enumerate(healthy)],
            )
            reports = dashboard_reports(instance, conn, include_metrics=True)
    except WarehouseBusy as exc:
        # The metrics are written: move on, or the next tick would write them twice.
        return SensorResult(
            cursor=cursor,
            skip_reason=f"{len(metrics)} metric(s) written; health not recorded, the "
            f"warehouse is busy ({exc})",
        )
    for name in ("new", "escalated", "repeated", "stale", "resolved"):
        setattr(counts, name, getattr(counts, name) + getattr(health, name))
    bad = [item.name for item in items if not item.ok]
    summary = (
        f"{len(metrics)} metric(s); thresholds and health: {counts.new} new, "
        f"{counts.escalated} escalated, {counts.repeated} repeated, {counts.resolved} resolved "
        f"alert(s)" + (f"; unhealthy: {', '.join(bad)}" if bad else "")
    )
    context.log.info(summary)
    return SensorResult(cursor=cursor, skip_reason=summary, asset_events=reports)

"""The monitoring tables as assets in the UI, each showing the current alert summary.

``monitoring/alerts`` and ``monitoring/metrics`` are written by sensors, not by runs, so
they are declared as ``AssetSpec``s (the UI greys out their Materialize button) and the
sensors report their materializations: ``alerts_sensor`` after a tick that raised or
resolved something, ``metrics_sensor`` on every tick. A report is made only when it would
say something new, judged against the asset's latest materialization in the instance
(its ``alert_digest`` metadata), so the decision survives a daemon restart and the two
sensors never report the same state twice:

- ``monitoring/alerts``: when the open alerts, their severities or the resolved count
  changed;
- ``monitoring/metrics``: when the alert summary changed, or ``METRICS_REPORT_EVERY``
  after its last report (its latest-values table would otherwise go stale).

Each report carries the alert summary as markdown (``alert_summary``), the open counts
by severity as numbers (plotted by the UI over time), the row count and column schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DagsterInstance,
    MetadataValue,
    TableColumn,
    TableSchema,
)

from robo_dagster.metadata import dashboard_page
from robo_dagster.monitoring.alerts import Severity
from robo_dagster.monitoring.summary import AlertSummary, alert_summary, metrics_summary

GROUP = "monitoring"
OWNERS = ["team:platform"]
METRICS_REPORT_EVERY = dt.timedelta(minutes=15)
DIGEST_KEY = "alert_digest"

alerts_table = AssetSpec(
    key=[GROUP, "alerts"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb"},
    description=(
        "One row per alert episode: failed asset checks, failed runs and steps, threshold "
        "crossings and health failures, deduplicated while open and resolved when back to "
        "normal. Written by alerts_sensor and metrics_sensor; its latest materialization "
        "shows the open alerts."
    ),
    metadata={
        **dashboard_page("alerts"),
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("id", "bigint"),
                TableColumn("fingerprint", "varchar", description="the condition's name"),
                TableColumn("first_seen", "timestamp", description="UTC"),
                TableColumn("last_seen", "timestamp", description="UTC"),
                TableColumn("severity", "varchar", description="INFO, WARNING, ERROR, CRITICAL"),
                TableColumn("source", "varchar", description="check, run, threshold, system"),
                TableColumn("asset", "varchar"),
                TableColumn("check_name", "varchar"),
                TableColumn("message", "varchar"),
                TableColumn("run_id", "varchar"),
                TableColumn("resolved_at", "timestamp", description="null while open"),
                TableColumn("notified_at", "timestamp", description="last webhook delivery"),
                TableColumn("notified_severity", "varchar"),
                TableColumn("resolved_by", "varchar", description="who resolved it by hand"),
                TableColumn("resolution", "varchar", description="why, when resolved by hand"),
            ]
        ),
    },
)

metrics_table = AssetSpec(
    key=[GROUP, "metrics"],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb"},
    description=(
        "A time series of run, queue and host metrics (run duration, time queued, failure "
        "rate, backlog, CPU, memory, disk), one row per measurement, recorded by "
        "metrics_sensor every minute. Its materializations show the alert summary and the "
        "latest value of each metric."
    ),
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("name", "varchar", description="e.g. run_duration_s, cpu_pct"),
                TableColumn("value", "double"),
                TableColumn("tags", "varchar", description="a JSON object: job, run_id, ..."),
                TableColumn("measured_at", "timestamp", description="UTC"),
            ]
        )
    },
)


def _last_report(instance: DagsterInstance, key: AssetKey) -> tuple[str | None, dt.datetime | None]:
    """The alert digest and time of ``key``'s latest materialization, if any."""
    entry = instance.get_latest_materialization_event(key)
    if entry is None or entry.asset_materialization is None:
        return None, None
    digest = entry.asset_materialization.metadata.get(DIGEST_KEY)
    at = dt.datetime.fromtimestamp(entry.timestamp, dt.timezone.utc)
    return (str(digest.value) if digest is not None else None), at


def _alert_metadata(summary: AlertSummary) -> dict[str, Any]:
    worst = summary.worst_severity
    return {
        "alert_summary": MetadataValue.md(summary.markdown()),
        "open_alerts": summary.open_count,
        **{f"open_{s.name.lower()}": summary.open_by_severity[s] for s in Severity},
        "worst_open_severity": worst.name if worst is not None else "none",
        DIGEST_KEY: summary.digest,
    }


def dashboard_reports(
    instance: DagsterInstance, conn: Any, *, include_metrics: bool, now: dt.datetime | None = None
) -> list[AssetMaterialization]:
    """The materializations of the monitoring assets that would show something new.

    ``conn`` is an open DuckDB connection; ``include_metrics`` is for ``metrics_sensor``
    alone (the writer of the metrics table).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    summary = alert_summary(conn, now.replace(tzinfo=None))
    reports: list[AssetMaterialization] = []
    alert_digest, _ = _last_report(instance, alerts_table.key)
    if alert_digest != summary.digest:
        reports.append(
            AssetMaterialization(
                asset_key=alerts_table.key,
                description=summary.headline(),
                metadata={"dagster/row_count": summary.total_rows, **_alert_metadata(summary)},
            )
        )
    if include_metrics:
        metric_digest, reported_at = _last_report(instance, metrics_table.key)
        stale = reported_at is None or now - reported_at >= METRICS_REPORT_EVERY
        if stale or metric_digest != summary.digest:
            metrics = metrics_summary(conn)
            reports.append(
                AssetMaterialization(
                    asset_key=metrics_table.key,
                    description=summary.headline(),
                    metadata={
                        "dagster/row_count": metrics.total_rows,
                        "latest_metrics": MetadataValue.md(metrics.markdown()),
                        **_alert_metadata(summary),
                    },
                )
            )
    return reports

"""The monitoring assets: the sensors report their materializations with the alert summary
as markdown, only when the summary changed, as the daemon would record them."""

import datetime as dt

import duckdb
import pytest
from dagster import AssetMaterialization, DagsterInstance, materialize
from dagster._core.definitions.sensor_definition import SensorExecutionData

from robo_dagster.definitions import defs
from robo_dagster.monitoring.alerts import (
    Alert,
    Severity,
    ensure_alerts,
    record_alert,
    resolve_alerts,
)
from robo_dagster.monitoring.dashboard import (
    METRICS_REPORT_EVERY,
    alerts_table,
    dashboard_reports,
    metrics_table,
)
from robo_dagster.monitoring.summary import alert_summary, metrics_summary

from .metrics_support import clear_threshold_env, metrics_tick, quiet_host_thresholds
from .support import tick
from .test_sensor import checked_prices

NOW = dt.datetime(2026, 11, 25, 15, 0)


def as_the_daemon(instance: DagsterInstance, result: SensorExecutionData) -> list[str]:
    """Record a tick's asset events as the sensor daemon does; the keys reported."""
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return [e.asset_key.to_user_string() for e in result.asset_events]


def latest(instance: DagsterInstance, key: object) -> AssetMaterialization:
    entry = instance.get_latest_materialization_event(key)  # type: ignore[arg-type]
    assert entry is not None and entry.asset_materialization is not None
    return entry.asset_materialization


def test_an_absent_table_summarises_as_empty() -> None:
    with duckdb.connect() as conn:
        summary = alert_summary(conn, NOW)
        metrics = metrics_summary(conn)
    assert summary.open_count == 0 and summary.worst_severity is None
    assert "Nothing is open" in summary.markdown()
    assert metrics.total_rows == 0 and "make ui" in metrics.markdown()


def test_the_summary_counts_by_severity_and_its_digest_tracks_the_open_set() -> None:
    def alert(fingerprint: str, severity: Severity, message: str) -> Alert:
        return Alert(fingerprint=fingerprint, severity=severity, source="check", message=message)

    with duckdb.connect() as conn:
        ensure_alerts(conn)
        record_alert(conn, alert("check:a", Severity.WARNING, "low | high\nswapped"), NOW)
        record_alert(conn, alert("run:b", Severity.CRITICAL, "risk breach"), NOW)
        before = alert_summary(conn, NOW)
        record_alert(conn, alert("check:a", Severity.WARNING, "again"), NOW + dt.timedelta(1))
        repeated = alert_summary(conn, NOW)
        resolve_alerts(conn, "run:b", NOW + dt.timedelta(days=2))
        after = alert_summary(conn, NOW + dt.timedelta(days=2))

    assert before.open_by_severity[Severity.CRITICAL] == 1
    assert before.open_by_severity[Severity.WARNING] == 1
    assert before.worst_severity == Severity.CRITICAL
    markdown = before.markdown()
    assert markdown.startswith("**2 open alert(s)**: CRITICAL 1 · ERROR 0 · WARNING 1 · INFO 0")
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| CRITICAL | check |")  # the header, then worst first
    assert "low \\| high swapped" in rows[2]  # a pipe or newline never breaks the table
    assert repeated.digest == before.digest  # last_seen moved: nothing new to show
    assert after.digest != before.digest
    assert (after.open_count, after.resolved_recently) == (1, 1)


def test_the_alerts_asset_shows_a_failed_check_then_its_resolution(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    materialize(checked_prices(passed=False), instance=any_instance)
    first = tick(any_instance)
    assert as_the_daemon(any_instance, first) == ["monitoring/alerts"]
    shown = latest(any_instance, alerts_table.key)
    assert shown.metadata["open_alerts"].value == 1
    assert shown.metadata["open_warning"].value == 1
    assert shown.metadata["worst_open_severity"].value == "WARNING"
    markdown = str(shown.metadata["alert_summary"].value)
    assert "WARNING 1" in markdown and "prices_sane" in markdown

    materialize(checked_prices(passed=False), instance=any_instance)
    second = tick(any_instance, first.cursor)
    assert "1 repeated" in str(second.skip_message)
    assert as_the_daemon(any_instance, second) == []  # the same open alert: no new report

    materialize(checked_prices(passed=True), instance=any_instance)
    third = tick(any_instance, second.cursor)
    assert as_the_daemon(any_instance, third) == ["monitoring/alerts"]
    shown = latest(any_instance, alerts_table.key)
    assert shown.metadata["open_alerts"].value == 0
    assert "Nothing is open" in str(shown.metadata["alert_summary"].value)


def test_metrics_sensor_reports_both_assets_once_then_the_metrics_when_stale(
    any_instance: DagsterInstance, alerts_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_threshold_env(monkeypatch)
    quiet_host_thresholds(monkeypatch)
    first = metrics_tick(any_instance)
    # A test instance has no daemon heartbeat: the health alert is the open one.
    assert as_the_daemon(any_instance, first) == ["monitoring/alerts", "monitoring/metrics"]
    shown = latest(any_instance, metrics_table.key)
    assert shown.metadata["dagster/row_count"].value > 0
    assert "cpu_pct" in str(shown.metadata["latest_metrics"].value)
    assert "health:daemons" in str(latest(any_instance, alerts_table.key).metadata)

    second = metrics_tick(any_instance, first.cursor)
    assert as_the_daemon(any_instance, second) == []

    later = dt.datetime.now(dt.timezone.utc) + METRICS_REPORT_EVERY
    with duckdb.connect(alerts_db, read_only=True) as conn:
        reports = dashboard_reports(any_instance, conn, include_metrics=True, now=later)
    assert [r.asset_key for r in reports] == [metrics_table.key]


def test_the_monitoring_assets_are_declared_not_materialized_by_runs() -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for key in (alerts_table.key, metrics_table.key):
        assert specs[key].group_name == "monitoring"
    graph = defs.resolve_asset_graph()
    assert not graph.get(alerts_table.key).is_executable
    assert not graph.get(metrics_table.key).is_executable

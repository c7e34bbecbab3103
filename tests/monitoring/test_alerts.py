"""The alert store on a real DuckDB file: dedup, latest-wins updates, resolution, replays,
the delivery outbox, and the severity names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from robo_dagster import settings
from robo_dagster.monitoring.alerts import (
    TABLE,
    Alert,
    Severity,
    due_notifications,
    ensure_alerts,
    mark_notified,
    open_alerts,
    raise_alert,
    record_alert,
    resolve_alerts,
)
from robo_dagster.warehouse.connection import locked_connection

T0 = dt.datetime(2026, 11, 25, 14, 0)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def alert(
    severity: Severity | str = Severity.WARNING, fingerprint: str = "check:a/b:c", **kw: Any
) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        severity=severity,
        source=kw.pop("source", "check"),
        message=kw.pop("message", f"c failed ({severity})"),
        asset=kw.pop("asset", "a/b"),
        check_name=kw.pop("check_name", "c"),
        **kw,
    )


@pytest.fixture()
def conn(tmp_path: Path) -> Iterator[Any]:
    with locked_connection(str(tmp_path / "robo.duckdb")) as connection:
        ensure_alerts(connection)
        yield connection


def rows(conn: Any) -> list[dict[str, Any]]:
    frame = conn.execute(f"select * from {TABLE} order by id").fetchdf()
    return frame.to_dict("records")


def test_severity_names_are_ordered_and_unknown_names_are_refused() -> None:
    assert Severity.parse("warning") is Severity.WARNING
    assert Severity.parse(" Critical ") is Severity.CRITICAL
    assert Severity.INFO < Severity.WARNING < Severity.ERROR < Severity.CRITICAL
    assert f"{Severity.ERROR}" == "ERROR"
    with pytest.raises(
        ValueError, match=r"unknown alert severity 'SEVERE'.*INFO, WARNING, ERROR, CRITICAL"
    ):
        Severity.parse("SEVERE")
    assert alert("error").severity is Severity.ERROR
    with pytest.raises(ValidationError, match="unknown alert severity"):
        alert("loud")
    with pytest.raises(ValidationError):
        alert(fingerprint="")
    with pytest.raises(ValidationError):
        Alert(fingerprint="x", severity="INFO", source="check", message="m", colour="red")  # type: ignore[call-arg]


def test_the_same_condition_is_one_open_alert_carrying_the_latest_state(conn: Any) -> None:
    first = raise_alert(conn, alert(Severity.WARNING, run_id="r1"), at(0))
    again = record_alert(conn, alert(Severity.ERROR, run_id="r2"), at(5))
    calmer = record_alert(conn, alert(Severity.WARNING, message="better", run_id="r3"), at(9))
    assert again.id == calmer.id == first
    assert (again.status, calmer.status) == ("escalated", "updated")
    [row] = rows(conn)
    assert row["first_seen"] == at(0) and row["last_seen"] == at(9)
    assert (row["severity"], row["message"], row["run_id"]) == ("WARNING", "better", "r3")
    assert pd.isna(row["resolved_at"])


def test_a_replayed_event_changes_nothing_and_a_new_episode_opens_a_new_row(conn: Any) -> None:
    first = raise_alert(conn, alert(), at(0))
    assert raise_alert(conn, alert(), at(0)) == first
    assert record_alert(conn, alert(message="older"), at(-1)).status == "stale"
    assert resolve_alerts(conn, "check:a/b:c", at(10)) == 1
    assert resolve_alerts(conn, "check:a/b:c", at(10)) == 0
    replay = record_alert(conn, alert(), at(0))
    assert replay == (first, "stale")
    assert len(rows(conn)) == 1
    second = record_alert(conn, alert(Severity.ERROR), at(20))
    assert second.status == "new" and second.id != first
    history = rows(conn)
    assert history[0]["resolved_at"] == at(10) and pd.isna(history[1]["resolved_at"])
    assert [r["first_seen"] for r in history] == [at(0), at(20)]
    assert len(open_alerts(conn)) == 1


def test_a_resolution_older_than_the_last_failure_does_not_close_it(conn: Any) -> None:
    raise_alert(conn, alert(), at(0))
    raise_alert(conn, alert(), at(10))
    assert resolve_alerts(conn, "check:a/b:c", at(5)) == 0
    assert (
        resolve_alerts(
            conn, "check:a/b:c", dt.datetime(2026, 11, 25, 14, 10, tzinfo=dt.timezone.utc)
        )
        == 1
    )


def test_a_prefix_resolves_a_jobs_run_and_step_alerts_only(conn: Any) -> None:
    for fingerprint in ("step:job_a:x", "step:job_a:y", "step:job_ab:x", "run:job_a"):
        raise_alert(
            conn,
            alert(Severity.ERROR, fingerprint, source="run", asset=None, check_name=None),
            at(0),
        )
    assert resolve_alerts(conn, "step:job_a:", at(1), prefix=True) == 2
    assert resolve_alerts(conn, "run:job_a", at(1)) == 1
    assert list(open_alerts(conn)["fingerprint"]) == ["step:job_ab:x"]


def test_open_alerts_are_filtered_and_worst_first(conn: Any) -> None:
    raise_alert(conn, alert(Severity.INFO, "a"), at(0))
    raise_alert(conn, alert(Severity.CRITICAL, "b"), at(1))
    raise_alert(conn, alert(Severity.WARNING, "c"), at(2))
    raise_alert(conn, alert(Severity.WARNING, "d"), at(3))
    assert list(open_alerts(conn)["fingerprint"]) == ["b", "d", "c", "a"]
    assert list(open_alerts(conn, "warning")["fingerprint"]) == ["b", "d", "c"]
    assert list(open_alerts(conn, Severity.CRITICAL)["severity"]) == ["CRITICAL"]


def test_the_outbox_sends_new_and_escalated_alerts_once(conn: Any) -> None:
    warning = raise_alert(conn, alert(Severity.WARNING, "w"), at(0))
    info = raise_alert(conn, alert(Severity.INFO, "i"), at(0))
    due = due_notifications(conn, Severity.WARNING)
    assert [(i, a.fingerprint, a.severity) for i, a in due] == [(warning, "w", Severity.WARNING)]
    mark_notified(conn, [(warning, Severity.WARNING)], at(1))
    assert due_notifications(conn, "WARNING") == []
    raise_alert(conn, alert(Severity.WARNING, "w"), at(2))  # a repeat is not news
    assert due_notifications(conn, "WARNING") == []
    raise_alert(conn, alert(Severity.CRITICAL, "w"), at(3))  # an escalation is
    assert [a.severity for _, a in due_notifications(conn, "WARNING")] == [Severity.CRITICAL]
    resolve_alerts(conn, "w", at(4))  # a resolved alert is no longer due
    assert due_notifications(conn, "INFO") == [(info, alert(Severity.INFO, "i"))]


def test_the_minimum_severity_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBO_ALERT_MIN_SEVERITY", raising=False)
    assert settings.alert_min_severity() == "WARNING"
    monkeypatch.setenv("ROBO_ALERT_MIN_SEVERITY", "error")
    assert settings.alert_min_severity() == "ERROR"
    monkeypatch.setenv("ROBO_ALERT_MIN_SEVERITY", "WARN")
    with pytest.raises(ValueError, match="ROBO_ALERT_MIN_SEVERITY='WARN': unknown alert severity"):
        settings.alert_min_severity()

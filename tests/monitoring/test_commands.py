"""``robo-dagster status | alerts | metrics``: readable tables, ``--json`` that parses, exit
status 1 when anything is CRITICAL, and one line (no traceback) when there is nothing to read."""

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from robo_dagster.cli.main import main
from robo_dagster.monitoring.alerts import Alert, Severity, ensure_alerts, record_alert
from robo_dagster.monitoring.metrics import Metric, write_metrics
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import record_wait

from .metrics_support import AS_OF, beat, queue_runs, waiting_job

NOW = dt.datetime(2026, 11, 25, 15, 0)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "dagster_home"
    path.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    monkeypatch.setenv("ROBO_AS_OF", AS_OF)
    return path


def alert(fingerprint: str, severity: Severity, source: str = "run") -> Alert:
    return Alert(
        fingerprint=fingerprint, severity=severity, source=source, message=f"{fingerprint} broke"
    )


@pytest.fixture()
def history(alerts_db: str) -> str:
    """Three alerts (one resolved) and a few metrics."""
    with locked_connection(alerts_db) as conn:
        ensure_alerts(conn)
        record_alert(conn, alert("run:a_job", Severity.ERROR), NOW)
        record_alert(conn, alert("threshold:cpu_pct", Severity.WARNING, "threshold"), NOW)
        record_alert(conn, alert("run:b_job", Severity.ERROR), NOW - dt.timedelta(hours=2))
        conn.execute(
            "update monitoring.alerts set resolved_at = ? where fingerprint = 'run:b_job'",
            [NOW - dt.timedelta(hours=1)],
        )
        write_metrics(
            conn,
            [
                Metric("cpu_pct", 12.5, NOW - dt.timedelta(minutes=2)),
                Metric("cpu_pct", 14.0, NOW - dt.timedelta(minutes=1)),
                Metric("queued_runs", 3, NOW),
                Metric("run_duration_s", 1.25, NOW, {"job": "a_job", "run_id": "abc"}),
            ],
        )
    return alerts_db


def test_alerts_filters_and_json(history: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["fingerprint"] for r in rows] == ["threshold:cpu_pct", "run:a_job", "run:b_job"]
    assert main(["alerts", "--json", "--severity", "error", "--unresolved"]) == 0
    assert [r["fingerprint"] for r in json.loads(capsys.readouterr().out)] == ["run:a_job"]
    assert main(["alerts", "--json", "--limit", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["alerts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "id",
        "severity",
        "fingerprint",
        "first_seen",
        "last_seen",
        "resolved_at",
        "source",
        "message",
    ]
    assert len(lines) == 4 and "run:b_job" in lines[3] and "2026-11-25 14:00:00" in lines[3]


def test_a_bad_severity_is_refused_by_the_parser(
    history: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["alerts", "--severity", "loud"])
    assert exit_info.value.code == 2
    assert "unknown alert severity 'loud'" in capsys.readouterr().err


def test_metrics_by_name_and_since(history: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics", "--json", "--name", "cpu_pct"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["value"], r["measured_at"]) for r in rows] == [
        (14.0, "2026-11-25 14:59:00"),
        (12.5, "2026-11-25 14:58:00"),
    ]
    assert main(["metrics", "--json", "--since", "2026-11-25T14:59"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {"cpu_pct", "queued_runs", "run_duration_s"}
    duration = next(r for r in rows if r["name"] == "run_duration_s")
    assert duration["tags"] == {"job": "a_job", "run_id": "abc"}
    assert main(["metrics", "--since", "1h"]) == 0  # 2026 is not within the last hour of now
    assert capsys.readouterr().out.strip() == "no metrics"
    assert main(["metrics", "--name", "run_duration_s"]) == 0
    text = capsys.readouterr().out
    assert "run_duration_s  1.25   job=a_job run_id=abc" in text


def test_nothing_to_read_is_one_line(alerts_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts"]) == 3
    err = capsys.readouterr().err.strip()
    assert err == f"no DuckDB file at {alerts_db}: nothing has been recorded yet"
    duckdb.connect(alerts_db).close()
    assert main(["metrics", "--json"]) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"no table monitoring.metrics in {alerts_db}")


def test_status_is_ok_with_a_healthy_instance_and_no_critical_alert(
    home: Path, history: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with DagsterInstance.get() as instance:
        beat(instance)
        done = waiting_job.execute_in_process(instance=instance)
        queue_runs(instance, 2)
    record_wait(history, 3.5, "duckdb file lock (a process outside robo-dagster), held by PID 4242")
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [(h["name"], h["ok"]) for h in status["health"]] == [
        ("definitions", True),
        ("daemons", True),
        ("duckdb", True),
        ("market", True),
        ("broker", True),
    ]
    assert status["critical"] is False and status["backlog"] == 2
    assert status["open_alerts"] == {"CRITICAL": 0, "ERROR": 1, "WARNING": 1, "INFO": 0}
    (last,) = status["last_runs"]  # the queued runs are newer, of the same job
    assert last["job"] == "waiting_job" and last["status"] == "QUEUED"
    assert last["run_id"] != done.run_id

    assert main(["status"]) == 0
    text = capsys.readouterr().out
    duckdb_detail = next(h["detail"] for h in status["health"] if h["name"] == "duckdb")
    assert len(duckdb_detail) > 120 and duckdb_detail in text  # never cut in the table
    assert "Open alerts: 0 CRITICAL, 1 ERROR, 1 WARNING, 0 INFO" in text
    assert "Backlog: 2 queued run(s)" in text and text.rstrip().endswith("Status: OK")


def test_status_exits_1_on_a_critical_alert_or_a_failed_health_item(
    home: Path, history: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == 1  # no daemon ever ran
    status = json.loads(capsys.readouterr().out)
    daemons = next(h for h in status["health"] if h["name"] == "daemons")
    assert daemons["ok"] is False and "no daemon has ever run" in daemons["detail"]
    assert status["open_alerts"]["CRITICAL"] == 0

    with DagsterInstance.get() as instance:
        beat(instance)
    with locked_connection(history) as conn:
        record_alert(conn, alert("health:broker", Severity.CRITICAL, "system"), NOW)
    assert main(["status"]) == 1
    text = capsys.readouterr().out
    assert "health:broker" in text and text.rstrip().endswith("Status: CRITICAL")


def test_status_without_an_instance_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "missing"))
    assert main(["status"]) == 3
    assert "run `make run` first" in capsys.readouterr().err


def test_a_writer_in_another_process_is_waited_for_briefly_then_named(alerts_db: str) -> None:
    import subprocess
    import sys

    from robo_dagster.monitoring.commands import Unavailable, read_only

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()",
            alerts_db,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(Unavailable, match="is busy"):
            read_only(alerts_db, retry_s=0.3)
    finally:
        holder.communicate("")
    read_only(alerts_db).close()


LONG = (
    "step portfolio__positions of the one-off run of portfolio/positions +3 failed (run "
    "5f1c2a9e): BrokerUnavailable: the broker refused the session token after 3 attempts"
)


@pytest.fixture()
def long_alerts(alerts_db: str) -> str:
    with locked_connection(alerts_db) as conn:
        ensure_alerts(conn)
        record_alert(
            conn,
            Alert(fingerprint="run:5f1c2a9e", severity="ERROR", source="run", message=LONG),
            NOW,
        )
        record_alert(conn, alert("run:a_job", Severity.WARNING), NOW - dt.timedelta(minutes=1))
    return alerts_db


def message_lines(lines: list[str], column: int) -> list[str]:
    return [line[column:] for line in lines[1:] if len(line) > column]


def test_a_long_message_wraps_between_words_in_its_column(
    long_alerts: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "150")
    assert main(["alerts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 150 for line in lines)
    column = lines[0].index("message")
    long_rows = [i for i, line in enumerate(lines) if line.startswith("1 ")]
    (first,) = long_rows
    # The row's continuation lines are blank up to the message column: columns stay aligned.
    continuation = lines[first + 1 : len(lines) - 1]
    assert len(continuation) >= 1
    assert all(line[:column].strip() == "" for line in continuation)
    pieces = [lines[first][column:], *(line[column:] for line in continuation)]
    assert " ".join(pieces) == LONG  # every word whole, in order, none lost
    assert lines[-1].startswith("2 ") and lines[-1].endswith("run:a_job broke")


def test_a_narrow_terminal_puts_the_message_under_its_row(
    long_alerts: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "110")
    assert main(["alerts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("source  (message below)")
    assert all(len(line) <= 110 for line in lines)
    below = [line for line in lines if line.startswith("    ")]
    assert " ".join(line.strip() for line in below) == f"{LONG} run:a_job broke"


def test_without_a_terminal_each_alert_is_one_whole_line() -> None:
    from robo_dagster.monitoring.commands import ALERT_COLUMNS, ALERT_WRAP, wrapped_table

    rows = [{"id": 1, "severity": "ERROR", "fingerprint": "run:5f1c2a9e", "message": LONG}]
    lines = wrapped_table(rows, ALERT_COLUMNS, ALERT_WRAP, None).splitlines()
    assert len(lines) == 2 and lines[1].endswith(LONG)  # grep sees the whole message


def test_status_wraps_the_worst_alerts_messages_too() -> None:
    from robo_dagster.monitoring.commands import render_status

    status = {
        "critical": True,
        "health": [],
        "open_alerts": {"CRITICAL": 0, "ERROR": 1, "WARNING": 0, "INFO": 0},
        "open_alerts_note": None,
        "worst_open_alerts": [
            {"id": 1, "severity": "ERROR", "fingerprint": "run:5f1c2a9e", "message": LONG}
        ],
        "last_runs": [],
        "backlog": 0,
    }
    text = render_status(status, line_width=80)
    table_lines = text.split("Open alerts:")[1].split("\n\n")[0].splitlines()[1:]
    assert all(len(line) <= 80 for line in table_lines)
    column = table_lines[0].index("message")
    assert " ".join(line[column:] for line in table_lines[1:]) == LONG


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short", 10, "short"),
        ("the broker refused the session token", 20, "the broker refused…"),
        ("run:5f1c2a9e-0000-4000-8000-00000000abcd", 12, "run:5f1c2a9…"),
    ],
)
def test_a_cell_too_long_is_ellipsized_at_a_word(text: str, width: int, expected: str) -> None:
    from robo_dagster.monitoring.commands import ellipsize

    assert ellipsize(text, width) == expected and len(expected) <= width


def test_an_identifier_wraps_after_its_separators() -> None:
    from robo_dagster.monitoring.commands import wrap_text

    fingerprint = "check:market_data/price_bars:price_bars_valid"
    assert wrap_text(fingerprint, 30) == ["check:market_data/price_bars:", "price_bars_valid"]
    assert wrap_text("", 10) == [""]

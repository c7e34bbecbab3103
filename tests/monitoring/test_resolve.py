"""``robo-dagster alerts resolve``: the alerts no later run resolves (a failed one-off run's)
are resolved by hand, by id or by run, under the warehouse's write lock; the summary and
the ``monitoring/alerts`` asset then count them resolved, and a sensor replaying the events
that raised them does not open them again. Real runs, a real instance, a real DuckDB file."""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import DagsterInstance, asset, materialize

from robo_dagster.cli.main import main
from robo_dagster.monitoring import commands
from robo_dagster.monitoring.alerts import TABLE, Alert, Severity, ensure_alerts, record_alert
from robo_dagster.monitoring.commands import resolve_alerts_by_hand
from robo_dagster.monitoring.dashboard import alerts_table
from robo_dagster.monitoring.summary import alert_summary
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import WarehouseBusy

from .metrics_support import held_lock
from .support import NO_TELEMETRY, tick


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    path = tmp_path / "dagster_home"
    path.mkdir()
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    with DagsterInstance.get() as instance:
        yield instance


@asset(key=["monitoring_test", "one_off"])
def one_off() -> None:
    raise RuntimeError("the vendor returned no rows for 2026-11-25")


@asset(key=["monitoring_test", "one_off"])
def one_off_fixed() -> None:
    """The same asset once the vendor answers."""


def rows(database: str) -> dict[str, dict[str, Any]]:
    """The alerts by fingerprint (run ids replaced by "<run>" in the keys)."""
    with locked_connection(database) as conn:
        cursor = conn.execute(f"select * from {TABLE} order by id")
        names = [d[0] for d in cursor.description or []]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {r["fingerprint"].replace(str(r["run_id"]), "<run>"): r for r in found}


def open_count(database: str) -> int:
    with locked_connection(database) as conn:
        return alert_summary(conn, dt.datetime.now()).open_count


def reported_open_alerts(instance: DagsterInstance) -> int | None:
    entry = instance.get_latest_materialization_event(alerts_table.key)
    if entry is None or entry.asset_materialization is None:
        return None
    return int(entry.asset_materialization.metadata["open_alerts"].value)


def failed_one_off_run(instance: DagsterInstance) -> str:
    """A failed one-off run, and the sensor tick that records its run and step alerts."""
    run_id = materialize([one_off], instance=instance, raise_on_error=False).run_id
    result = tick(instance)
    for event in result.asset_events:  # as the sensor daemon records them
        instance.report_runless_asset_event(event)
    return run_id


def test_a_failed_one_off_runs_alerts_are_resolved_by_id_then_by_run(
    home: DagsterInstance, alerts_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = failed_one_off_run(home)
    table = rows(alerts_db)
    run_alert, step_alert = table["run:<run>"], table["step:<run>:monitoring_test__one_off"]
    assert "one-off run of monitoring_test/one_off failed" in run_alert["message"]
    assert open_count(alerts_db) == 2 and reported_open_alerts(home) == 2
    # A later success of a one-off run proves nothing about this one: still open.
    materialize([one_off_fixed], instance=home)
    tick(home)
    assert open_count(alerts_db) == 2

    argv = ["alerts", "resolve", str(run_alert["id"]), "--by", "ana", "--reason", "re-run by hand"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == (
        f"resolved alert {run_alert['id']} ({run_alert['fingerprint']})"
    )
    table = rows(alerts_db)
    resolved = table["run:<run>"]
    assert resolved["resolved_at"] >= resolved["last_seen"]
    assert (resolved["resolved_by"], resolved["resolution"]) == ("ana", "re-run by hand")
    assert table["step:<run>:monitoring_test__one_off"]["resolved_at"] is None
    # The summary, and the monitoring asset in the UI, see it resolved at once.
    assert open_count(alerts_db) == 1 and reported_open_alerts(home) == 1

    assert main(["alerts", "resolve", "--all-from-run", run_id[:8], "--by", "ben"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert step_alert["id"] < run_alert["id"]  # the sensor records a run's steps first
    assert out == [
        f"resolved alert {step_alert['id']} ({step_alert['fingerprint']})",
        f"alert {run_alert['id']} ({run_alert['fingerprint']}) was already resolved at "
        f"{resolved['resolved_at']:%Y-%m-%d %H:%M:%S} by ana: re-run by hand",
    ]
    table = rows(alerts_db)
    assert table["run:<run>"]["resolved_by"] == "ana"  # the first resolution is kept
    assert table["step:<run>:monitoring_test__one_off"]["resolved_by"] == "ben"
    assert open_count(alerts_db) == 0 and reported_open_alerts(home) == 0

    # A sensor that lost its cursor replays the failure: it is stale, nothing reopens.
    tick(home, cursor=None)
    assert rows(alerts_db) == table

    assert main(["alerts", "--unresolved", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["alerts", "--json"]) == 0
    listed = capsys.readouterr().out
    assert '"resolved_by": "ana"' in listed and '"resolution": "re-run by hand"' in listed


def test_resolving_again_says_so_and_changes_nothing(
    alerts_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = dt.datetime(2026, 11, 25, 15, 0)
    with locked_connection(alerts_db) as conn:
        ensure_alerts(conn)
        alert = Alert(fingerprint="run:x", severity=Severity.ERROR, source="run", message="x")
        alert_id = record_alert(conn, alert, at).id
    assert main(["alerts", "resolve", str(alert_id), "--json"]) == 0
    capsys.readouterr()
    before = rows(alerts_db)
    assert main(["alerts", "resolve", str(alert_id), "--by", "someone else"]) == 0
    assert "was already resolved at" in capsys.readouterr().out
    assert rows(alerts_db) == before


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["alerts", "resolve", "999"], 1, "no alert with id 999 in monitoring.alerts"),
        (["alerts", "resolve", "1", "999"], 1, "no alert with id 999"),  # all or none
        (
            ["alerts", "resolve", "--all-from-run", "0123abcd"],
            1,
            "no alert in monitoring.alerts was raised by run 0123abcd",
        ),
        (["alerts", "resolve", "--all-from-run", "12ab"], 2, "not a run id: '12ab'"),
        (["alerts", "resolve"], 2, "give alert ids or --all-from-run RUN_ID"),
        (["alerts", "resolve", "1", "--all-from-run", "0123abcd"], 2, "one of the two"),
    ],
)
def test_an_unknown_or_malformed_id_is_one_line_and_resolves_nothing(
    alerts_db: str,
    argv: list[str],
    status: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with locked_connection(alerts_db) as conn:
        ensure_alerts(conn)
        record_alert(
            conn,
            Alert(fingerprint="run:x", severity="ERROR", source="run", message="x", run_id="f" * 8),
            dt.datetime(2026, 11, 25, 15, 0),
        )
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert open_count(alerts_db) == 1


def test_no_database_is_exit_3(alerts_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "resolve", "1"]) == 3
    assert "no DuckDB file at" in capsys.readouterr().err
    assert not Path(alerts_db).exists()  # resolving never creates the warehouse


def test_a_run_id_prefix_of_two_runs_is_ambiguous(
    alerts_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = dt.datetime(2026, 11, 25, 15, 0)
    with locked_connection(alerts_db) as conn:
        ensure_alerts(conn)
        for run_id in ("abcdef01-1111", "abcdef01-2222"):
            alert = Alert(
                fingerprint=f"run:{run_id}",
                severity="ERROR",
                source="run",
                message="x",
                run_id=run_id,
            )
            record_alert(conn, alert, at)
    assert main(["alerts", "resolve", "--all-from-run", "abcdef01"]) == 2
    assert "is ambiguous" in capsys.readouterr().err
    assert main(["alerts", "resolve", "--all-from-run", "abcdef01-2222"]) == 0
    assert open_count(alerts_db) == 1


def test_a_database_from_before_the_resolution_columns_keeps_working(
    alerts_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table as the first release created it: readers see no resolution; the first
    write through ``ensure_alerts`` adds the columns and keeps every row."""
    conn = duckdb.connect(alerts_db)
    conn.execute("create schema monitoring")
    conn.execute("create sequence monitoring.alert_id")
    conn.execute(
        "create table monitoring.alerts (id bigint primary key default "
        "nextval('monitoring.alert_id'), fingerprint varchar not null, first_seen timestamp "
        "not null, last_seen timestamp not null, severity varchar not null, source varchar "
        "not null, asset varchar, check_name varchar, message varchar, run_id varchar, "
        "resolved_at timestamp, notified_at timestamp, notified_severity varchar)"
    )
    conn.execute(
        "insert into monitoring.alerts (fingerprint, first_seen, last_seen, severity, source, "
        "message) values ('run:old', '2026-11-20 09:00', '2026-11-20 09:00', 'ERROR', 'run', "
        "'an old failure')"
    )
    conn.close()

    assert main(["alerts", "--json"]) == 0
    (old,) = json.loads(capsys.readouterr().out)
    assert (old["fingerprint"], old["resolved_by"], old["resolution"]) == ("run:old", None, None)
    assert main(["alerts", "resolve", str(old["id"]), "--by", "ops", "--reason", "stale"]) == 0
    capsys.readouterr()
    row = rows(alerts_db)["run:old"]
    assert (row["message"], row["resolved_by"], row["resolution"]) == (
        "an old failure",
        "ops",
        "stale",
    )


def test_resolving_waits_for_the_write_lock_and_gives_up_cleanly(
    alerts_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with locked_connection(alerts_db) as conn:
        ensure_alerts(conn)
        alert = Alert(fingerprint="run:x", severity="ERROR", source="run", message="x")
        alert_id = record_alert(conn, alert, dt.datetime(2026, 11, 25, 15, 0)).id
    with held_lock(alerts_db):  # a sensor's tick or a materialization writing
        with pytest.raises(WarehouseBusy):
            resolve_alerts_by_hand(alerts_db, [alert_id], deadline_s=0.3)
        monkeypatch.setattr(commands, "RESOLVE_DEADLINE_S", 0.3)
        assert main(["alerts", "resolve", str(alert_id)]) == 3
        err = capsys.readouterr().err.strip()
        assert err.startswith("the warehouse is busy, nothing resolved") and "\n" not in err
    assert open_count(alerts_db) == 1
    resolve_alerts_by_hand(alerts_db, [alert_id])  # once it is free
    assert open_count(alerts_db) == 0


def test_an_instance_on_run_sharded_storage_gets_the_report_too(
    tmp_path: Path, alerts_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``DagsterInstance.local_temp`` is the SQLite storage ``dagster.yaml`` gives the real
    deployment; ``resolve_alerts_by_hand`` reports the summary straight to it."""
    (tmp_path / "sharded").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "sharded"), overrides=NO_TELEMETRY) as instance:
        failed_one_off_run(instance)
        ids = [r["id"] for r in rows(alerts_db).values()]
        resolved = resolve_alerts_by_hand(alerts_db, ids, by="ops", instance=instance)
        assert [r.already for r in resolved] == [False, False]
        assert reported_open_alerts(instance) == 0

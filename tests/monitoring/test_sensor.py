"""``alerts_sensor`` against real Dagster instances and a real DuckDB file: checks, runs,
jobs that recover, and a cursor that neither loses nor doubles anything."""

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    Config,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    define_asset_job,
    materialize,
)

from robo_dagster.monitoring import sensor as alerts_module
from robo_dagster.monitoring.sensor import alerts_sensor
from robo_dagster.warehouse import query

from .support import NO_TELEMETRY, tick

PRICES = AssetKey(["monitoring_test", "prices"])
CHECK_FP = "check:monitoring_test/prices:prices_sane"


def checked_prices(
    passed: bool, severity: AssetCheckSeverity = AssetCheckSeverity.WARN, blocking: bool = False
) -> list[AssetsDefinition | AssetChecksDefinition]:
    """A throwaway asset and a check whose outcome the test chooses."""

    @asset(key=PRICES)
    def prices() -> None:
        return None

    @asset_check(asset=prices, name="prices_sane", blocking=blocking)
    def prices_sane() -> AssetCheckResult:
        return AssetCheckResult(
            passed=passed,
            severity=severity,
            description="all bars sane" if passed else "3 bars with low > high\nand more detail",
        )

    return [prices, prices_sane]


class FlakyConfig(Config):
    fail: bool = True


@asset(key=["monitoring_test", "flaky"])
def flaky(config: FlakyConfig) -> None:
    if config.fail:
        raise ValueError("vendor returned no rows for 2026-11-25\n(second line is not shown)")


FLAKY_JOB = Definitions(
    assets=[flaky], jobs=[define_asset_job("flaky_job", selection=[flaky.key])]
).resolve_job_def("flaky_job")


def run_flaky(instance: DagsterInstance, fail: bool, **tags: str) -> str:
    result = FLAKY_JOB.execute_in_process(
        instance=instance,
        run_config={"ops": {"monitoring_test__flaky": {"config": {"fail": fail}}}},
        tags=tags,
        raise_on_error=False,
    )
    assert result.success is (not fail)
    return result.run_id


def alerts(database: str) -> pd.DataFrame:
    return query("select * from monitoring.alerts order by id", database=database)


def drain(instance: DagsterInstance, cursor: str | None = None) -> str:
    """Tick until the sensor has read everything; return the cursor."""
    for _ in range(1000):
        result = tick(instance, cursor)
        if result.cursor == cursor:
            return str(cursor)
        cursor = result.cursor
    raise AssertionError("the sensor never caught up")


def test_a_failing_warn_check_is_one_warning_until_it_passes(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    materialize(checked_prices(passed=False), instance=any_instance)
    first = tick(any_instance)
    second = tick(any_instance, first.cursor)
    assert "1 new" in str(first.skip_message)
    assert second.cursor == first.cursor and "no new event" in str(second.skip_message)
    [row] = alerts(alerts_db).to_dict("records")
    assert row["fingerprint"] == CHECK_FP
    assert (row["severity"], row["source"]) == ("WARNING", "check")
    assert (row["asset"], row["check_name"]) == ("monitoring_test/prices", "prices_sane")
    assert row["message"] == (
        "check prices_sane failed on monitoring_test/prices: 3 bars with low > high"
    )
    assert pd.isna(row["resolved_at"]) and row["run_id"]

    materialize(checked_prices(passed=False), instance=any_instance)
    third = tick(any_instance, second.cursor)
    assert "1 repeated" in str(third.skip_message)
    materialize(checked_prices(passed=True), instance=any_instance)
    tick(any_instance, third.cursor)
    [row] = alerts(alerts_db).to_dict("records")
    assert row["last_seen"] > row["first_seen"]
    assert not pd.isna(row["resolved_at"]) and row["resolved_at"] >= row["last_seen"]


def test_a_blocking_error_check_is_critical(any_instance: DagsterInstance, alerts_db: str) -> None:
    materialize(
        checked_prices(passed=False, severity=AssetCheckSeverity.ERROR, blocking=True),
        instance=any_instance,
        raise_on_error=False,
    )
    tick(any_instance)
    table = alerts(alerts_db).set_index("fingerprint")
    assert table.loc[CHECK_FP, "severity"] == "CRITICAL"
    assert table.loc[CHECK_FP, "message"].startswith("blocking check prices_sane failed")


def test_error_checks_and_the_seeds_risk_breach(instance: DagsterInstance, alerts_db: str) -> None:
    materialize(checked_prices(passed=False, severity=AssetCheckSeverity.ERROR), instance=instance)
    instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=AssetKey(["ai_analysis", "risk_assessment"]),
            check_name="risk_breach",
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description="severity CRITICAL; worst scenario market -10%: 7.1% of equity",
        )
    )
    tick(instance)
    table = alerts(alerts_db).set_index("fingerprint")
    assert table.loc[CHECK_FP, "severity"] == "ERROR"
    breach = table.loc["check:ai_analysis/risk_assessment:risk_breach"]
    assert breach["severity"] == "CRITICAL" and breach["run_id"] is None


@pytest.mark.parametrize(
    ("recorded", "severity", "expected"),
    [
        ("ERROR", AssetCheckSeverity.WARN, "ERROR"),  # the desk level wins over Dagster's
        ("CRITICAL", AssetCheckSeverity.ERROR, "CRITICAL"),
        ("SEVERE", AssetCheckSeverity.WARN, "WARNING"),  # no level: Dagster's, and it says why
    ],
)
def test_a_check_that_records_its_level_raises_the_alert_at_it(
    instance: DagsterInstance,
    alerts_db: str,
    recorded: str,
    severity: AssetCheckSeverity,
    expected: str,
) -> None:
    @asset(key=PRICES)
    def prices() -> None:
        return None

    @asset_check(asset=prices, name="prices_sane")
    def prices_sane() -> AssetCheckResult:
        return AssetCheckResult(
            passed=False, severity=severity, description="graded", metadata={"severity": recorded}
        )

    materialize([prices, prices_sane], instance=instance)
    tick(instance)
    alert = alerts(alerts_db).set_index("fingerprint").loc[CHECK_FP]
    assert alert["severity"] == expected
    if expected == "WARNING":
        assert "unknown alert severity 'SEVERE'" in alert["message"]


def test_a_failed_run_names_the_job_and_the_error(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    @asset(key=["monitoring_test", "broken"])
    def broken() -> None:
        raise RuntimeError("the broker refused the session token\ntraceback detail")

    run_id = materialize([broken], instance=any_instance, raise_on_error=False).run_id
    tick(any_instance)
    table = alerts(alerts_db).set_index("fingerprint")
    run = table.loc[f"run:{run_id}"]
    assert (run["source"], run["severity"], run["run_id"]) == ("run", "ERROR", run_id)
    assert run["message"] == (
        f"one-off run of monitoring_test/broken failed (run {run_id[:8]}): "
        "RuntimeError: the broker refused the session token"
    )
    step = table.loc[f"step:{run_id}:monitoring_test__broken"]
    assert step["severity"] == "ERROR"
    assert (
        "step monitoring_test__broken of the one-off run of monitoring_test/broken failed"
        in step["message"]
    )
    assert step["message"].endswith("RuntimeError: the broker refused the session token")


def test_a_failing_job_is_one_alert_until_it_succeeds_again(
    any_instance: DagsterInstance, alerts_db: str
) -> None:
    first = run_flaky(any_instance, fail=True)
    cursor = tick(any_instance).cursor
    second = run_flaky(any_instance, fail=True, **{"dagster/priority": "10"})
    cursor = tick(any_instance, cursor).cursor
    table = alerts(alerts_db).set_index("fingerprint")
    assert sorted(table.index) == ["run:flaky_job", "step:flaky_job:monitoring_test__flaky"]
    run = table.loc["run:flaky_job"]
    assert run["run_id"] == second != first
    assert run["severity"] == "CRITICAL" and "priority 10" in run["message"]
    assert run["message"].endswith("ValueError: vendor returned no rows for 2026-11-25")
    assert run["last_seen"] > run["first_seen"]

    run_flaky(any_instance, fail=False)
    result = tick(any_instance, cursor)
    assert "2 resolved" in str(result.skip_message)
    assert alerts(alerts_db)["resolved_at"].notna().all()

    run_flaky(any_instance, fail=True)
    tick(any_instance, result.cursor)
    table = alerts(alerts_db)
    assert len(table) == 4 and table["resolved_at"].isna().sum() == 2  # a new episode


def history(instance: DagsterInstance) -> None:
    """Checks failing, repeating and passing, a job failing then recovering, a one-off failure."""
    for i, (name, passed) in enumerate(
        [
            *[("a", False), ("b", False), ("a", False), ("c", False), ("b", True)],
            *[("a", True), ("c", False), ("a", False), ("d", True), ("b", False)],
        ]
    ):
        instance.report_runless_asset_event(
            AssetCheckEvaluation(
                asset_key=PRICES,
                check_name=name,
                passed=passed,
                severity=AssetCheckSeverity.WARN if i % 2 else AssetCheckSeverity.ERROR,
                description=f"evaluation {i}",
            )
        )
        if i == 3:
            run_flaky(instance, fail=True)
        if i == 6:
            run_flaky(instance, fail=False)
    run_flaky(instance, fail=True)
    materialize(checked_prices(passed=False), instance=instance)


def comparable(database: str) -> list[dict[str, Any]]:
    return alerts(database).drop(columns=["notified_at", "notified_severity"]).to_dict("records")


def test_ticks_split_anywhere_and_a_restart_record_each_alert_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY) as instance:
        history(instance)
        monkeypatch.setenv("ROBO_DUCKDB_PATH", str(tmp_path / "whole.duckdb"))
        whole = tick(instance)
        assert "no new event" in str(tick(instance, whole.cursor).skip_message)
    expected = comparable(str(tmp_path / "whole.duckdb"))
    assert len(expected) == 10 and sum(pd.isna(r["resolved_at"]) for r in expected) == 6

    for batch in (1, 2, 3, 7):
        monkeypatch.setattr(alerts_module, "MAX_EVENTS_PER_TICK", batch)
        database = str(tmp_path / f"split{batch}.duckdb")
        monkeypatch.setenv("ROBO_DUCKDB_PATH", database)
        with DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY) as instance:
            cursor = tick(instance).cursor
            cursor = tick(instance, cursor).cursor
            lost = tick(instance, cursor)  # its cursor is never saved: the daemon died
            assert lost.cursor != cursor
        with DagsterInstance.local_temp(
            str(home), overrides=NO_TELEMETRY
        ) as restarted:  # the daemon restarts
            final = drain(restarted, cursor)
        assert final == whole.cursor
        assert comparable(database) == expected, f"batch of {batch}"


def test_the_sensor_is_registered_running_and_launches_nothing() -> None:
    from robo_dagster.definitions import defs

    assert alerts_sensor in list(defs.sensors or [])
    assert alerts_sensor.default_status.value == "RUNNING"
    assert alerts_sensor.minimum_interval_seconds == 15
    assert not alerts_sensor.targets


def test_a_cursor_that_is_not_a_storage_id_is_refused(
    instance: DagsterInstance, alerts_db: str
) -> None:
    with pytest.raises(Exception, match="not an event storage id"):
        tick(instance, "2026-11-25")


def test_the_mapping_can_be_driven_without_duckdb(instance: DagsterInstance) -> None:
    for passed in (False, True):
        instance.report_runless_asset_event(
            AssetCheckEvaluation(
                asset_key=PRICES,
                check_name="prices_sane",
                passed=passed,
                severity=AssetCheckSeverity.WARN,
            )
        )
    run_flaky(instance, fail=True, **{"dagster/priority": "10"})
    run_flaky(instance, fail=False)
    batch = alerts_module.read_events(instance, after=-1, limit=100)
    assert batch.caught_up and batch.cursor == batch.records[-1].storage_id
    records, tags = alerts_module.with_run_context(instance, batch.records)
    raises, resolves = alerts_module.alerts_from_records(records, tags)
    assert [(r.alert.fingerprint, r.alert.severity.name) for r in raises] == [
        (CHECK_FP, "WARNING"),
        ("step:flaky_job:monitoring_test__flaky", "ERROR"),
        ("run:flaky_job", "CRITICAL"),
    ]
    assert [(r.fingerprint, r.prefix) for r in resolves] == [
        (CHECK_FP, False),
        ("run:flaky_job", False),
        ("step:flaky_job:", True),
    ]
    assert raises[0].seq < resolves[0].seq < raises[1].seq < resolves[1].seq
    without_tags, _ = alerts_module.alerts_from_records(records)
    assert without_tags[2].alert.severity.name == "ERROR"  # the priority comes from the run's tags

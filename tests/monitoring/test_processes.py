"""The desk's own CPU and memory, measured between stored readings, and host-wide alerts
that are opt-in.

The desk processes here are real: a spawned interpreter whose command line names
robo_dagster and that burns a CPU budget the test sets (``time.process_time``), so the
figures are checked against CPU seconds the test controls, never against wall time.
"""

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pytest
from dagster import DagsterInstance

from robo_dagster.monitoring.alerts import Severity
from robo_dagster.monitoring.metrics import Metric, threshold_actions
from robo_dagster.monitoring.processes import (
    CpuReading,
    ProcessCpu,
    cpu_between,
    is_desk_process,
    read_desk,
)

from .metrics_support import clear_threshold_env, metrics_tick

BURN = """
# robo_dagster desk process stand-in
import sys, time
budget = float(sys.argv[1])
start = time.process_time()
while time.process_time() - start < budget:
    pass
print("burnt", flush=True)
sys.stdin.read()  # stay alive and idle until killed
"""


@contextmanager
def desk_process(cpu_s: float, wait: bool = True) -> Iterator[subprocess.Popen[str]]:
    """A desk process that burns ``cpu_s`` of CPU then idles; killed when the block ends.
    With ``wait``, the block starts once the budget is spent."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BURN, str(cpu_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if wait:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
        yield proc
    finally:
        proc.kill()
        proc.wait(60)


def desk_seconds(before: CpuReading, after: CpuReading, cpus: int = 4) -> float:
    """The desk's CPU seconds between two readings, from ``cpu_between``'s percentage."""
    _, desk = cpu_between(before, after, cpus)
    return desk / 100 * (after.at - before.at) * cpus


def test_the_desk_is_dagster_and_robo_dagster_only() -> None:
    assert is_desk_process(["/venv/bin/dagster-webserver", "-h", "127.0.0.1"])
    assert is_desk_process(["python", "-m", "dagster", "api", "grpc"])
    assert is_desk_process(["python", "-m", "robo_dagster.cli.quickstart"])
    assert is_desk_process(["/venv/bin/robo-dagster", "status"])
    assert not is_desk_process(["python", "-m", "pytest"])
    assert not is_desk_process(["postgres", "-D", "/var/lib/postgresql"])
    assert not is_desk_process([])


def test_a_new_desk_process_counts_all_its_cpu_since_the_last_reading() -> None:
    before = read_desk().reading
    with desk_process(0.6):
        after = read_desk()
    assert after.processes >= 1 and after.rss_bytes > 0
    # It started after ``before``, so all its 0.6 s (and its start-up) fall in the interval.
    assert desk_seconds(before, after.reading) >= 0.6


def test_a_process_in_both_readings_counts_only_its_increase() -> None:
    with desk_process(0.3) as proc:
        before = read_desk().reading
        after = read_desk().reading
        key = next(k for k in after.processes if k.startswith(f"{proc.pid}:"))
        assert key in before.processes
    # Idle between the two readings: its 0.3 s were before ``before`` and count nothing.
    assert after.processes[key].cpu_s - before.processes[key].cpu_s < 0.05


def test_cpu_between_on_readings_built_by_hand() -> None:
    before = CpuReading(
        at=1000.0,
        host_busy_s=500.0,
        host_total_s=2000.0,
        processes={
            "10:1.00": ProcessCpu(5.0, 1),  # the daemon: +3 s
            "11:2.00": ProcessCpu(2.0, 10),  # a run that ends, reaped by the daemon
            "12:3.00": ProcessCpu(1.0, 99),  # a process whose parent is not the desk's
        },
    )
    after = CpuReading(
        at=1010.0,  # 10 s on 4 cores: 40 CPU seconds in all
        host_busy_s=520.0,
        host_total_s=2040.0,
        processes={
            "10:1.00": ProcessCpu(5.0 + 3.0 + 2.5, 1),  # +3 own, and the run's 2.5 s total
            "13:1005.00": ProcessCpu(4.0, 10),  # started after ``before``: all of it
            "14:500.00": ProcessCpu(9.0, 1),  # older, unseen before: unknown, not counted
        },
    )
    host, desk = cpu_between(before, after, cpus=4)
    assert host == pytest.approx(100 * 20 / 40)
    # 3 + 2.5 (the daemon) + 4 (the new run) - 2 (the ended run's seconds already counted)
    assert desk == pytest.approx(100 * (3 + 2.5 + 4 - 2) / 40)
    with pytest.raises(ValueError, match="not in order"):
        cpu_between(after, before, cpus=4)


def test_a_stored_reading_round_trips_and_junk_is_ignored() -> None:
    reading = read_desk().reading
    assert CpuReading.from_json(json.loads(json.dumps(reading.to_json()))) == reading
    for junk in (None, 5, {"at": 1}, {"at": "x", "host_busy_s": 1, "host_total_s": 2}):
        assert CpuReading.from_json(junk) is None


def test_the_first_tick_reads_the_desk_over_its_own_interval_and_the_next_since_it(
    monkeypatch: pytest.MonkeyPatch, alerts_db: str
) -> None:
    clear_threshold_env(monkeypatch)
    for name in ("CPU_PCT", "MEMORY_PCT"):
        monkeypatch.setenv(f"ROBO_THRESHOLD_{name}_WARNING", "100.5")
        monkeypatch.setenv(f"ROBO_THRESHOLD_{name}_CRITICAL", "101")
    with DagsterInstance.ephemeral() as instance, desk_process(30.0, wait=False):
        first = metrics_tick(instance)
        second = metrics_tick(instance, first.cursor)
    assert first.cursor and second.cursor
    stored = [json.loads(c)["cpu"] for c in (first.cursor, second.cursor)]
    assert stored[1]["at"] > stored[0]["at"]
    with duckdb.connect(alerts_db, read_only=True) as conn:
        rows = conn.execute(
            "select value, tags from monitoring.metrics where name = 'cpu_pct' order by measured_at"
        ).fetchall()
    assert len(rows) == 2
    # A burning desk process: never the 0.0 of a primed counter, on the first tick too.
    assert all(value > 0 for value, _ in rows)
    second_window = float(json.loads(rows[1][1])["window_s"])
    assert second_window == pytest.approx(stored[1]["at"] - stored[0]["at"], abs=0.06)


AT = dt.datetime(2026, 11, 30, 15, 0)


def test_host_wide_load_alerts_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_threshold_env(monkeypatch)
    monkeypatch.delenv("ROBO_HOST_ALERTS", raising=False)
    busy_host = [
        Metric("cpu_pct", 12.0, AT, {"processes": "5"}),
        Metric("host_cpu_pct", 97.0, AT),
        Metric("host_memory_pct", 95.0, AT),
    ]
    raises, resolves = threshold_actions(busy_host)
    assert not raises  # another tenant's load pages nobody by default
    assert {r.fingerprint for r in resolves} == {
        "threshold:cpu_pct",
        "threshold:host_cpu_pct",
        "threshold:host_memory_pct",
    }
    monkeypatch.setenv("ROBO_HOST_ALERTS", "1")
    raises, _ = threshold_actions(busy_host)
    assert {(r.alert.fingerprint, r.alert.severity) for r in raises} == {
        ("threshold:host_cpu_pct", Severity.CRITICAL),
        ("threshold:host_memory_pct", Severity.CRITICAL),
    }
    monkeypatch.setenv("ROBO_HOST_ALERTS", "maybe")
    with pytest.raises(ValueError, match="ROBO_HOST_ALERTS='maybe'"):
        threshold_actions(busy_host)


def test_the_desks_own_load_alerts_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_threshold_env(monkeypatch)
    monkeypatch.delenv("ROBO_HOST_ALERTS", raising=False)
    raises, _ = threshold_actions([Metric("cpu_pct", 85.0, AT, {"processes": "7"})])
    assert [(r.alert.fingerprint, r.alert.severity) for r in raises] == [
        ("threshold:cpu_pct", Severity.WARNING)
    ]
    assert raises[0].alert.message == (
        "the desk's 7 processes use 85 % of the machine's cpu (at or above WARNING 80)"
    )

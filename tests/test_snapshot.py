"""The readers' snapshot, and waiting on a DuckDB file that another process holds.

The "other process" is real: a spawned interpreter that opens the live file read-write
with plain ``duckdb`` (as a notebook would) and keeps it until the test says let go.
"""

import multiprocessing as mp
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, asset, build_sensor_context, materialize

from robo_dagster.automation import inbox_sensor as inbox_module
from robo_dagster.automation import snapshot_sensor as snapshot_module
from robo_dagster.automation.inbox_sensor import market_event_inbox_sensor
from robo_dagster.definitions import defs
from robo_dagster.market_data.inbox import push_event
from robo_dagster.monitoring import sensor as alerts_module
from robo_dagster.monitoring.health import check_duckdb
from robo_dagster.warehouse import DuckDBWarehouse
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.locking import WarehouseBusy, recent_waits
from robo_dagster.warehouse.snapshot import publish_snapshot, snapshot_path


def _hold(path: str, ready: "mp.synchronize.Event", release: "mp.synchronize.Event") -> None:
    conn = duckdb.connect(path)
    ready.set()
    release.wait(120)
    conn.close()


@contextmanager
def held_by_another_process(path: str) -> Iterator[tuple["mp.synchronize.Event", int]]:
    """Hold ``path`` read-write in a spawned process; yield the event that lets go and
    the holder's pid."""
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(60), "the holder never opened the file"
        yield release, holder.pid or 0
    finally:
        release.set()
        holder.join(60)
    assert holder.exitcode == 0


def _count(path: str, ready: "mp.synchronize.Event", go: "mp.synchronize.Event", out) -> None:
    """Open the snapshot read-only, report a count, keep it open until ``go``, count again."""
    with duckdb.connect(path, read_only=True) as conn:
        out.put(conn.execute("select count(*) from t").fetchone()[0])
        ready.set()
        go.wait(120)
        out.put(conn.execute("select count(*) from t").fetchone()[0])


def make_database(path: Path, rows: int) -> str:
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema if not exists market_data")
        conn.execute("create or replace table t as select range as i from range(?)", [rows])
        conn.execute("create or replace table market_data.x as select 1 as one")
    return str(path)


def test_the_snapshot_sits_beside_the_file() -> None:
    assert snapshot_path("data/robo.duckdb") == "data/robo.snapshot.duckdb"
    assert snapshot_path("/x/y/other.duckdb") == "/x/y/other.snapshot.duckdb"


def test_a_plain_reader_opens_the_snapshot_while_a_writer_holds_the_live_file(
    tmp_path: Path,
) -> None:
    live = make_database(tmp_path / "robo.duckdb", 1000)
    published, _ = publish_snapshot(live)
    with held_by_another_process(live):
        # The premise: the live file refuses even a read-only connection meanwhile.
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(live, read_only=True)
        with duckdb.connect(published, read_only=True) as conn:
            assert conn.execute("select count(*) from t").fetchone() == (1000,)
            assert conn.execute("select one from market_data.x").fetchone() == (1,)
    assert sorted(p.name for p in tmp_path.iterdir() if "snapshot" in p.name) == [
        "robo.snapshot.duckdb"
    ], "no temporary copy or WAL may be left behind"


def test_republishing_never_disturbs_a_reader_of_the_old_snapshot(tmp_path: Path) -> None:
    live = make_database(tmp_path / "robo.duckdb", 10)
    published, _ = publish_snapshot(live)
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_count, args=(published, ready, go, out))
    reader.start()
    try:
        assert ready.wait(60)
        with locked_connection(live) as conn:
            conn.execute("insert into t select range from range(10, 25)")
        publish_snapshot(live)  # replaces the file the reader holds open
        go.set()
        assert [out.get(timeout=60), out.get(timeout=60)] == [10, 10]
    finally:
        go.set()
        reader.join(60)
    assert reader.exitcode == 0
    with duckdb.connect(published, read_only=True) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (25,)


def test_nothing_to_snapshot_before_the_first_run(tmp_path: Path) -> None:
    published, _ = publish_snapshot(str(tmp_path / "robo.duckdb"))
    assert not Path(published).exists()
    assert not (tmp_path / "robo.duckdb").exists()


def test_a_write_waits_for_an_outside_holder_then_goes_ahead_and_is_recorded(
    tmp_path: Path,
) -> None:
    live = make_database(tmp_path / "robo.duckdb", 3)
    with held_by_another_process(live) as (release, holder):
        # The message is DuckDB's, and names the holder, so a user can find it.
        busy = pytest.raises(WarehouseBusy, match=rf"stayed locked.*Conflicting lock.*{holder}")
        with busy, locked_connection(live, deadline_s=0.3):
            pass
        threading.Timer(0.5, release.set).start()
        with locked_connection(live, deadline_s=120) as conn:
            conn.execute("insert into t values (99)")
    with duckdb.connect(live, read_only=True) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (4,)
    waits = recent_waits(live, window_s=600)
    # What was waited on names the holder DuckDB named: the holder, not the waiter.
    named = f"duckdb file lock (a process outside robo-dagster), held by PID {holder} ("
    assert [on.startswith(named) for *_, on in waits] == [True, True]
    assert waits[0][3].endswith(", given up")
    assert all(pid == os.getpid() for _, _, pid, _ in waits)
    assert waits[0][1] >= 0.3 and waits[1][1] >= 0.2
    health = check_duckdb(live)
    assert health.ok
    assert "lock wait(s)" in health.detail and f"held by PID {holder}" in health.detail


def test_a_corrupt_file_fails_at_once_instead_of_waiting(tmp_path: Path) -> None:
    bad = tmp_path / "robo.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(duckdb.Error) as error, locked_connection(str(bad), deadline_s=600):
        pass
    assert not isinstance(error.value, WarehouseBusy)


def test_health_says_when_no_lock_wait_was_recorded(tmp_path: Path) -> None:
    live = make_database(tmp_path / "robo.duckdb", 1)
    health = check_duckdb(live)
    assert health.ok and "no lock wait" in health.detail


# ------------------------------------------------------------------------------ sensors
@pytest.fixture()
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = make_database(tmp_path / "robo.duckdb", 5)
    monkeypatch.setenv("ROBO_DUCKDB_PATH", path)
    for module in (snapshot_module, inbox_module, alerts_module):
        monkeypatch.setattr(module, "SENSOR_DEADLINE_S", 0.3)
    return path


def snapshot_tick(instance: DagsterInstance, cursor: str | None, database: str):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": DuckDBWarehouse(database=database)},
    )
    return snapshot_module.snapshot_sensor(context)


def a_finished_run(instance: DagsterInstance) -> str:
    """A failed run, which also gives the alerts sensor something to record."""

    @asset(key=["snapshot_test", "broken"])
    def broken() -> None:
        raise RuntimeError("broken on purpose")

    return materialize([broken], instance=instance, raise_on_error=False).run_id


def test_the_snapshot_sensor_publishes_once_then_after_each_finished_run(live: str) -> None:
    with DagsterInstance.ephemeral() as instance:
        first = snapshot_tick(instance, None, live)
        assert first.cursor and Path(snapshot_path(live)).exists()
        again = snapshot_tick(instance, first.cursor, live)
        assert again.skip_reason and "no run finished" in again.skip_reason.skip_message
        assert again.cursor is None  # a skip keeps the cursor where it was
        with locked_connection(live) as conn:
            conn.execute("insert into t values (100)")
        a_finished_run(instance)
        after_run = snapshot_tick(instance, first.cursor, live)
        assert after_run.cursor and after_run.cursor > first.cursor
    with duckdb.connect(snapshot_path(live), read_only=True) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (6,)


def test_sensors_skip_and_say_why_while_the_warehouse_is_held(live: str) -> None:
    with DagsterInstance.ephemeral() as instance:
        push_event({"type": "news", "symbol": "AAPL", "impact": 0.9, "headline": "x"})
        run_id = a_finished_run(instance)
        with held_by_another_process(live):
            snapshot = snapshot_tick(instance, None, live)
            inbox = market_event_inbox_sensor.evaluate_tick(
                build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
            )
            alerts = alerts_module.alerts_sensor.evaluate_tick(
                build_sensor_context(instance=instance)
            )
        for skipped in (inbox, alerts):
            assert skipped.skip_message and "busy" in skipped.skip_message
            assert not skipped.run_requests and skipped.cursor is None
        assert snapshot.skip_reason and "busy" in snapshot.skip_reason.skip_message
        assert not Path(snapshot_path(live)).exists()
        # Once the holder is gone, the same events are read: nothing was lost.
        alerts = alerts_module.alerts_sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert alerts.cursor is not None
    with duckdb.connect(live, read_only=True) as conn:
        recorded = conn.execute("select run_id from monitoring.alerts").fetchall()
    assert (run_id,) in recorded


def _write_when_free(path: str, started: "mp.synchronize.Event") -> None:
    started.set()
    with locked_connection(path, deadline_s=120) as conn:
        conn.execute("insert into t values (7)")


def test_a_process_that_gives_up_on_our_lock_names_the_outside_holder_behind_it(
    tmp_path: Path,
) -> None:
    """A run queued on the lock while an outside process holds the file: whoever gives up
    waiting behind that run is told who really holds things up."""
    live = make_database(tmp_path / "robo.duckdb", 1)
    ctx = mp.get_context("spawn")
    with held_by_another_process(live) as (release, holder):
        started = ctx.Event()
        writer = ctx.Process(target=_write_when_free, args=(live, started))
        writer.start()
        assert started.wait(60)
        try:
            message = ""
            for _ in range(600):  # until the writer holds our lock and says why it waits
                with pytest.raises(WarehouseBusy) as busy, locked_connection(live, deadline_s=0.1):
                    pass
                message = str(busy.value)
                if "held by PID" in message:
                    break
            assert f"another robo-dagster process (pid {writer.pid}, waiting for" in message
            assert f"held by PID {holder} (" in message
        finally:
            release.set()
            writer.join(120)
    assert writer.exitcode == 0


def test_a_folder_with_a_quote_in_its_name_is_no_problem(tmp_path: Path) -> None:
    folder = tmp_path / "desk's data"
    folder.mkdir()
    published, _ = publish_snapshot(make_database(folder / "robo.duckdb", 4))
    with duckdb.connect(published, read_only=True) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (4,)

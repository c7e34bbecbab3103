"""The keyed stores on a DuckLake: the market-event inbox under concurrent writers, the
alert store, and the REST API's audit log (``warehouse.stores``)."""

from __future__ import annotations

import inspect
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from robo_dagster.market_data.inbox import INBOX_TABLE, ensure_inbox
from robo_dagster.monitoring.alerts import TABLE, ensure_alerts, raise_alert, record_alert
from robo_dagster.monitoring.commands import resolve_alerts_by_hand
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.stores import write_transaction
from robo_dagster.warehouse.target import LakeTarget
from tests.automation.events import event_ids
from tests.automation.test_inbox import tick
from tests.cluster.lake_store_workers import push_events
from tests.monitoring import test_alerts

pytestmark = pytest.mark.cluster

WORKERS = 4
EVENTS_EACH = 25
SHARED_KEYS = 5


def test_four_processes_pushing_at_once_store_each_event_once_and_the_sensor_runs_each_once(
    lake_target: str, lake_env: dict[str, str]
) -> None:
    # The lake's catalog is created by its first attach, and two first attaches at once
    # collide in Postgres (a lake.py matter): create it, and the inbox, before the race.
    with locked_connection(lake_target) as conn:
        ensure_inbox(conn)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Manager().Barrier(WORKERS)
    with spawn.Pool(WORKERS) as pool:
        pending = [
            pool.apply_async(push_events, (lake_target, w, EVENTS_EACH, SHARED_KEYS, barrier))
            for w in range(WORKERS)
        ]
        outcomes = [job.get(timeout=600) for job in pending]

    own = [i for o in outcomes for i in o["own"]]
    # Every worker got the same id for each shared key: one event per key.
    shared = {tuple(o["shared"]) for o in outcomes}
    assert len(shared) == 1, outcomes
    (shared_ids,) = shared
    # Each worker's own ids increase in the order it pushed them.
    assert all(o["own"] == sorted(o["own"]) for o in outcomes)
    with locked_connection(lake_target) as conn:
        ensure_inbox(conn)
        stored = conn.execute(f"select id, idempotency_key from {INBOX_TABLE}").fetchall()
    ids = [int(i) for i, _ in stored]
    assert len(ids) == len(set(ids)), "an id was stored twice"
    assert sorted(ids) == sorted([*own, *shared_ids]), "an event was lost or doubled"
    keys = Counter(key for _, key in stored if key is not None)
    assert keys == {f"shared-{i}": 1 for i in range(SHARED_KEYS)}
    # The keyed pushes collided: the guard made the later commits conflict and retry.
    assert sum(o["retries"] for o in outcomes) >= 1, "no commit conflicted"

    with DagsterInstance.ephemeral() as instance:
        first = tick(instance, None)
        launched = event_ids(first.run_requests)
        cursor = first.cursor
        again = tick(instance, cursor)
    assert Counter(launched) == Counter(f"market-event-{i}" for i in ids)
    assert event_ids(again.run_requests) == []


def _store_tests() -> list[Callable[[Any], None]]:
    """The default alert-store tests that take only a connection."""
    return [
        fn
        for name, fn in vars(test_alerts).items()
        if name.startswith("test_") and list(inspect.signature(fn).parameters) == ["conn"]
    ]


@pytest.fixture()
def lake_conn(lake_target: str) -> Iterator[Any]:
    with locked_connection(lake_target) as conn:
        ensure_alerts(conn)
        yield conn


@pytest.mark.parametrize("store_test", _store_tests(), ids=lambda fn: fn.__name__[5:])
def test_the_alert_store_behaves_on_the_lake_as_on_the_file(
    store_test: Callable[[Any], None], lake_conn: Any
) -> None:
    store_test(lake_conn)


def test_alerts_resolved_by_hand_on_the_lake(lake_target: str) -> None:
    with locked_connection(lake_target) as conn:
        ensure_alerts(conn)
        first = raise_alert(conn, test_alerts.alert(fingerprint="run:a"), test_alerts.at(0))
        second = raise_alert(conn, test_alerts.alert(fingerprint="run:b"), test_alerts.at(1))
        assert raise_alert(conn, test_alerts.alert(fingerprint="run:a"), test_alerts.at(2)) == first
    assert second > first
    resolved = resolve_alerts_by_hand(lake_target, [first, second], by="ops", reason="fixed")
    assert [(r.id, r.already, r.resolved_by) for r in resolved] == [
        (first, False, "ops"),
        (second, False, "ops"),
    ]
    again = resolve_alerts_by_hand(lake_target, [first])
    assert [(r.id, r.already) for r in again] == [(first, True)]
    with locked_connection(lake_target) as conn:
        open_count = conn.execute(f"select count(*) from {TABLE} where resolved_at is null")
        assert open_count.fetchone()[0] == 0


def test_an_audited_api_request_on_the_lake_lands_in_the_audit_log(
    lake_target: str, lake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robo_dagster.api.audit import list_audit, spool_path
    from tests.api.conftest import PUSHER, TOKENS, bearer, make_client
    from tests.api.test_endpoints import API, EVENT

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROBO_AS_OF", "2026-11-25")
    monkeypatch.setenv("ROBO_API_TOKENS", TOKENS)
    env = {"home": str(home), "db": lake_target}
    with make_client(env) as client:
        post = lambda: client.post(  # noqa: E731
            f"{API}/events", headers=bearer(PUSHER) | {"Idempotency-Key": "k-1"}, json=EVENT
        )
        first, again = post(), post()
        assert (first.status_code, again.status_code) == (201, 200), first.text
        assert first.json()["event_id"] == again.json()["event_id"]
        client.app.state.audit.stop()  # flushes the spool into the lake
    spool = spool_path(lake_target)
    # The spool lives in the lake's data folder, never in a file named after the target.
    assert spool.parent.parent == Path(LakeTarget.parse(lake_target).data_path)
    assert not spool.exists(), "the flush left rows in the spool"
    audited = [
        (r["token_name"], r["status"], r["endpoint"])
        for r in reversed(list_audit(lake_target, limit=100))
        if r["endpoint"] == f"{API}/events"
    ]
    assert audited == [("feed", 201, f"{API}/events"), ("feed", 200, f"{API}/events")]
    with locked_connection(lake_target) as conn:
        (count,) = conn.execute("select count(*) from monitoring.audit_log").fetchone()
    assert count == len(audited)


def test_two_writers_opening_the_same_alert_at_once_leave_one_open_alert(
    lake_target: str,
) -> None:
    """Both find no open alert and insert one; held apart until both have, they commit
    together: the guard makes one commit conflict, and its retry refreshes the other's."""
    with locked_connection(lake_target) as conn:
        ensure_alerts(conn)
    both_inserted = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def writer(minute: int) -> None:
        tries = 0

        def once(conn: Any) -> Any:
            nonlocal tries
            tries += 1
            result = record_alert(conn, test_alerts.alert(), test_alerts.at(minute))
            if tries == 1:
                both_inserted.wait(timeout=60)
            return result

        try:
            results.append((write_transaction(lake_target, once, "test"), tries))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(m,)) for m in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(tries for _, tries in results) == [1, 2]
    with locked_connection(lake_target) as conn:
        open_rows = conn.execute(
            f"select id from {TABLE} where fingerprint = ? and resolved_at is null",
            [test_alerts.alert().fingerprint],
        ).fetchall()
    assert len(open_rows) == 1
    assert {result.id for result, _ in results} == {open_rows[0][0]}

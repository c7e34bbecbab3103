"""The external-event inbox sensor: bursts, restarts, malformed events and priorities."""

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, build_sensor_context

from robo_dagster.automation.inbox_sensor import market_event_inbox_sensor
from robo_dagster.automation.jobs import EVENT_ANALYSIS
from robo_dagster.definitions import defs
from robo_dagster.market_data.inbox import QUARANTINE_TABLE, events_well_formed, push_event
from tests.automation.events import event_ids, event_priorities, event_symbols


@pytest.fixture()
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "robo.duckdb")
    monkeypatch.setenv("ROBO_DUCKDB_PATH", path)
    return path


def event(i: int, **overrides: object) -> dict[str, object]:
    return {
        "type": "news",
        "symbol": ["AAPL", "MSFT", "NVDA", "TSLA", "GOOGL"][i % 5],
        "impact": 0.75,
        "sentiment": 0.3,
        "headline": f"event {i}",
        **overrides,
    }


def read_ids(cursor: str | None) -> set[int]:
    return {int(i) for i in json.loads(cursor or "{}").get("seen", {})}


def tick(instance: DagsterInstance, cursor: str | None):
    context = build_sensor_context(
        instance=instance, cursor=cursor, repository_def=defs.get_repository_def()
    )
    return market_event_inbox_sensor.evaluate_tick(context)


def test_a_burst_of_200_events_runs_each_exactly_once_across_a_restart(inbox: str) -> None:
    ids = [push_event(event(i), database=inbox) for i in range(120)]
    with DagsterInstance.ephemeral() as instance:
        first = tick(instance, None)
        # Coalesced: 120 events of one priority are three runs of at most 50.
        assert [len(r.tags["robo/event_ids"].split(",")) for r in first.run_requests] == [
            50,
            50,
            20,
        ]
        cursor = first.cursor
        assert read_ids(cursor) == set(ids)
        # A tick whose cursor was never saved (the daemon died) is replayed: the same run
        # keys come back, and the daemon launches nothing for a key it has seen.
        replay = tick(instance, None)
        assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]
    ids += [push_event(event(i), database=inbox) for i in range(120, 200)]
    with DagsterInstance.ephemeral() as restarted:  # a new daemon with the saved cursor
        second = tick(restarted, cursor)
        third = tick(restarted, second.cursor)
    keys = event_ids(first.run_requests) + event_ids(second.run_requests)
    assert len(keys) == len(set(keys)) == 200
    assert keys == [f"market-event-{i}" for i in ids]
    runs = [r.run_key for r in first.run_requests + second.run_requests]
    assert len(runs) == len(set(runs)) == 5
    assert not third.run_requests and "no new event" in str(third.skip_message)


def test_priorities_follow_the_seeds_rules(inbox: str) -> None:
    push_event(event(0, impact=0.9, sentiment=-0.6), database=inbox)  # critical: negative
    push_event(
        event(1, impact=0.85, sentiment=0.2, volatility=0.8), database=inbox
    )  # critical: volatile
    push_event(event(2, impact=0.75, sentiment=0.4), database=inbox)  # analysis
    push_event(event(3, impact=0.3), database=inbox)  # below the threshold: no run
    push_event(event(4, symbol="SPY", impact=0.95, sentiment=-0.9), database=inbox)  # benchmark
    with DagsterInstance.ephemeral() as instance:
        result = tick(instance, None)
    # One run of the two critical events at 10, first; one of the other at 9.
    assert [r.tags["dagster/priority"] for r in result.run_requests] == ["10", "9"]
    assert list(event_priorities(result.run_requests).values()) == ["10", "10", "9"]
    assert result.run_requests[0].tags["robo/trigger"].startswith("CRITICAL")
    assert result.run_requests[0].tags["robo/trigger"].endswith("(+1 more)")
    assert list(event_symbols(result.run_requests).values()) == ["AAPL", "MSFT", "NVDA"]
    assert result.run_requests[0].tags["robo/event_symbols"] == "AAPL,MSFT"


def test_a_malformed_event_is_quarantined_and_fails_the_check(inbox: str) -> None:
    push_event("{not json", source="partner-feed", database=inbox)
    push_event(event(0, impact=1.5), database=inbox)
    push_event(event(1, symbol="not a ticker"), database=inbox)
    good = push_event(event(2), database=inbox)
    with DagsterInstance.ephemeral() as instance:
        result = tick(instance, None)
        again = tick(instance, None)  # a replayed tick quarantines nothing twice
    assert event_ids(result.run_requests) == [f"market-event-{good}"]
    assert max(read_ids(result.cursor)) == good
    [check] = result.asset_events
    assert not check.passed and "3 malformed event(s)" in check.description
    assert len(again.run_requests) == 1
    with duckdb.connect(inbox) as conn:
        rows = conn.execute(
            f"select event_id, source, reason from {QUARANTINE_TABLE} order by event_id"
        ).fetchall()
    assert len(rows) == 3 and rows[0][1] == "partner-feed"
    assert (
        "Invalid JSON" in rows[0][2] and "impact" in rows[1][2] and "malformed ticker" in rows[2][2]
    )
    assert not events_well_formed().passed  # the executable check agrees until someone clears it
    with duckdb.connect(inbox) as conn:
        conn.execute(f"delete from {QUARANTINE_TABLE}")
    assert events_well_formed().passed


def test_the_sensor_starts_running_and_targets_the_recommendations() -> None:
    assert market_event_inbox_sensor.default_status.value == "RUNNING"
    # Below the daemon's 5 s sensor loop, so every pass evaluates it.
    assert (market_event_inbox_sensor.minimum_interval_seconds or 0) < 5
    assert market_event_inbox_sensor.job_name == "recommendations_job"
    # An event re-runs the analysis only, within the job's selection.
    job = defs.resolve_job_def("recommendations_job")
    assert set(EVENT_ANALYSIS) < set(job.asset_layer.executable_asset_keys)


def test_numbers_must_be_finite_json_numbers_and_symbols_known(inbox: str) -> None:
    push_event(event(0, volatility="Infinity"), database=inbox)
    push_event(
        '{"type": "news", "symbol": "AAPL", "impact": 0.9, "volatility": Infinity}',
        database=inbox,
    )
    push_event(event(1, impact=True), database=inbox)
    push_event(event(2, symbol="ZZZZ", impact=0.95), database=inbox)
    with DagsterInstance.ephemeral() as instance:
        result = tick(instance, None)
    assert result.run_requests == []  # none of them launches a CRITICAL run
    with duckdb.connect(inbox) as conn:
        reasons = [
            r
            for (r,) in conn.execute(
                f"select reason from {QUARANTINE_TABLE} order by event_id"
            ).fetchall()
        ]
    assert len(reasons) == 4
    assert "volatility" in reasons[0] and "finite number" in reasons[1]
    assert "impact" in reasons[2] and "valid number" in reasons[2]
    assert reasons[3] == "unknown symbol ZZZZ: not in the universe"


def test_an_id_inserted_ahead_of_the_sequence_loses_no_later_event(inbox: str) -> None:
    """Another client inserts with an explicit id far ahead; the events pushed after it
    (with lower ids from the sequence) are still read, each once."""
    first = push_event(event(0), database=inbox)
    with duckdb.connect(inbox) as conn:
        conn.execute(
            "insert into market_data.market_events (id, source, payload) values (1000, 'x', ?)",
            [json.dumps(event(1))],
        )
    with DagsterInstance.ephemeral() as instance:
        one = tick(instance, None)
        later = [push_event(event(i), database=inbox) for i in range(2, 5)]
        two = tick(instance, one.cursor)
        three = tick(instance, two.cursor)
    assert event_ids(one.run_requests) == [f"market-event-{first}", "market-event-1000"]
    assert event_ids(two.run_requests) == [f"market-event-{i}" for i in later]
    assert not three.run_requests


def test_a_cursor_of_the_old_kind_is_understood(inbox: str) -> None:
    ids = [push_event(event(i), database=inbox) for i in range(3)]
    with DagsterInstance.ephemeral() as instance:
        result = tick(instance, str(ids[1]))  # "every id up to ids[1] was read"
    assert event_ids(result.run_requests) == [f"market-event-{ids[2]}"]

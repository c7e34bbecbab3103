"""The price-move sensor on the simulated quote stream, at explicit times."""

import json
from collections import Counter

import pandas as pd
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from robo_dagster import settings
from robo_dagster.automation.price_move_sensor import (
    market_closed_reason,
    move_bands,
    price_move_event,
    price_move_result,
    price_move_sensor,
    price_move_tick,
)
from robo_dagster.domain.market_events import route_event
from robo_dagster.providers import SimulatedMarketData
from tests.automation.events import event_ids, event_priorities, event_symbols
from tests.conftest import WATCHLIST

MARKET = SimulatedMarketData(as_of="2026-11-25", watchlist=WATCHLIST, seed=7)
LOW = 0.5  # a low threshold, so that a session surely has events in both priorities
# 2026-11-24, every 15 minutes from the open (09:30 New York, 14:30 UTC) to the close.
TICKS = pd.date_range("2026-11-24T14:30", "2026-11-24T21:00", freq="15min")


def _run_session(ticks: pd.DatetimeIndex, threshold: float = LOW) -> tuple[list, str]:
    requests: list = []
    cursor: str | None = None
    for now in ticks:
        new, cursor, read = price_move_tick(MARKET, cursor, now, threshold)
        assert read == 9  # every tradable symbol, never the benchmark
        requests += new
    assert cursor is not None
    return requests, cursor


@pytest.fixture(scope="module")
def session_requests() -> tuple[list, str]:
    return _run_session(TICKS)


def test_each_band_triggers_exactly_once_per_session(session_requests: tuple[list, str]) -> None:
    requests, cursor = session_requests
    keys = event_ids(requests)
    assert len(keys) > 10 and len(keys) == len(set(keys))
    assert all(k.startswith("price-move-2026-11-24-") for k in keys)
    # A widening move triggers again, band by band: each symbol's keys of one direction
    # end in 1, 2, ... in the order reached (skipping a band only if it jumped past it).
    state = json.loads(cursor)
    assert state["session"] == "2026-11-24"
    for symbol, (up, down) in state["bands"].items():
        ups = [k for k in keys if k.startswith(f"price-move-2026-11-24-{symbol}-up")]
        downs = [k for k in keys if k.startswith(f"price-move-2026-11-24-{symbol}-down")]
        assert (up > 0) == bool(ups) and (down < 0) == bool(downs)
        if ups:
            assert ups[-1].endswith(f"-up{up}")
        if downs:
            assert downs[-1].endswith(f"-down{-down}")
    assert any(k.endswith("-up1") for k in keys) and any(k.endswith("-down2") for k in keys)


def test_a_finer_tick_grid_finds_no_band_twice() -> None:
    fine = pd.date_range("2026-11-24T14:31", "2026-11-24T21:00", freq="7min")
    requests, _ = _run_session(fine)
    counts = Counter(event_ids(requests))
    assert counts and max(counts.values()) == 1


def test_ticking_the_same_time_twice_adds_nothing(session_requests: tuple[list, str]) -> None:
    _, cursor = session_requests
    again, same_cursor, read = price_move_tick(MARKET, cursor, TICKS[-1], LOW)
    assert not again and read == 9 and json.loads(same_cursor) == json.loads(cursor)


def test_a_new_session_starts_from_nothing(session_requests: tuple[list, str]) -> None:
    _, cursor = session_requests
    next_day = pd.Timestamp("2026-11-25T21:00")
    carried, new_cursor, _ = price_move_tick(MARKET, cursor, next_day, LOW)
    fresh, _, _ = price_move_tick(MARKET, None, next_day, LOW)
    assert event_ids(carried) == event_ids(fresh)
    assert [r.run_key for r in carried] == [r.run_key for r in fresh]
    assert carried and all(k.startswith("price-move-2026-11-25-") for k in event_ids(carried))
    assert json.loads(new_cursor)["session"] == "2026-11-25"


def test_the_cursor_also_reads_one_signed_band_per_symbol() -> None:
    now = TICKS[-1]
    fresh, _, _ = price_move_tick(MARKET, None, now, LOW)
    down = next(k for k in event_ids(fresh) if "-down" in k)
    symbol = event_symbols(fresh)[down]
    band = int(down.rsplit("-down", 1)[1])
    cursor = json.dumps({"session": "2026-11-24", "bands": {symbol: -band}})
    requests, _, _ = price_move_tick(MARKET, cursor, now, LOW)
    assert down not in event_ids(requests)
    assert len(event_ids(requests)) == len(event_ids(fresh)) - 1


def test_priority_is_critical_only_for_falls_beyond_twice_the_threshold(
    session_requests: tuple[list, str],
) -> None:
    requests, _ = session_requests
    symbols = event_symbols(requests)
    for event_id, priority in event_priorities(requests).items():
        # A band of down2 or further is a fall of at least twice the threshold (exactly
        # twice, the one value that is not beyond it, has probability 0).
        label = event_id.rsplit("-", 1)[1]
        critical = label.startswith("down") and int(label.removeprefix("down")) >= 2
        assert priority == ("10" if critical else "9"), event_id
        assert f"-{symbols[event_id]}-" in event_id
    for request in requests:
        assert request.tags["robo/queue"] == "ai_analysis"
        assert request.tags["robo/trigger"].startswith("price move ")
    assert {"9", "10"} <= set(event_priorities(requests).values())


@pytest.mark.parametrize(
    ("move", "priority", "impact"),
    [
        (3.0, 9, 0.7),  # one threshold: high impact
        (-3.0, 9, 0.7),
        (-6.0, 9, 0.8),  # exactly two thresholds is not yet critical
        (-6.3, 10, 0.81),  # beyond two thresholds on a fall: CRITICAL
        (6.3, 9, 0.81),  # the same rise is not
        (-15.0, 10, 1.0),  # impact is capped at 1
    ],
)
def test_route_event_sets_the_priority(move: float, priority: int, impact: float) -> None:
    event = price_move_event("AAPL", move, 3.0)
    assert event.type == "price_move" and event.volatility is None
    assert event.impact == pytest.approx(impact)
    assert event.sentiment == (0.5 if move > 0 else -0.5)
    assert route_event(event, {"AAPL"}).priority == priority


def test_bands_are_signed_floors_of_the_move() -> None:
    bands = move_bands(pd.Series([0.0, 2.99, 3.0, 5.99, 6.0, -3.0, -6.5, -2.9]), 3.0)
    assert bands.tolist() == [0, 0, 1, 1, 2, -1, -2, 0]


@pytest.mark.parametrize(
    ("now", "why"),
    [
        ("2026-11-26T16:00", "Thanksgiving"),  # a Thursday holiday
        ("2026-11-28T16:00", "weekend"),
        ("2026-11-24T21:01", "market closed at 16:00 New York time"),
        ("2026-11-27T18:01", "market closed at 13:00 New York time"),  # early close
        ("2026-11-24T14:29", "market opens at 09:30"),
    ],
)
def test_outside_market_hours_the_sensor_skips_and_says_why(now: str, why: str) -> None:
    moment = pd.Timestamp(now)
    assert why in (market_closed_reason(moment) or "")
    cursor = json.dumps({"session": "2026-11-24", "bands": {"AAPL": [1, 0]}})
    requests, kept, read = price_move_tick(MARKET, cursor, moment, LOW)
    assert not requests and read == 0 and kept == cursor
    result = price_move_result(MARKET, cursor, moment, LOW)
    assert result.skip_reason is not None and why in result.skip_reason.skip_message
    assert not result.run_requests


def test_the_close_minute_still_trades() -> None:
    assert market_closed_reason(pd.Timestamp("2026-11-24T21:00:30")) is None
    assert market_closed_reason(pd.Timestamp("2026-11-27T18:00")) is None


def test_a_quiet_tick_skips_with_the_count_of_quotes() -> None:
    result = price_move_result(MARKET, None, pd.Timestamp("2026-11-24T14:30"), 50.0)
    assert result.skip_reason is not None
    assert "9 quote(s), no new move of 50% or more" in result.skip_reason.skip_message


def test_the_default_threshold_gives_fewer_events(session_requests: tuple[list, str]) -> None:
    default, _ = _run_session(TICKS, settings.DEFAULT_PRICE_MOVE_THRESHOLD_PCT)
    low, _ = session_requests
    assert 0 < len(default) < len(low)


def test_the_threshold_setting_refuses_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBO_PRICE_MOVE_THRESHOLD_PCT", raising=False)
    assert settings.price_move_threshold_pct() == 3.0
    monkeypatch.setenv("ROBO_PRICE_MOVE_THRESHOLD_PCT", " 2.5 ")
    assert settings.price_move_threshold_pct() == 2.5
    for bad, message in [
        ("abc", "not a number"),
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
    ]:
        monkeypatch.setenv("ROBO_PRICE_MOVE_THRESHOLD_PCT", bad)
        with pytest.raises(ValueError, match=message):
            settings.price_move_threshold_pct()
    monkeypatch.setenv("ROBO_PRICE_MOVE_THRESHOLD_PCT", "nan")
    with pytest.raises(ValueError, match="ROBO_PRICE_MOVE_THRESHOLD_PCT"):
        settings.price_move_threshold_pct()
    with pytest.raises(ValueError, match="above 0"):
        price_move_tick(MARKET, None, TICKS[0], 0.0)


def test_the_sensor_runs_with_its_resource() -> None:
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, cursor=None, resources={"market": MARKET})
        result = price_move_sensor(context)
    assert isinstance(result, SensorResult)  # a skip or runs, depending on the wall clock
    assert result.run_requests or result.skip_reason is not None

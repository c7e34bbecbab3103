"""The earnings sensor on the simulated earnings wire, at explicit times."""

import json

import pandas as pd
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from robo_dagster.automation.earnings_sensor import earnings_event, earnings_sensor, earnings_tick
from robo_dagster.domain.market_events import route_event
from robo_dagster.providers import SimulatedMarketData
from tests.automation.events import event_ids, event_priorities, event_symbols
from tests.conftest import WATCHLIST

MARKET = SimulatedMarketData(as_of="2026-11-25", watchlist=WATCHLIST, seed=7)
# The Q4 2025 season: every tradable name reports between 2026-01-20 and 2026-02-06,
# with two reports at the same instant (JPM and XOM after the close on 01-20) and a
# miss of more than 5 % (MSFT).
START = json.dumps({"published_at": "2026-01-15T00:00:00", "report_id": ""})
END = pd.Timestamp("2026-02-10T00:00:00")


@pytest.fixture(scope="module")
def wire() -> pd.DataFrame:
    tradable = [s for s in MARKET.universe()["symbol"] if s != "SPY"]
    return MARKET.earnings_published_between(tradable, pd.Timestamp("2026-01-15"), END)


def test_the_wire_publishes_at_the_timing_slot(wire: pd.DataFrame) -> None:
    assert len(wire) == 9 and set(wire["status"]) == {"reported"}
    assert wire["eps_actual"].notna().all()
    local = wire["published_at"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    slots = local.dt.strftime("%H:%M").where(
        wire["timing"] == "BMO", "AMC " + local.dt.strftime("%H:%M")
    )
    assert set(slots) <= {"07:00", "AMC 16:05"}
    assert (local.dt.date == wire["report_date"].dt.date).all()
    assert (wire["report_id"] == wire["symbol"] + "-" + wire["fiscal_quarter"]).all()
    assert wire["published_at"].duplicated().any()  # a tie to break by report id


def test_the_window_is_half_open() -> None:
    at = pd.Timestamp("2026-01-20T21:05:00")  # JPM and XOM, after the close
    both = MARKET.earnings_published_between(["JPM", "XOM"], at - pd.Timedelta(seconds=1), at)
    assert list(both["report_id"]) == ["JPM-2025Q4", "XOM-2025Q4"]
    assert MARKET.earnings_published_between(["JPM", "XOM"], at, at + pd.Timedelta(hours=1)).empty


def test_ticks_split_anywhere_give_each_report_exactly_once(wire: pd.DataFrame) -> None:
    whole, _, read = earnings_tick(MARKET, START, END)
    assert read == len(wire)
    assert sorted(event_ids(whole)) == sorted(f"earnings-{i}" for i in wire["report_id"])
    assert len(whole) == 2  # coalesced: one run of the critical reports, one of the rest
    for step in ("7h", "3D"):  # ticks at odd times, and sparse ones
        keys: list[str] = []
        cursor = START
        for now in [*pd.date_range("2026-01-15T03:00", END, freq=step), END]:
            requests, cursor, _ = earnings_tick(MARKET, cursor, now)
            keys += event_ids(requests)
        assert sorted(keys) == sorted(event_ids(whole)), step
        assert len(keys) == len(set(keys)), step
    again, same_cursor, read_again = earnings_tick(MARKET, cursor, END)  # nothing new
    assert not again and read_again == 0 and same_cursor == cursor


def test_a_tick_between_two_reports_at_one_instant_keeps_the_other() -> None:
    # A cursor left on the first of the two 21:05 reports: only the second is new.
    cursor = json.dumps({"published_at": "2026-01-20T21:05:00", "report_id": "JPM-2025Q4"})
    requests, _, read = earnings_tick(MARKET, cursor, pd.Timestamp("2026-01-20T22:00"))
    assert read == 1 and event_ids(requests) == ["earnings-XOM-2025Q4"]


def test_a_first_start_looks_back_one_day() -> None:
    requests, cursor, _ = earnings_tick(MARKET, None, pd.Timestamp("2026-01-21T13:00"))
    assert event_ids(requests) == [
        "earnings-JPM-2025Q4",
        "earnings-XOM-2025Q4",
        "earnings-AMZN-2025Q4",
    ]  # GOOGL published 25 hours earlier is left out; all three in one run, in order
    assert json.loads(cursor)["report_id"] == "AMZN-2025Q4"


def test_priorities_follow_route_event(wire: pd.DataFrame) -> None:
    requests, _, _ = earnings_tick(MARKET, START, END)
    surprise = wire.set_index("report_id")["surprise_pct"]
    tradable = set(wire["symbol"])
    priorities, symbols = event_priorities(requests), event_symbols(requests)
    for event_id, priority in priorities.items():
        report = event_id.removeprefix("earnings-")
        event = earnings_event(symbols[event_id], float(surprise[report]))
        assert priority == str(route_event(event, tradable).priority)
        critical = surprise[report] < -5.0  # impact above 0.8 with a negative surprise
        assert priority == ("10" if critical else "9")
    for request in requests:
        assert request.tags["robo/queue"] == "ai_analysis"
        assert "earnings 2025Q4 surprise" in request.tags["robo/trigger"]
    assert [r.tags["dagster/priority"] for r in requests] == ["10", "9"]  # critical first
    assert priorities["earnings-MSFT-2025Q4"] == "10"  # -8.07 %
    assert priorities["earnings-JPM-2025Q4"] == "9"  # a +10 % beat is high impact, not critical


@pytest.mark.parametrize(
    ("surprise", "impact", "sentiment", "priority"),
    [
        (0.0, 0.7, 0.0, 9),
        (-5.0, 0.8, -0.25, 9),  # exactly 0.8 is not above it
        (-6.0, 0.82, -0.3, 10),
        (12.0, 0.94, 0.6, 9),
        (-40.0, 1.0, -1.0, 10),
        (float("nan"), 0.7, 0.0, 9),
    ],
)
def test_the_event_of_a_surprise(
    surprise: float, impact: float, sentiment: float, priority: int
) -> None:
    event = earnings_event("AAPL", surprise)
    assert event.impact == pytest.approx(impact) and event.sentiment == pytest.approx(sentiment)
    assert route_event(event, {"AAPL"}).priority == priority


def test_the_sensor_runs_with_its_resource_and_keeps_a_cursor() -> None:
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(
            instance=instance, cursor=START, resources={"market": MARKET}
        )
        result = earnings_sensor(context)
    assert isinstance(result, SensorResult)
    # From mid-January to the wall clock, the sensor reads at least the whole season.
    keys = set(event_ids(result.run_requests))
    assert {"earnings-MSFT-2025Q4", "earnings-NVDA-2025Q4"} <= keys
    state = json.loads(result.cursor or "{}")
    assert "published_at" in state and "report_id" in state

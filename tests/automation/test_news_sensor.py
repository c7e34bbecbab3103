"""The news sensor on the simulated feed, at explicit times."""

import json

import pandas as pd
from dagster import DagsterInstance, SensorResult, build_sensor_context

from robo_dagster.automation.news_sensor import news_sensor, news_tick
from robo_dagster.domain.sentiment import score_texts
from robo_dagster.providers import SimulatedMarketData
from tests.automation.events import event_ids, event_priorities
from tests.conftest import WATCHLIST

MARKET = SimulatedMarketData(as_of="2026-11-25", watchlist=WATCHLIST, seed=7)
START = json.dumps({"published_at": "2026-11-17T00:00:00", "news_id": ""})


def test_ticks_split_anywhere_give_each_headline_exactly_once() -> None:
    end = pd.Timestamp("2026-11-25T23:00:00")
    whole, _, read = news_tick(MARKET, START, end)
    assert read > 20 and whole
    keys: list[str] = []
    cursor = START
    for now in pd.date_range("2026-11-17T12:00", end, freq="7h"):  # ticks at odd times
        requests, cursor, _ = news_tick(MARKET, cursor, now)
        keys += event_ids(requests)
    requests, cursor, _ = news_tick(MARKET, cursor, end)
    keys += event_ids(requests)
    assert sorted(keys) == sorted(event_ids(whole))
    assert len(keys) == len(set(keys))
    assert len(whole) <= 2 * -(-len(keys) // 50)  # coalesced: per priority, 50 a run
    again, same_cursor, read_again = news_tick(MARKET, cursor, end)  # nothing new
    assert not again and read_again == 0 and same_cursor == cursor


def test_priorities_follow_impact_and_sentiment() -> None:
    end = pd.Timestamp("2026-11-25T23:00:00")
    since = json.dumps({"published_at": "2025-06-01T00:00:00", "news_id": ""})
    requests, _, _ = news_tick(MARKET, since, end)
    feed = MARKET.headlines_between(
        MARKET.universe()["symbol"].tolist(), pd.Timestamp("2025-06-01"), end
    )
    feed = pd.concat([feed, score_texts(feed["headline"])], axis=1).set_index("news_id")
    priorities = event_priorities(requests)
    for event_id, priority in priorities.items():
        row = feed.loc[event_id.removeprefix("news-")]
        assert row["impact"] >= 0.7
        critical = row["impact"] > 0.8 and row["sentiment"] < -0.05
        assert priority == ("10" if critical else "9")
    assert {"9", "10"} <= set(priorities.values())
    low = feed[(feed["impact"] < 0.7) & (feed["symbol"] != "SPY")]
    assert not {f"news-{i}" for i in low.index} & set(priorities)


def test_the_sensor_runs_with_its_resource_and_keeps_a_cursor() -> None:
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, cursor=None, resources={"market": MARKET})
        result = news_sensor(context)
    assert isinstance(result, SensorResult)
    state = json.loads(result.cursor or "{}")
    assert "published_at" in state and "news_id" in state

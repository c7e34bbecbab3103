"""Coalescing a tick's events into runs: per priority class, capped, keyed by the ids."""

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robo_dagster.automation.event_runs import EventTrigger, coalesced_runs
from robo_dagster.domain.market_events import answered_events, event_answers
from tests.automation.events import event_ids, event_priorities, event_symbols


def trigger(i: int, priority: int = 9, symbol: str = "AAPL") -> EventTrigger:
    return EventTrigger(f"market-event-{i}", symbol, priority, f"reason {i}")


def test_one_run_per_priority_class_the_critical_first() -> None:
    triggers = [trigger(1), trigger(2, 10, "MSFT"), trigger(3), trigger(4, 10, "NVDA")]
    requests = coalesced_runs(triggers, source="market-events")
    assert [r.tags["dagster/priority"] for r in requests] == ["10", "9"]
    assert event_ids(requests) == [
        "market-event-2",
        "market-event-4",
        "market-event-1",
        "market-event-3",
    ]
    assert requests[0].tags["robo/event_symbols"] == "MSFT,NVDA"
    assert requests[0].tags["robo/trigger"] == "reason 2 (+1 more)"
    assert requests[0].tags["robo/queue"] == "ai_analysis"
    assert event_symbols(requests)["market-event-4"] == "NVDA"


def test_a_burst_is_cut_into_runs_of_at_most_the_cap() -> None:
    triggers = [trigger(i) for i in range(7)]
    requests = coalesced_runs(triggers, source="news", max_per_run=3)
    assert [len(r.tags["robo/event_ids"].split(",")) for r in requests] == [3, 3, 1]
    assert event_ids(requests) == [t.event_id for t in triggers]
    with pytest.raises(ValueError, match="at least 1"):
        coalesced_runs(triggers, source="news", max_per_run=0)


def test_the_run_key_comes_from_the_ids_alone() -> None:
    one = coalesced_runs([trigger(1), trigger(2)], source="news")
    replay = coalesced_runs([trigger(1), trigger(2)], source="news")
    other = coalesced_runs([trigger(1), trigger(3)], source="news")
    assert [r.run_key for r in one] == [r.run_key for r in replay]
    assert one[0].run_key != other[0].run_key
    assert one[0].run_key.startswith("news-")
    assert coalesced_runs([], source="news") == []


@given(
    st.lists(
        st.tuples(st.sampled_from([9, 10]), st.sampled_from(["AAPL", "MSFT", "JPM"])),
        max_size=120,
    ),
    st.integers(min_value=1, max_value=60),
)
def test_every_event_is_in_exactly_one_run_at_its_priority(
    events: list[tuple[int, str]], cap: int
) -> None:
    triggers = [trigger(i, p, s) for i, (p, s) in enumerate(events)]
    requests = coalesced_runs(triggers, source="market-events", max_per_run=cap)
    assert sorted(event_ids(requests)) == sorted(t.event_id for t in triggers)
    assert event_priorities(requests) == {t.event_id: str(t.priority) for t in triggers}
    assert all(len(r.tags["robo/event_ids"].split(",")) <= cap for r in requests)
    priorities = [int(r.tags["dagster/priority"]) for r in requests]
    assert priorities == sorted(priorities, reverse=True)


def test_event_answers_give_each_event_the_recommendation_on_its_symbol() -> None:
    recs = pd.DataFrame(
        {"symbol": ["AAPL", "JPM"], "action": ["BUY", "SELL"], "target_weight": [0.1, 0.0]}
    )
    answers = event_answers(recs, ["news-1", "news-2", "news-3"], ["AAPL", "MSFT", "AAPL"])
    assert answers["event_id"].tolist() == ["news-1", "news-2", "news-3"]
    assert answers["action"].tolist()[0::2] == ["BUY", "BUY"]
    assert pd.isna(answers["action"].iloc[1])  # nothing recommended on MSFT
    with pytest.raises(ValueError, match="needs its symbol"):
        event_answers(recs, ["news-1"], [])


def test_answered_events_marks_each_symbol_with_its_events() -> None:
    symbols = pd.Series(["AAPL", "MSFT", "JPM"])
    marks = answered_events(symbols, ["news-1", "news-2", "news-3"], ["AAPL", "JPM", "AAPL"])
    assert marks.tolist() == ["news-1,news-3", "", "news-2"]
    assert answered_events(symbols, [], []).tolist() == ["", "", ""]
    with pytest.raises(ValueError, match="needs its symbol"):
        answered_events(symbols, ["news-1"], [])

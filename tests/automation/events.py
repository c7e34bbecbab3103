"""Reading coalesced event runs back: which events each run request carries."""

from collections.abc import Sequence

from dagster import RunRequest

from robo_dagster.automation.event_runs import EVENT_IDS_TAG
from robo_dagster.tasks.submission import RECOMMENDATIONS_STEP


def event_ids(requests: Sequence[RunRequest] | None) -> list[str]:
    """Every event id the requests carry, run by run, each run's in arrival order."""
    return [i for r in requests or [] for i in r.tags[EVENT_IDS_TAG].split(",")]


def event_priorities(requests: Sequence[RunRequest] | None) -> dict[str, str]:
    """Each event's run priority."""
    return {
        i: r.tags["dagster/priority"]
        for r in requests or []
        for i in r.tags[EVENT_IDS_TAG].split(",")
    }


def event_symbols(requests: Sequence[RunRequest] | None) -> dict[str, str]:
    """Each event's symbol, from the run config the recommendations read."""
    pairs: dict[str, str] = {}
    for r in requests or []:
        config = r.run_config["ops"][RECOMMENDATIONS_STEP]["config"]
        assert config["event_ids"] == r.tags[EVENT_IDS_TAG].split(",")
        pairs.update(zip(config["event_ids"], config["event_symbols"], strict=True))
    return pairs

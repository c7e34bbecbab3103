"""Event runs, coalesced: the actionable events of one sensor tick become one run per
priority class, not one run per event.

Every event run re-runs the same analysis on the stored tables (``jobs.EVENT_ANALYSIS``),
vectorized over the whole universe, so forty events cost forty runs of the same work
where one would do. A tick's events are grouped by priority: the critical ones (10) in
one run, the rest (9) in another, and the queue starts the critical run first. A group
of more than ``MAX_EVENTS_PER_RUN`` events is split, in arrival order, so that a burst
never makes one giant run that every later event waits behind.

Each run carries its events:

- as tags: ``robo/event_ids`` (comma-separated, ``<source>-<id>``) and
  ``robo/event_symbols`` (the symbols they are about), plus ``robo/trigger`` (the first
  event's reason and how many more);
- in its run config: ``trade_recommendations``' ``event_ids`` and ``event_symbols``, so
  the recommendations mark which events each one answers (``answers_events``).

The run key is the source and a hash of the group's event ids, so a replayed tick (the
daemon resumes an interrupted tick with the requests it had reserved) launches nothing
new, and each event is in exactly one run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import AssetKey, RunRequest

from robo_dagster.tasks.queues import AI_ANALYSIS
from robo_dagster.tasks.submission import RECOMMENDATIONS_STEP

MAX_EVENTS_PER_RUN = 50
EVENT_IDS_TAG = "robo/event_ids"
EVENT_SYMBOLS_TAG = "robo/event_symbols"
TRIGGER_TAG = "robo/trigger"


@dataclass(frozen=True)
class EventTrigger:
    """One actionable event: its id (unique with its source), symbol, priority, and why."""

    event_id: str
    symbol: str
    priority: int
    reason: str


def coalesced_runs(
    triggers: Sequence[EventTrigger],
    *,
    source: str,
    asset_selection: Sequence[AssetKey] | None = None,
    max_per_run: int = MAX_EVENTS_PER_RUN,
) -> list[RunRequest]:
    """One run request per priority class (highest first) and per ``max_per_run``
    events, in the order the events came."""
    if max_per_run < 1:
        raise ValueError(f"max_per_run must be at least 1, not {max_per_run}")
    requests: list[RunRequest] = []
    for priority in sorted({t.priority for t in triggers}, reverse=True):
        group = [t for t in triggers if t.priority == priority]
        for start in range(0, len(group), max_per_run):
            chunk = group[start : start + max_per_run]
            requests.append(_run_request(chunk, source, priority, asset_selection))
    return requests


def _run_request(
    chunk: Sequence[EventTrigger],
    source: str,
    priority: int,
    asset_selection: Sequence[AssetKey] | None,
) -> RunRequest:
    ids = [t.event_id for t in chunk]
    symbols = list(dict.fromkeys(t.symbol for t in chunk))
    digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:20]
    more = f" (+{len(chunk) - 1} more)" if len(chunk) > 1 else ""
    return RunRequest(
        asset_selection=list(asset_selection) if asset_selection is not None else None,
        run_key=f"{source}-{digest}",
        run_config={
            "ops": {
                RECOMMENDATIONS_STEP: {
                    "config": {
                        "event_ids": ids,
                        "event_symbols": [t.symbol for t in chunk],
                    }
                }
            }
        },
        tags={
            **AI_ANALYSIS.tags(priority),
            EVENT_IDS_TAG: ",".join(ids),
            EVENT_SYMBOLS_TAG: ",".join(symbols),
            TRIGGER_TAG: f"{chunk[0].reason}{more}",
        },
    )

"""The earnings sensor: every published actual on a tradable name triggers the analysis.

It polls the provider's earnings wire (``earnings_published_between``) for actuals
published since its cursor (the last report's publication time and id, with the same
tie-break as the news sensor: reports published at the cursor's instant are new only
after its id), so ticks split anywhere read each report exactly once. A first start
looks back one day. The simulated wire publishes at 07:00 New York time for reports
before the open and 16:05 after the close.

Each report becomes a ``MarketEvent`` with impact ``min(1, 0.7 + |surprise %| / 50)`` and
sentiment ``clip(surprise % / 20, -1, 1)`` and goes through the inbox's rules
(``domain.market_events.route_event``): every report is at least high impact
(priority 9), and a miss of more than 5 % is CRITICAL (priority 10). The run key is
``earnings-<report_id>`` (``<symbol>-<fiscal_quarter>``), so a replayed tick launches
nothing new.

The run is ``recommendations_job`` narrowed to the earnings table and the event
analysis (features, recommendations, strategy: ``jobs.EVENT_ANALYSIS``), vectorized over
the whole universe, so a run for one symbol would cost as much as a run for all; the
symbol travels as a tag. Note that the provider serves
that asset as of its latest *closed* session: a report published before the open shows
its actual in the asset only once that session has closed (one published after the
close is already in).
"""

from __future__ import annotations

import json
import math

import pandas as pd
from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from robo_dagster.automation.event_runs import EventTrigger, coalesced_runs
from robo_dagster.automation.jobs import EVENT_ANALYSIS, recommendations_job
from robo_dagster.domain.market_events import MarketEvent, Route, route_event
from robo_dagster.providers import DatasetNotProvided, MarketDataProvider

FIRST_LOOKBACK = pd.Timedelta(days=1)  # a first start reads the last day, not a season
EARNINGS = AssetKey(["market_data", "earnings"])


def _cursor(raw: str | None, now: pd.Timestamp) -> tuple[pd.Timestamp, str]:
    if not raw:
        return now - FIRST_LOOKBACK, ""
    state = json.loads(raw)
    return pd.Timestamp(state["published_at"]), str(state["report_id"])


def earnings_event(
    symbol: str,
    surprise_pct: float,
    headline: str = "",
    published_at: pd.Timestamp | None = None,
) -> MarketEvent:
    """The market event of one published actual: the bigger the surprise, the bigger
    the impact, and its sign is the sentiment. An unknown surprise (no estimate) counts
    as none."""
    surprise = surprise_pct if math.isfinite(surprise_pct) else 0.0
    return MarketEvent(
        type="earnings",
        symbol=symbol,
        impact=round(min(1.0, 0.7 + abs(surprise) / 50.0), 4),
        sentiment=round(max(-1.0, min(1.0, surprise / 20.0)), 4),
        headline=headline[:500],
        occurred_at=published_at.to_pydatetime() if published_at is not None else None,
    )


def earnings_tick(
    market: MarketDataProvider, cursor: str | None, now: pd.Timestamp
) -> tuple[list[RunRequest], str, int]:
    """Run requests for the actuals published after ``cursor`` up to ``now`` (naive UTC),
    the new cursor, and how many reports were read."""
    since, last_id = _cursor(cursor, now)
    universe = market.universe()
    tradable = universe.loc[~universe["is_benchmark"], "symbol"].tolist()
    wire = market.earnings_published_between(tradable, since - pd.Timedelta(microseconds=1), now)
    # Reports published at the cursor's instant are new only after its id.
    wire = wire[
        (wire["published_at"] > since)
        | ((wire["published_at"] == since) & (wire["report_id"] > last_id))
    ].sort_values(["published_at", "report_id"], ignore_index=True)
    if wire.empty:
        return (
            [],
            cursor or json.dumps({"published_at": since.isoformat(), "report_id": last_id}),
            0,
        )
    tradable_set = set(tradable)
    triggers: list[EventTrigger] = []
    for row in wire.itertuples(index=False):
        surprise = float(row.surprise_pct)
        event = earnings_event(
            str(row.symbol),
            surprise,
            headline=(
                f"{row.symbol} {row.fiscal_quarter} EPS {row.eps_actual:.2f} vs "
                f"{row.eps_estimate:.2f} expected ({surprise:+.1f}%)"
            ),
            published_at=pd.Timestamp(row.published_at),
        )
        route: Route = route_event(event, tradable_set)
        if route.priority is None:
            continue
        triggers.append(
            EventTrigger(
                f"earnings-{row.report_id}",
                str(row.symbol),
                route.priority,
                f"earnings {row.fiscal_quarter} surprise {surprise:+.1f}%: {route.reason}",
            )
        )
    requests = coalesced_runs(
        triggers, source="earnings", asset_selection=[EARNINGS, *EVENT_ANALYSIS]
    )
    last = wire.iloc[-1]
    new_cursor = json.dumps(
        {
            "published_at": pd.Timestamp(last["published_at"]).isoformat(),
            "report_id": str(last["report_id"]),
        }
    )
    return requests, new_cursor, len(wire)


@sensor(
    job=recommendations_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Each earnings actual published on a tradable name starts the analysis "
        "(priority 9, or 10 for a miss of more than 5 %)."
    ),
)
def earnings_sensor(context: SensorEvaluationContext, market: MarketDataProvider) -> SensorResult:
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    try:
        requests, cursor, read = earnings_tick(market, context.cursor, now)
    except DatasetNotProvided as exc:
        return SensorResult(skip_reason=str(exc), cursor=context.cursor)
    if not read:
        return SensorResult(skip_reason="no new earnings actual", cursor=cursor)
    context.log.info(f"{read} new earnings actual(s), {len(requests)} run(s)")
    return SensorResult(run_requests=requests, cursor=cursor)

"""The news sensor: high-impact headlines on tradable names trigger the analysis.

It polls the provider's live feed for headlines published since its cursor (the last
headline's publication time and id), scores them with VADER and applies the same rules
as the event inbox (``domain.market_events.route_event``): impact >= 0.7 starts
``recommendations_job`` at priority 9; impact > 0.8 with negative sentiment is CRITICAL,
priority 10. A tick's headlines are coalesced (``event_runs``): one run per priority
class, each headline (``news-<id>``) in exactly one. A headline whose vendor scores
no impact (Alpaca's news) triggers nothing: the seed's rules are about impact, and
robo-dagster does not invent one. A source without news skips with its reason. The run re-runs the event analysis
(``jobs.EVENT_ANALYSIS``) on the stored tables; the fetches follow their own triggers.
"""

import json

import pandas as pd
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from robo_dagster.automation.event_runs import EventTrigger, coalesced_runs
from robo_dagster.automation.jobs import EVENT_ANALYSIS, recommendations_job
from robo_dagster.domain.market_events import MarketEvent, route_event
from robo_dagster.domain.sentiment import score_texts
from robo_dagster.providers import DatasetNotProvided, MarketDataProvider

FIRST_LOOKBACK = pd.Timedelta(hours=1)  # a first start reads the last hour, not a flood


def _cursor(raw: str | None, now: pd.Timestamp) -> tuple[pd.Timestamp, str]:
    if not raw:
        return now - FIRST_LOOKBACK, ""
    state = json.loads(raw)
    return pd.Timestamp(state["published_at"]), str(state["news_id"])


def news_tick(
    market: MarketDataProvider, cursor: str | None, now: pd.Timestamp
) -> tuple[list[RunRequest], str, int]:
    """Run requests for the headlines after ``cursor`` up to ``now`` (naive UTC), the new
    cursor, and how many headlines were read."""
    since, last_id = _cursor(cursor, now)
    universe = market.universe()
    tradable = universe.loc[~universe["is_benchmark"], "symbol"].tolist()
    feed = market.headlines_between(tradable, since - pd.Timedelta(microseconds=1), now)
    # Headlines published at the cursor's instant are new only after its id.
    feed = feed[
        (feed["published_at"] > since)
        | ((feed["published_at"] == since) & (feed["news_id"] > last_id))
    ].sort_values(["published_at", "news_id"], ignore_index=True)
    if feed.empty:
        return [], cursor or json.dumps({"published_at": since.isoformat(), "news_id": last_id}), 0
    scored = pd.concat([feed, score_texts(feed["headline"])], axis=1)
    triggers: list[EventTrigger] = []
    for row in scored.itertuples(index=False):
        if pd.isna(row.impact):
            continue  # the vendor scores no impact (Alpaca): nothing to route on
        event = MarketEvent(
            type="news",
            symbol=row.symbol,
            impact=row.impact,
            sentiment=row.sentiment,
            headline=row.headline,
        )
        route = route_event(event, set(tradable))
        if route.priority is not None:
            triggers.append(
                EventTrigger(
                    f"news-{row.news_id}", row.symbol, route.priority, f"news: {route.reason}"
                )
            )
    requests = coalesced_runs(triggers, source="news", asset_selection=EVENT_ANALYSIS)
    last = scored.iloc[-1]
    new_cursor = json.dumps(
        {
            "published_at": pd.Timestamp(last["published_at"]).isoformat(),
            "news_id": str(last["news_id"]),
        }
    )
    return requests, new_cursor, len(scored)


@sensor(
    job=recommendations_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="High-impact headlines on tradable names start the analysis (priority 9, or 10 when critical).",
)
def news_sensor(context: SensorEvaluationContext, market: MarketDataProvider) -> SensorResult:
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    try:
        requests, cursor, read = news_tick(market, context.cursor, now)
    except DatasetNotProvided as exc:
        return SensorResult(skip_reason=str(exc), cursor=context.cursor)
    if not read:
        return SensorResult(skip_reason="no new headline", cursor=cursor)
    context.log.info(f"{read} new headline(s), {len(requests)} run(s)")
    return SensorResult(run_requests=requests, cursor=cursor)

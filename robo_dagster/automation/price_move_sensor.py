"""The price-move sensor: a large intraday move on a tradable name triggers the analysis.

During XNYS trading hours it reads the provider's live quotes (``quotes``) for every
tradable (non-benchmark) symbol and measures each one's move against the previous
session's close. A move of at least the threshold (``ROBO_PRICE_MOVE_THRESHOLD_PCT``,
default 3 %) is an event. Events come in bands, ``band = sign * floor(|move| /
threshold)``: with 3 %, a fall to -3.4 % is ``down1`` and a later -6.1 % is ``down2``, so a
widening move triggers again, but a band already triggered in the session never
triggers twice, even when the price falls back into it. A session's cursor records, per
symbol, the furthest band reached up and down; a new session starts from nothing. A
tick's moves are coalesced (``event_runs``): one run per priority class, each event
(``price-move-<session>-<SYM>-<up|down><n>``) in exactly one, under a run key from the
events' ids, so a replayed tick launches nothing new.

The event goes through the same rules as the inbox (``domain.market_events.route_event``)
with impact ``min(1, 0.6 + 0.1 * |move| / threshold)`` and a sentiment of +/-0.5 with the
move's sign: a move of one threshold has impact 0.7 (priority 9); a fall beyond two
thresholds has impact above 0.8 with negative sentiment, which is CRITICAL (priority 10).

Why ``recommendations_job`` and not a per-symbol run: the job refreshes everything
upstream of the recommendations except the partitioned price bars, and every one of
those assets is vectorized over the whole universe. A run for one symbol would cost as
much as a run for all of them, so the events' symbols travel as a tag
(``robo/event_symbols``) rather than as a partition or a selection. The run recomputes as
of the latest closed session: the intraday move is the trigger, not an input.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from robo_dagster import settings
from robo_dagster.automation.event_runs import EventTrigger, coalesced_runs
from robo_dagster.automation.jobs import recommendations_job
from robo_dagster.domain import calendar
from robo_dagster.domain.market_events import MarketEvent, route_event
from robo_dagster.providers import DatasetNotProvided, MarketDataProvider

MOVE_SENTIMENT = 0.5  # the sentiment of a move: its sign, at half strength


def market_closed_reason(now: pd.Timestamp) -> str | None:
    """Why the exchange does not trade at ``now`` (naive UTC), or None while it does.

    The minute is what counts, as for the quotes: the close minute itself (16:00, or
    13:00 on an early close) still trades, the minute after does not.
    """
    minute = pd.Timestamp(now).floor("min")
    local = minute.tz_localize("UTC").tz_convert(calendar.EXCHANGE_TIMEZONE)
    day = local.date()
    closed = calendar.closed_reason(day)
    if closed is not None:
        return closed
    opens, closes = calendar.session_open(day), calendar.session_close(day)
    if local < opens:
        return f"market opens at {opens:%H:%M} New York time (now {local:%H:%M})"
    if local > closes:
        return f"market closed at {closes:%H:%M} New York time"
    return None


def move_bands(change_pct: pd.Series | np.ndarray, threshold_pct: float) -> np.ndarray:
    """The signed band of each move: ``sign * floor(|move| / threshold)`` (0: no event)."""
    change = np.asarray(change_pct, dtype=float)
    return (np.sign(change) * np.floor(np.abs(change) / threshold_pct)).astype(int)


def band_label(band: int) -> str:
    """``up1``, ``down2``...: how a band appears in run keys and tags."""
    return f"up{band}" if band > 0 else f"down{-band}"


def price_move_event(
    symbol: str, change_pct: float, threshold_pct: float, quoted_at: pd.Timestamp | None = None
) -> MarketEvent:
    """The market event of a move: impact ``min(1, 0.6 + 0.1 * |move| / threshold)``
    (0.7 at one threshold, above the critical 0.8 beyond two) and a sentiment of
    +/-0.5 with its sign, so that ``route_event`` makes a deep fall CRITICAL. Impact is
    rounded to 4 decimals so that exactly two thresholds is not critical by a float's
    last bit."""
    return MarketEvent(
        type="price_move",
        symbol=symbol,
        impact=round(min(1.0, 0.6 + 0.1 * abs(change_pct) / threshold_pct), 4),
        sentiment=MOVE_SENTIMENT if change_pct > 0 else -MOVE_SENTIMENT,
        volatility=None,
        headline=f"{symbol} {change_pct:+.2f}% from the previous close",
        occurred_at=quoted_at.to_pydatetime() if quoted_at is not None else None,
    )


def _session_state(raw: str | None, session: str) -> dict[str, tuple[int, int]]:
    """Per symbol, the furthest (up, down) bands already triggered in ``session``.

    Also reads a plain signed int per symbol (``{"AAPL": 1, "XYZ": -2}``) as the band
    reached in that one direction.
    """
    if not raw:
        return {}
    state = json.loads(raw)
    if state.get("session") != session:
        return {}  # a new session starts from nothing
    bands: dict[str, tuple[int, int]] = {}
    for symbol, value in (state.get("bands") or {}).items():
        if isinstance(value, list):
            bands[str(symbol)] = (int(value[0]), int(value[1]))
        else:
            band = int(value)
            bands[str(symbol)] = (max(band, 0), min(band, 0))
    return bands


def _encode(session: str, bands: dict[str, tuple[int, int]]) -> str:
    return json.dumps(
        {"session": session, "bands": {s: [up, down] for s, (up, down) in sorted(bands.items())}}
    )


def price_move_tick(
    market: MarketDataProvider,
    cursor: str | None,
    now: pd.Timestamp,
    threshold_pct: float = settings.DEFAULT_PRICE_MOVE_THRESHOLD_PCT,
) -> tuple[list[RunRequest], str, int]:
    """Run requests for the bands newly reached at ``now`` (naive UTC), the new cursor,
    and how many quotes were read (0 while the market is closed; the cursor is kept).

    The threshold is a parameter so that tests and backfills need no environment; the
    sensor passes ``settings.price_move_threshold_pct()``.
    """
    if not threshold_pct > 0:
        raise ValueError(f"the price-move threshold must be above 0 %, not {threshold_pct}")
    if market_closed_reason(now) is not None:
        return [], cursor or json.dumps({"session": None, "bands": {}}), 0
    local = pd.Timestamp(now).tz_localize("UTC").tz_convert(calendar.EXCHANGE_TIMEZONE)
    session = local.date().isoformat()
    state = _session_state(cursor, session)
    universe = market.universe()
    tradable = universe.loc[~universe["is_benchmark"], "symbol"].tolist()
    quotes = market.quotes(tradable, now)
    quotes = quotes.assign(band=move_bands(quotes["change_pct"], threshold_pct))
    moved = quotes[quotes["band"] != 0].sort_values("symbol")
    tradable_set = set(tradable)
    triggers: list[EventTrigger] = []
    for row in moved.itertuples(index=False):
        symbol, band, change = str(row.symbol), int(row.band), float(row.change_pct)
        up, down = state.get(symbol, (0, 0))
        if (band > 0 and band <= up) or (band < 0 and band >= down):
            continue  # this band (or a further one) already triggered this session
        state[symbol] = (max(up, band), min(down, band))
        event = price_move_event(symbol, change, threshold_pct, pd.Timestamp(row.quoted_at))
        route = route_event(event, tradable_set)
        if route.priority is None:
            continue
        label = band_label(band)
        triggers.append(
            EventTrigger(
                f"price-move-{session}-{symbol}-{label}",
                symbol,
                route.priority,
                f"price move {change:+.2f}% ({label} at a {threshold_pct:g}% threshold): "
                f"{route.reason}",
            )
        )
    requests = coalesced_runs(triggers, source=f"price-moves-{session}")
    return requests, _encode(session, state), len(quotes)


def price_move_result(
    market: MarketDataProvider, cursor: str | None, now: pd.Timestamp, threshold_pct: float
) -> SensorResult:
    """The sensor's answer at ``now``: a skip naming why while the market is closed or
    nothing new moved, else the run requests. Separate from the sensor so that tests
    can choose the time."""
    closed = market_closed_reason(now)
    if closed is not None:
        return SensorResult(skip_reason=closed, cursor=cursor)
    try:
        requests, new_cursor, read = price_move_tick(market, cursor, now, threshold_pct)
    except DatasetNotProvided as exc:
        return SensorResult(skip_reason=str(exc), cursor=cursor)
    if not requests:
        return SensorResult(
            skip_reason=f"{read} quote(s), no new move of {threshold_pct:g}% or more",
            cursor=new_cursor,
        )
    return SensorResult(run_requests=requests, cursor=new_cursor)


@sensor(
    job=recommendations_job,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "An intraday move of ROBO_PRICE_MOVE_THRESHOLD_PCT (default 3 %) or each further "
        "multiple of it on a tradable name starts the analysis (priority 9, or 10 for a "
        "fall beyond twice the threshold). Market hours only."
    ),
)
def price_move_sensor(context: SensorEvaluationContext, market: MarketDataProvider) -> SensorResult:
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    result = price_move_result(market, context.cursor, now, settings.price_move_threshold_pct())
    if result.run_requests:
        context.log.info(
            f"{len(result.run_requests)} new price move(s): "
            + ", ".join(str(r.run_key) for r in result.run_requests)
        )
    return result

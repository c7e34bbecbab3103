"""Market events pushed by other systems, and the seed's rules for what they trigger.

- impact >= 0.7 on a tradable symbol: refresh the analysis (the recommendations' own
  priority, 9);
- impact > 0.8 with negative sentiment, or on a highly volatile name: CRITICAL, at once,
  with priority 10;
- anything weaker is recorded and triggers nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from robo_dagster.domain.market_sim import validate_symbols

HIGH_IMPACT = 0.7
CRITICAL_IMPACT = 0.8
NEGATIVE_SENTIMENT = -0.05
HIGH_VOLATILITY = 0.5  # annualized
CRITICAL_PRIORITY = 10
ANALYSIS_PRIORITY = 9


class MarketEvent(BaseModel):
    """One event in the inbox (``market_data.market_events.payload`` holds its JSON)."""

    # Strict: a number must be a JSON number (``true`` is not an impact of 1) and finite
    # (``Infinity`` is not a volatility); an unknown field is refused.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    type: Literal["news", "earnings", "price_move", "other"]
    symbol: str = Field(max_length=12)
    impact: float = Field(ge=0.0, le=1.0)
    sentiment: float | None = Field(default=None, ge=-1.0, le=1.0)
    volatility: float | None = Field(default=None, ge=0.0, description="annualized")
    headline: str = Field(default="", max_length=500)
    occurred_at: dt.datetime | None = None
    # The sender's own id for the event: a second push with the same one is the same
    # event (``market_data.inbox.push_event``), so a retried delivery is stored once.
    external_id: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("symbol")
    @classmethod
    def _ticker(cls, value: str) -> str:
        return validate_symbols([value])[0]


def _check_pairs(event_ids: Sequence[str], event_symbols: Sequence[str]) -> None:
    if len(event_ids) != len(event_symbols):
        raise ValueError(
            f"{len(event_ids)} event ids but {len(event_symbols)} event symbols: "
            "each event id needs its symbol"
        )


def answered_events(
    symbols: pd.Series, event_ids: Sequence[str], event_symbols: Sequence[str]
) -> pd.Series:
    """For each symbol, the ids of the events about it (comma-separated, in order), or
    "" when the run answers no event on it."""
    _check_pairs(event_ids, event_symbols)
    by_symbol: dict[str, list[str]] = {}
    for event_id, symbol in zip(event_ids, event_symbols, strict=True):
        by_symbol.setdefault(symbol, []).append(event_id)
    answers = {symbol: ",".join(ids) for symbol, ids in by_symbol.items()}
    return symbols.map(answers).fillna("").astype(str)


def event_answers(
    recommendations: pd.DataFrame, event_ids: Sequence[str], event_symbols: Sequence[str]
) -> pd.DataFrame:
    """One row per event: its id and symbol, and the recommendation on that symbol
    (``action`` and ``target_weight``; null when the run recommends nothing on it)."""
    _check_pairs(event_ids, event_symbols)
    events = pd.DataFrame({"event_id": list(event_ids), "symbol": list(event_symbols)})
    columns = ["symbol", "action", "target_weight"]
    return events.merge(recommendations[columns], on="symbol", how="left")[["event_id", *columns]]


@dataclass(frozen=True)
class Route:
    """What an event triggers: a priority (None: nothing) and why."""

    priority: int | None
    reason: str


def route_event(event: MarketEvent, tradable: set[str]) -> Route:
    """Apply the seed's orchestration rules to one validated event."""
    if event.symbol not in tradable:
        return Route(None, f"{event.symbol} is not in the tradable universe")
    negative = event.sentiment is not None and event.sentiment < NEGATIVE_SENTIMENT
    volatile = event.volatility is not None and event.volatility >= HIGH_VOLATILITY
    if event.impact > CRITICAL_IMPACT and (negative or volatile):
        why = "negative sentiment" if negative else "high volatility"
        return Route(CRITICAL_PRIORITY, f"CRITICAL: impact {event.impact:.2f} with {why}")
    if event.impact >= HIGH_IMPACT:
        return Route(ANALYSIS_PRIORITY, f"high impact {event.impact:.2f}")
    return Route(None, f"impact {event.impact:.2f} below {HIGH_IMPACT}")

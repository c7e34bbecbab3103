"""Orders as every broker takes them, and the answers that matter for idempotence.

A broker either accepts an order (``OrderState``), says it already has one with that
``client_order_id`` (``DuplicateOrder``: the order was placed before, by a retried or
replayed run), or refuses it for a business reason (``OrderRejected``: insufficient
buying power, the market is closed) with its own words.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from robo_dagster.providers.errors import ProviderError

OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "partially_filled",
        "accepted_for_bidding",
        "pending_cancel",
        "pending_replace",
        "calculated",
        "held",
    }
)


class OrderRequest(BaseModel):
    """One order to send: whole shares, a day order, market or limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_order_id: str = Field(min_length=1, max_length=48)
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0)
    order_type: Literal["market", "limit"] = "market"
    limit_price: float | None = Field(default=None, gt=0)
    time_in_force: Literal["day"] = "day"


class OrderState(BaseModel):
    """An order as the broker reports it."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    quantity: float
    status: str
    filled_quantity: float = 0.0
    filled_average_price: float | None = None
    submitted_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class DuplicateOrder(ProviderError):
    """The broker already has an order with this ``client_order_id``."""


class OrderRejected(ProviderError):
    """The broker refused the order; the message is its reason."""

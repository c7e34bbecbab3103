"""The paper broker's own order book: a JSON file beside the user's portfolio file.

Orders the paper broker fills are appended here, never to the portfolio file the user
wrote: the broker reads both, so the next run sees the fills. Each order is keyed by
its ``client_order_id``; a second order with the same id is refused as a duplicate,
which is what makes a replayed run harmless. Writes are atomic (a temporary file, then
a rename) and serialised by an ``flock``, so two runs never interleave.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from robo_dagster.providers.errors import ProviderError


class PaperOrder(BaseModel):
    """One order the paper broker took: filled at ``price`` on ``date``, or expired (a
    limit that the session's close did not reach)."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0)
    order_type: Literal["market", "limit"]
    limit_price: float | None = None
    status: Literal["filled", "expired"]
    date: dt.date
    price: float | None = Field(default=None, gt=0)
    submitted_at: dt.datetime


class PaperOrderFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: list[PaperOrder] = Field(default_factory=list)


class PaperOrderBook:
    """The orders file at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()

    def load(self) -> list[PaperOrder]:
        if not self.path.exists():
            return []
        try:
            return PaperOrderFile.model_validate_json(self.path.read_text()).orders
        except (ValidationError, ValueError) as exc:
            raise ProviderError(f"paper orders file {self.path} is malformed: {exc}") from None

    @contextmanager
    def locked(self) -> Iterator[list[PaperOrder]]:
        """The orders under an exclusive lock; what the block appends is written back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            orders = self.load()
            before = len(orders)
            yield orders
            if len(orders) != before:
                tmp = self.path.with_suffix(self.path.suffix + ".tmp")
                payload = PaperOrderFile(orders=orders).model_dump(mode="json")
                tmp.write_text(json.dumps(payload, indent=2))
                os.replace(tmp, self.path)

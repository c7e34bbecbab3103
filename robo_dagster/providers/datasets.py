"""Datasets a source does not supply: "not provided", never simulated in its place.

A real source (Alpaca, a folder of files) lacks some datasets: Alpaca has no earnings
or fundamentals, a folder may hold only prices, and an options feed may be down for the
day. Such a dataset is *not provided*:

- the provider raises ``DatasetNotProvided`` naming the dataset and why;
- the asset stores an empty table with the dataset's columns, marked with
  ``not_provided_frame`` so that the I/O manager lets it through (any other empty frame
  is refused, because it would wipe the table), and says so in its metadata;
- the analyses read an empty table as "no such signal" and renormalise their weights
  over the signals present (``domain.analyst``).

A stored table is therefore empty exactly when its source did not provide it: every
provided dataset must have rows (``metadata.require_rows``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from robo_dagster.providers.errors import ProviderError

NOT_PROVIDED_ATTR = "robo/not_provided"
# An empty result that is the right answer (no order to send today), not a failed fetch.
EMPTY_ATTR = "robo/empty"


class DatasetNotProvided(ProviderError):
    """The source does not supply ``dataset``; ``reason`` says why in a user's words."""

    def __init__(self, dataset: str, reason: str) -> None:
        super().__init__(f"{dataset}: not provided ({reason})")
        self.dataset = dataset
        self.reason = reason


def _empty(schema: Mapping[str, str]) -> pd.DataFrame:
    # Text columns as pandas strings: an empty object column would reach DuckDB typed NULL.
    frame = pd.DataFrame(
        {
            column: pd.Series(dtype="string" if dtype == "object" else dtype)
            for column, dtype in schema.items()
        }
    )
    return frame


def not_provided_frame(schema: Mapping[str, str], reason: str) -> pd.DataFrame:
    """An empty frame with ``schema``'s columns and dtypes, marked as a dataset its source
    did not provide."""
    frame = _empty(schema)
    frame.attrs[NOT_PROVIDED_ATTR] = reason
    return frame


def empty_result(schema: Mapping[str, str], reason: str) -> pd.DataFrame:
    """An empty frame marked as the right answer (``reason`` says why), which the I/O
    manager stores instead of refusing it as a fetch that came back empty."""
    frame = _empty(schema)
    frame.attrs[EMPTY_ATTR] = reason
    return frame


def empty_reason(frame: pd.DataFrame) -> str | None:
    """Why ``frame`` is empty on purpose (not provided, or nothing to do), or None."""
    reason = frame.attrs.get(NOT_PROVIDED_ATTR) or frame.attrs.get(EMPTY_ATTR)
    return str(reason) if reason else None


def not_provided_reason(frame: pd.DataFrame) -> str | None:
    """Why ``frame`` stands for a dataset that was not provided, or None when it was."""
    reason = frame.attrs.get(NOT_PROVIDED_ATTR)
    return str(reason) if reason else None

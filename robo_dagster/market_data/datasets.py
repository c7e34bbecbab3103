"""Fetching a dataset that a source may not provide, or may fail to deliver today.

Prices are required: without them nothing runs. News, earnings, fundamentals and option
chains are optional signals. When the source does not supply one, or stays down after
the data queue's last retry, its asset stores the dataset as *not provided* (an empty,
marked table) and says so, and the analyses run without that signal. Never simulated in
its place, never a stale table read as today's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from robo_dagster.metadata import require_rows
from robo_dagster.providers import DatasetNotProvided, ProviderUnavailable
from robo_dagster.providers.datasets import not_provided_frame, not_provided_reason
from robo_dagster.tasks.queues import DATA_FETCHER


def fetch_dataset(
    context: AssetExecutionContext,
    dataset: str,
    schema: Mapping[str, str],
    fetch: Callable[[], pd.DataFrame],
) -> pd.DataFrame:
    """``fetch()``'s rows, or a not-provided frame when the source lacks ``dataset`` or
    is still unavailable on the step's last retry. Earlier retries re-raise, so the
    step retries with the queue's backoff (``robo_dagster.tasks.retries``)."""
    try:
        return require_rows(fetch(), dataset)
    except DatasetNotProvided as exc:
        context.log.warning(f"{dataset} not provided: {exc.reason}")
        return not_provided_frame(schema, exc.reason)
    except ProviderUnavailable as exc:
        if context.retry_number < DATA_FETCHER.max_retries:
            raise
        reason = f"the source was unavailable after {DATA_FETCHER.max_retries} retries: {exc}"
        context.log.error(f"{dataset} not provided: {reason}")
        return not_provided_frame(schema, reason)


def not_provided_metadata(frame: pd.DataFrame) -> dict[str, MetadataValue] | None:
    """What the UI shows for a dataset that was not provided, or None when it was."""
    reason = not_provided_reason(frame)
    if reason is None:
        return None
    return {
        "provided": MetadataValue.bool(False),
        "not_provided": MetadataValue.text(reason),
        "preview": MetadataValue.md(
            f"**Not provided.** {reason}\n\nThe analyses run without this signal."
        ),
    }


def is_provided(frame: pd.DataFrame) -> bool:
    """A stored dataset is empty exactly when its source did not provide it."""
    return frame is not None and not frame.empty

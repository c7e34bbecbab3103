"""The decorator every asset of a group shares: its schema, group, owners and kinds."""

from collections.abc import Callable, Sequence
from typing import Any

from dagster import AssetIn, AssetsDefinition, asset

from robo_dagster.automation.queues import Queue
from robo_dagster.retries import retrying


def group_asset(group: str, owners: Sequence[str], queue: Queue) -> Callable[..., Any]:
    """``@asset`` with the group's defaults: the key prefix is the group, so an asset's key
    is its DuckDB ``schema/table``, and a transient provider failure retries with the
    ``queue``'s backoff (``robo_dagster.retries``). Pass any other ``@asset`` argument as
    usual."""

    def decorator(**kwargs: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
        def apply(fn: Callable[..., Any]) -> AssetsDefinition:
            return asset(
                key_prefix=group,
                group_name=group,
                owners=list(owners),
                kinds={"python", "duckdb"},
                code_version="1",
                **kwargs,
            )(retrying(fn, queue))

        return apply

    return decorator


def upstream(group: str, name: str) -> AssetIn:
    """An input read through the I/O manager from another asset, by group and name."""
    return AssetIn(key=[group, name])

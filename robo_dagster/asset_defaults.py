"""The decorator every asset of a group shares: its schema, group, owners and kinds."""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from dagster import AssetIn, asset


def group_asset(group: str, owners: Sequence[str]) -> Callable[..., Any]:
    """``@asset`` with the group's defaults: the key prefix is the group, so an asset's key
    is its DuckDB ``schema/table``. Pass any other ``@asset`` argument as usual."""
    return partial(
        asset,
        key_prefix=group,
        group_name=group,
        owners=list(owners),
        kinds={"python", "duckdb"},
        code_version="1",
    )


def upstream(group: str, name: str) -> AssetIn:
    """An input read through the I/O manager from another asset, by group and name."""
    return AssetIn(key=[group, name])

"""What every asset group shares: the asset decorator (schema, group, owners, kinds,
retries) and the condition its checks carry."""

from collections.abc import Callable, Sequence
from typing import Any

from dagster import AssetIn, AssetsDefinition, AutomationCondition, asset

from robo_dagster.tasks.queues import Queue
from robo_dagster.tasks.retries import retrying


def group_asset(group: str, owners: Sequence[str], queue: Queue) -> Callable[..., Any]:
    """``@asset`` with the group's defaults: the key prefix is the group, so an asset's key
    is its DuckDB ``schema/table``, and a transient provider failure retries with the
    ``queue``'s backoff (``robo_dagster.tasks.retries``). Pass any other ``@asset`` argument as
    usual.

    On a Celery cluster the step also carries its queue's ``dagster-celery/queue`` op tag,
    so ``parallel_pipeline``'s celery_executor sends it to that queue's workers
    (``robo_dagster.cluster.distributed``); on a single machine no tag is added."""

    def decorator(**kwargs: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
        celery_tags = queue.celery_tags()
        if celery_tags:
            kwargs["op_tags"] = {**celery_tags, **(kwargs.get("op_tags") or {})}

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


def with_its_asset() -> AutomationCondition:
    """For the checks of automatic assets: run whenever the asset is launched by the
    automation (or updated without them), so blocking checks guard automated runs too.
    It lives here, not in ``automation``, because the groups' checks carry it and
    ``automation`` sits above the groups."""
    return AutomationCondition.eager().with_label("with its asset")

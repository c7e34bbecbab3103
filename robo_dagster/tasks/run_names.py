"""What to call a run when a person reads it: its job, or the assets it was launched for.

A run launched for some assets, from the UI, ``robo-dagster submit group/name``, the
automation sensor or ``materialize()``, belongs to one of Dagster's anonymous jobs
(``__ASSET_JOB``, ``__ephemeral_asset_job__``): every such run has the same job name, which
says nothing about what it does. Such a run is named by its assets instead, e.g.
``portfolio/positions +3``. The assets come from, in order of cost:

1. ``run.asset_selection``, set by every launch that names its assets (GraphQL, the UI);
2. the run's execution plan snapshot, whose step outputs name their assets (a
   ``materialize()`` run selects no assets: it is built for exactly its steps);
3. for an anonymous job, its step keys: an asset's step is its key joined by ``__``.

Reading a snapshot is one storage read; ``RunNamer`` keeps the ones it has read, since
the runs of one selection share a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

ANONYMOUS_PREFIX = "__"
NAME_WIDTH = 40


def is_anonymous_job(job_name: str) -> bool:
    """Dagster's own asset jobs (``__ASSET_JOB``, ``__ephemeral_asset_job__``) start ``__``."""
    return job_name.startswith(ANONYMOUS_PREFIX)


def shorten_names(names: Sequence[str], width: int = NAME_WIDTH) -> str:
    """``names`` joined by ", " as far as they fit in ``width``, the rest counted: "a/b +3".

    The first name is always shown whole, however long: a name cut short is a name misread.
    """
    if not names:
        return ""
    shown = [names[0]]
    for index, name in enumerate(names[1:], start=1):
        left = len(names) - index - 1
        candidate = ", ".join([*shown, name]) + (f" +{left}" if left else "")
        if len(candidate) > width:
            break
        shown.append(name)
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" +{rest}" if rest else "")


def _step_asset(step_key: str) -> str:
    return step_key.replace("__", "/")


class RunNamer:
    """Names runs of one instance: ``name(run)`` and ``assets(run)``."""

    def __init__(self, instance: Any, width: int = NAME_WIDTH) -> None:
        self.instance = instance
        self.width = width
        self._planned: dict[str, list[tuple[str, str]]] = {}

    def _plan_assets(self, snapshot_id: str, steps: Iterable[str] | None) -> list[str]:
        """The assets of the plan's steps (only ``steps``, when the run names them)."""
        if snapshot_id not in self._planned:
            snapshot = self.instance.get_execution_plan_snapshot(snapshot_id)
            self._planned[snapshot_id] = [
                (step.key, output.properties.asset_key.to_user_string())
                for step in (snapshot.steps if snapshot is not None else [])
                for output in step.outputs
                if output.properties is not None and output.properties.asset_key is not None
            ]
        wanted = set(steps) if steps is not None else None
        planned = self._planned[snapshot_id]
        return sorted({asset for key, asset in planned if wanted is None or key in wanted})

    def assets(self, run: Any) -> list[str]:
        """The asset keys (``group/name``) ``run`` was launched for, sorted; [] if unknown."""
        if run.asset_selection:
            return sorted(key.to_user_string() for key in run.asset_selection)
        steps = run.step_keys_to_execute
        if run.execution_plan_snapshot_id:
            planned = self._plan_assets(run.execution_plan_snapshot_id, steps)
            if planned:
                return planned
        if not is_anonymous_job(run.job_name):
            return []  # an op job's steps are ops, not assets
        return sorted({_step_asset(step) for step in steps or []})

    def name(self, run: Any) -> str:
        """The job's name, or for an anonymous asset job its assets, shortened."""
        if not is_anonymous_job(run.job_name):
            return str(run.job_name)
        return shorten_names(self.assets(run), self.width) or str(run.job_name)

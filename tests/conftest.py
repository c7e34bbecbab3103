"""Shared fixtures: a temporary DuckDB file, resources pointed at it, a pinned market clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetSelection, DagsterInstance, job, materialize, op
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from robo_dagster import call_retries
from robo_dagster.domain import calendar
from robo_dagster.resources import build_resources

AS_OF = "2026-11-25"  # the Wednesday before Thanksgiving 2026
WATCHLIST = ["AMZN", "JPM", "XOM", "UNH"]


@pytest.fixture()
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry delays of ``call_retries``, recorded instead of slept; jitter pinned to its
    ceiling, so each delay is exact."""
    recorded: list[float] = []
    monkeypatch.setattr(call_retries, "_sleep", recorded.append)
    monkeypatch.setattr(call_retries, "_jitter", lambda: 1.0)
    return recorded


@pytest.fixture()
def duckdb_path(tmp_path: Path) -> str:
    return str(tmp_path / "robo.duckdb")


@pytest.fixture()
def resources(duckdb_path: str) -> dict[str, Any]:
    return build_resources(duckdb_path, as_of=AS_OF, watchlist=WATCHLIST, universe_size=0, seed=7)


@pytest.fixture()
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster_home")) as inst:
        yield inst


def session_range(sessions: int, last: str = AS_OF) -> tuple[str, str]:
    days = calendar.session_index(dt.date(2020, 1, 1), last)
    return days[-sessions].date().isoformat(), days[-1].date().isoformat()


def range_tags(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def materialize_all(
    resources: dict[str, Any], sessions: int = 300, last: str = AS_OF, **kwargs: Any
) -> Any:
    """Materialize every asset and check but the execution group (orders go out only
    through execution_job), backfilling ``sessions`` sessions up to ``last``."""
    from robo_dagster.definitions import defs

    first, last = session_range(sessions, last)
    assets = list(defs.assets or []) + list(defs.asset_checks or [])
    return materialize(
        assets,
        resources=resources,
        tags=range_tags(first, last),
        selection=kwargs.pop(
            "selection", AssetSelection.all() - AssetSelection.groups("execution")
        ),
        **kwargs,
    )


@op
def step() -> None:
    pass


@job
def tiny() -> None:
    """A one-step job, for tests that need runs of their own in an instance."""
    step()

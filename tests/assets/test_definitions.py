"""The code location loads, and every asset carries what the UI shows a newcomer."""

import dagster as dg
import pytest

from robo_dagster.definitions import defs
from robo_dagster.partitions import TRADING_DAYS


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


@pytest.mark.parametrize(
    "spec", list(defs.resolve_all_asset_specs()), ids=lambda s: s.key.to_user_string()
)
def test_every_asset_is_described_grouped_and_owned(spec: dg.AssetSpec) -> None:
    assert spec.group_name in {"portfolio", "market_data"}
    assert spec.key.path[0] == spec.group_name  # the key is schema/table in DuckDB
    assert spec.description and len(spec.description) > 40
    assert spec.kinds and "duckdb" in spec.kinds
    assert spec.owners


def test_pipelines_choose_their_executor() -> None:
    sequential = defs.resolve_job_def("sequential_pipeline")
    parallel = defs.resolve_job_def("parallel_pipeline")
    assert sequential.executor_def.name == "in_process"
    assert parallel.executor_def.name == "multiprocess"
    assert sequential.partitions_def == TRADING_DAYS == parallel.partitions_def


def test_partitions_are_trading_sessions() -> None:
    keys = set(TRADING_DAYS.get_partition_keys())
    assert "2026-11-25" in keys and "2026-11-27" in keys
    assert "2026-11-26" not in keys  # Thanksgiving
    assert "2026-11-21" not in keys  # Saturday
    assert "2025-01-09" not in keys  # national day of mourning: an ad-hoc closure

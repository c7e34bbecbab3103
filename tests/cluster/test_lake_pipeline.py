"""The whole graph on a DuckLake equals the same graph on the single DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from robo_dagster.dashboard import queries
from robo_dagster.resources import build_resources
from robo_dagster.warehouse import query
from tests.conftest import AS_OF, materialize_all

pytestmark = pytest.mark.cluster

SESSIONS = 30
# Written at the wall clock's time (when a row was recorded), not from the market: the
# two runs cannot agree on them.
CLOCK_COLUMNS = {"run_id", "recorded_at", "answered_at", "quarantined_at", "generated_at"}


def tables(database: str) -> list[str]:
    frame = query(
        "select schema_name || '.' || table_name as t from duckdb_tables() "
        "where database_name = current_database() order by 1",
        database=database,
    )
    return list(frame["t"])


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with clock columns dropped, columns and rows in a fixed order."""
    frame = frame.drop(columns=[c for c in frame.columns if c in CLOCK_COLUMNS])
    frame = frame[sorted(frame.columns)]
    return frame.sort_values(list(frame.columns), ignore_index=True, key=lambda s: s.astype(str))


def test_the_graph_on_the_lake_equals_the_graph_on_the_file(
    lake_target: str, tmp_path: Path
) -> None:
    file = str(tmp_path / "robo.duckdb")
    checks = {}
    for database in (file, lake_target):
        resources = build_resources(database, as_of=AS_OF, universe_size=0, seed=7)
        result = materialize_all(resources, sessions=SESSIONS)
        assert result.success
        checks[database] = {
            (e.asset_key.to_user_string(), e.check_name): e.passed
            for e in result.get_asset_check_evaluations()
        }
    # The checks read the lake through the same resource, and judge it the same.
    assert checks[lake_target] == checks[file] and len(checks[file]) > 10

    on_file, on_lake = tables(file), tables(lake_target)
    assert on_file == on_lake
    assert len(on_file) > 20
    for table in on_file:
        expected = canonical(query(f"select * from {table}", database=file))
        got = canonical(query(f"select * from {table}", database=lake_target))
        assert len(got) == len(expected), table
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=table)
    # The dashboard's reads work on the lake unchanged.
    for read in (queries.read_positions, queries.read_risk, queries.read_universe):
        pd.testing.assert_frame_equal(
            canonical(read(lake_target)), canonical(read(file)), check_dtype=False
        )
    # Nothing was created on disk named after the lake's target.
    assert not [p for p in Path.cwd().iterdir() if p.name.startswith("ducklake:")]
    assert duckdb.__version__

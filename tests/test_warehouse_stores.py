"""``warehouse.stores`` on the single DuckDB file: the same sequences, DDL and rows the
stores always had, and the writes that replace ``RETURNING`` and ``insert or ignore``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.stores import (
    GUARD_SCHEMA,
    create_keyed_table,
    insert_new,
    insert_with_ids,
    lake_catalog,
    next_ids,
    serialize_writers,
    spool_file,
    update_ids,
    write_transaction,
)
from robo_dagster.warehouse.target import LakeTarget

TABLE = "s.things"
SEQUENCE = "s.thing_id"


@pytest.fixture()
def database(tmp_path: Path) -> str:
    return str(tmp_path / "robo.duckdb")


@pytest.fixture()
def conn(database: str) -> Iterator[Any]:
    with locked_connection(database) as connection:
        connection.execute("create schema if not exists s")
        create_keyed_table(connection, TABLE, "id bigint", ["name varchar"], sequence=SEQUENCE)
        yield connection


def test_a_file_is_no_lake_and_keeps_its_sequence_primary_key_and_default(conn: Any) -> None:
    assert lake_catalog(conn) is None
    (kinds,) = conn.execute(
        "select list(constraint_type order by constraint_type) from duckdb_constraints() "
        "where table_name = 'things'"
    ).fetchone()
    assert "PRIMARY KEY" in kinds
    (default,) = conn.execute(
        "select column_default from duckdb_columns() where table_name = 'things' "
        "and column_name = 'id'"
    ).fetchone()
    assert default == "nextval('s.thing_id')"


def test_ids_come_from_the_one_sequence_the_default_uses(conn: Any) -> None:
    assert next_ids(conn, SEQUENCE, 3) == [1, 2, 3]
    assert next_ids(conn, SEQUENCE, 0) == []
    # A row inserted the old way, by the column's default, takes the next value.
    conn.execute(f"insert into {TABLE} (name) values ('by default')")
    assert insert_with_ids(conn, TABLE, SEQUENCE, ["name"], [["a"], ["b"]]) == [5, 6]
    assert conn.execute(f"select id, name from {TABLE} order by id").fetchall() == [
        (4, "by default"),
        (5, "a"),
        (6, "b"),
    ]


def test_a_name_that_is_not_a_plain_schema_name_is_refused(conn: Any) -> None:
    with pytest.raises(ValueError, match=r"schema\.name"):
        next_ids(conn, "s.x'); drop table s.things; --", 1)


def test_an_update_reports_the_ids_it_changed(conn: Any) -> None:
    insert_with_ids(conn, TABLE, SEQUENCE, ["name"], [["a"], ["b"], ["a"]])
    changed = update_ids(conn, TABLE, "name = ?", ["z"], "name = ?", ["a"])
    assert changed == [1, 3]
    assert update_ids(conn, TABLE, "name = ?", ["y"], "name = ?", ["nothing"]) == []
    assert conn.execute(f"select name from {TABLE} order by id").fetchall() == [
        ("z",),
        ("b",),
        ("z",),
    ]


def test_insert_new_skips_stored_and_repeated_keys(database: str) -> None:
    with locked_connection(database) as conn:
        conn.execute("create schema if not exists s")
        create_keyed_table(conn, "s.log", "id varchar", ["note varchar"])
        assert insert_new(conn, "s.log", ["id", "note"], [["a", "1"], ["b", "2"], ["a", "1"]]) == 2
        assert insert_new(conn, "s.log", ["id", "note"], [["b", "2"], ["c", "3"]]) == 1
        assert conn.execute("select id from s.log order by id").fetchall() == [
            ("a",),
            ("b",),
            ("c",),
        ]
        # The file's flock serializes writers: no guard table is made there.
        serialize_writers(conn, "s.log")
        (guards,) = conn.execute(
            "select count(*) from duckdb_tables() where schema_name = ?", [GUARD_SCHEMA]
        ).fetchone()
        assert guards == 0


def test_a_write_transaction_commits_or_leaves_nothing(database: str) -> None:
    with locked_connection(database) as conn:
        conn.execute("create schema if not exists s")
        create_keyed_table(conn, TABLE, "id bigint", ["name varchar"], sequence=SEQUENCE)
    assert write_transaction(
        database, lambda c: insert_with_ids(c, TABLE, SEQUENCE, ["name"], [["kept"]]), "test"
    ) == [1]

    def fail(c: Any) -> None:
        insert_with_ids(c, TABLE, SEQUENCE, ["name"], [["lost"]])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_transaction(database, fail, "test")
    with locked_connection(database) as check:
        assert check.execute(f"select name from {TABLE}").fetchall() == [("kept",)]


def test_the_spool_file_is_beside_the_file_or_per_host_in_the_lakes_data_folder(
    tmp_path: Path,
) -> None:
    assert spool_file("/data/robo.duckdb", "audit.jsonl") == Path("/data/robo.duckdb.audit.jsonl")
    lake = LakeTarget(
        dbname="robo_lake", host="127.0.0.1", port=5432, user="dagster", data_path=str(tmp_path)
    ).render()
    spool = spool_file(lake, "audit.jsonl")
    assert spool.parent == tmp_path / "spool"
    assert spool.name.endswith(".audit.jsonl")

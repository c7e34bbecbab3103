"""The commit-conflict retry: whole transactions again, bounded, and nothing else retried.

The conflicts are real ones: DuckDB's own optimistic concurrency, between two cursors of
one in-memory database, raises the same ``TransactionException`` as a DuckLake commit.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from robo_dagster.warehouse import retry
from robo_dagster.warehouse.retry import MAX_TRIES, CommitConflict, retry_conflicts


@pytest.fixture()
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(retry, "_sleep", recorded.append)
    monkeypatch.setattr(retry, "_jitter", lambda: 1.0)
    return recorded


@pytest.fixture()
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    conn.execute("create table t (id integer, v varchar)")
    conn.execute("insert into t values (1, 'old'), (2, 'other')")
    yield conn
    conn.close()


def rewrite(db: duckdb.DuckDBPyConnection) -> None:
    """The unit a retry repeats: delete the slice and insert it, in one transaction."""
    cur = db.cursor()
    cur.begin()
    try:
        cur.execute("delete from t where id = 1")
        cur.execute("insert into t values (1, 'new')")
    except BaseException:
        cur.rollback()
        raise
    cur.commit()


def test_a_transaction_that_conflicts_twice_is_retried_and_writes_once(
    db: duckdb.DuckDBPyConnection, slept: list[float]
) -> None:
    rival = db.cursor()
    rival.begin()
    rival.execute("delete from t where id = 1")  # uncommitted: our delete conflicts with it
    attempts: list[int] = []

    def unit() -> str:
        attempts.append(1)
        if len(attempts) == 3:
            rival.rollback()  # the other writer gave way
        rewrite(db)
        return "done"

    retried: list[int] = []
    assert retry_conflicts(unit, "rewriting t", on_retry=retried.append) == "done"
    assert len(attempts) == 3 and retried == [1, 2]
    assert slept == [retry.BASE_DELAY_S, retry.BASE_DELAY_S * 2]  # exponential, jitter at 1
    assert db.execute("select id, v from t order by id").fetchall() == [(1, "new"), (2, "other")]


def test_a_transaction_that_always_conflicts_stops_at_the_bound(
    db: duckdb.DuckDBPyConnection, slept: list[float]
) -> None:
    rival = db.cursor()
    rival.begin()
    rival.execute("delete from t where id = 1")
    attempts: list[int] = []

    def unit() -> None:
        attempts.append(1)
        rewrite(db)

    with pytest.raises(CommitConflict, match=f"rewriting t: .* after {MAX_TRIES} tries") as caught:
        retry_conflicts(unit, "rewriting t")
    assert len(attempts) == MAX_TRIES and len(slept) == MAX_TRIES - 1
    assert max(slept) <= retry.MAX_DELAY_S
    assert "nothing of it was written" in str(caught.value)
    rival.rollback()
    assert db.execute("select id, v from t order by id").fetchall() == [(1, "old"), (2, "other")]


@pytest.mark.parametrize(
    "sql",
    [
        "select * from missing_table",  # a CatalogException
        "begin transaction",  # a TransactionException that is no conflict
    ],
)
def test_an_error_that_is_no_conflict_is_not_retried(
    db: duckdb.DuckDBPyConnection, slept: list[float], sql: str
) -> None:
    attempts: list[int] = []

    def unit() -> None:
        attempts.append(1)
        cur = db.cursor()
        cur.begin()
        try:
            cur.execute(sql)
        finally:
            cur.rollback()

    with pytest.raises(duckdb.Error) as caught:
        retry_conflicts(unit, "a bad statement")
    assert not isinstance(caught.value, CommitConflict)
    assert attempts == [1] and slept == []

"""The DuckDB resource that checks and assets use for SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.retry import retry_conflicts

T = TypeVar("T")


class DuckDBWarehouse(DuckDBResource):
    """Dagster's ``DuckDBResource`` on the robo-dagster file, sharing the I/O manager's
    file lock so that SQL from checks and assets never collides with a write."""

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with locked_connection(self.database, self.connection_config) as conn:
            yield conn

    def transaction(
        self,
        fn: Callable[[duckdb.DuckDBPyConnection], T],
        what: str,
        log: Any = None,
    ) -> T:
        """``fn(conn)`` in one transaction on a new connection: begun before, committed
        after, rolled back when it raises. On a DuckLake, a commit that conflicted with
        another writer runs the whole of it again (``retry.retry_conflicts``), so ``fn``
        must do everything the write needs (its DDL, its delete, its insert) and nothing
        that must happen only once. ``what`` names the write in retry messages."""

        def once() -> T:
            with self.get_connection() as conn:
                conn.begin()
                try:
                    result = fn(conn)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
                return result

        return retry_conflicts(once, what, log=log)

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run one query on a short connection and return the result as a frame."""
        with self.get_connection() as conn:
            return conn.execute(sql, params or []).fetchdf()

    def recent_rows(
        self,
        table: str,
        sessions: int,
        until: dt.date | pd.Timestamp,
        symbols: list[str] | None = None,
    ) -> pd.DataFrame:
        """The last ``sessions`` stored sessions up to ``until`` of a (symbol, date) table,
        optionally for some symbols only, ordered by symbol and date.

        ``until`` is the market's session: an analysis replayed as of a past day must not
        see the rows that came after it.
        """
        where = "and symbol in (select unnest(?))" if symbols is not None else ""
        params: list[Any] = [until, sessions, until] + ([symbols] if symbols is not None else [])
        return self.query(
            f"""
            select * from {table}
            where date >= (select min(date) from (select distinct date from {table}
                                                  where date <= ? order by date desc limit ?))
              and date <= ?
            {where}
            order by symbol, date
            """,
            params,
        )

    def table_exists(self, schema: str, table: str) -> bool:
        """True when ``schema.table`` exists."""
        found = self.query(
            "select count(*) as n from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        )
        return bool(found["n"].iloc[0])

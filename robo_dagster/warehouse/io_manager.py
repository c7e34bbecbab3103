"""Dagster's DuckDB pandas I/O manager with three guarantees it lacks by default.

``DuckDBPandasIOManager`` deletes the target slice, then inserts the frame, each in its
own autocommit statement. That leaves three ways to lose or corrupt a table:

* an empty frame is skipped after the delete: the partition is wiped and nothing written;
* a crash or cancellation between the delete and the insert loses the slice;
* the insert is positional: a changed column order silently writes columns into the
  wrong places.

Here the delete and the write run in one transaction (all or nothing), an empty frame
raises instead of wiping anything (unless it is empty on purpose, ``providers.datasets``:
a dataset the source does not provide, whose table is then replaced by an empty one so
that no stale or simulated rows stand in for it, or a day with no order to send), partitioned writes insert ``BY NAME`` (a new or
missing column fails loudly), and unpartitioned tables are replaced whole, so their
schema may evolve. Every connection to the file also takes the cross-process file lock,
so parallel steps and runs queue for the file instead of failing on DuckDB's
single-writer lock. On a DuckLake, where writers commit optimistically, a write whose
commit conflicted is retried whole (``RetryingDbIOManager``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd
from dagster import InputContext, OutputContext, TableColumn, TableSchema
from dagster._core.definitions.metadata import TableMetadataSet
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBIOManager
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from robo_dagster.providers.datasets import empty_reason
from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.lake import ALIAS
from robo_dagster.warehouse.retry import retry_conflicts
from robo_dagster.warehouse.target import is_lake


class EmptyOutputError(ValueError):
    """An asset produced no rows: writing it would wipe the table or partition."""


class TransactionalDuckDbClient(DuckDbClient):
    """Dagster's DuckDB client, with each load or store in one locked transaction."""

    @staticmethod
    @contextmanager
    def connect(
        context: OutputContext | InputContext, table_slice: TableSlice
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        config = dict(context.resource_config or {})
        with locked_connection(
            str(config["database"]), config.get("connection_config") or {}
        ) as conn:
            conn.begin()
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @staticmethod
    def get_table_name(table_slice: TableSlice) -> str:
        # A lake's target is a connection string: name the table as a reader who attached
        # the lake (``AS lake``) queries it.
        if is_lake(table_slice.database or ""):
            return f"{ALIAS}.{table_slice.schema}.{table_slice.table}"
        return DuckDbClient.get_table_name(table_slice)

    @staticmethod
    def delete_table_slice(
        context: OutputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> None:
        # Dagster's client swallows the CatalogException of a missing table, but inside a
        # transaction that exception aborts the transaction: ask first instead.
        ((exists,),) = connection.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [table_slice.schema, table_slice.table],
        ).fetchall()
        if exists:
            DuckDbClient.delete_table_slice(context, table_slice, connection)


class StrictPandasTypeHandler(DuckDBPandasTypeHandler):
    """Stores pandas frames: refuses empty ones, inserts partitions by column name and
    replaces unpartitioned tables whole."""

    def handle_output(
        self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection: Any
    ) -> dict[str, Any]:
        target = f"{table_slice.schema}.{table_slice.table}"
        on_purpose = empty_reason(obj)
        if obj.empty and not (on_purpose and not table_slice.partition_dimensions):
            raise EmptyOutputError(
                f"refusing to write an empty frame to {target}: it would wipe the "
                f"{'partition' if table_slice.partition_dimensions else 'table'} and write nothing. "
                "The asset must raise when its source returns nothing."
            )
        # the name DuckDB's replacement scan sees in the SQL below
        frame = _typed_null_columns(obj)
        if table_slice.partition_dimensions:
            connection.execute(
                f"create table if not exists {target} as select * from frame limit 0"
            )
            connection.execute(f"insert into {target} by name select * from frame")
        else:
            connection.execute(f"create or replace table {target} as select * from frame")
        written = int(frame.shape[0])
        ((total,),) = connection.execute(f"select count(*) from {target}").fetchall()
        columns = connection.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [table_slice.schema, table_slice.table],
        ).fetchall()
        # Returned, not added to the context here: DbIOManager adds it once the commit
        # succeeded, so a transaction retried after a conflict does not add it twice.
        return dict(
            TableMetadataSet(
                row_count=int(total),
                partition_row_count=written if table_slice.partition_dimensions else None,
                column_schema=TableSchema(
                    columns=[TableColumn(name=name, type=kind) for name, kind in columns]
                ),
                storage_kind="ducklake" if is_lake(table_slice.database or "") else "duckdb",
            )
        )


def _typed_null_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its all-null object columns as strings. Such a column (a source
    that gives no sector for any symbol) has no type of its own, and DuckDB would store
    it as INTEGER: the next frame read back would then refuse the text it is filled with."""
    untyped = [
        name
        for name in frame.columns
        if frame[name].dtype == object and bool(frame[name].isna().all())
    ]
    if not untyped:
        return frame
    return frame.astype(dict.fromkeys(untyped, "string"))


class RetryingDbIOManager(DbIOManager):
    """Dagster's ``DbIOManager`` whose writes are retried whole after a commit conflict.

    ``handle_output`` opens the client's connection, begins, deletes the slice, inserts
    and commits (``TransactionalDuckDbClient.connect``); on DuckLake a concurrent writer
    can make that commit fail, with nothing written. The whole call then runs again, on a
    new connection (``retry.retry_conflicts``): the slice is deleted and written again,
    so no row is lost or doubled. The number of retries, if any, is in the output's
    ``commit_retries`` metadata."""

    def handle_output(self, context: OutputContext, obj: object) -> None:
        retries: list[int] = []
        label = ".".join(context.asset_key.path) if context.has_asset_key else context.name
        if context.has_asset_partitions:
            label += f" [{', '.join(sorted(context.asset_partition_keys))}]"
        retry_conflicts(
            lambda: DbIOManager.handle_output(self, context, obj),
            f"writing {label}",
            log=context.log,
            on_retry=retries.append,
        )
        if retries:
            context.add_output_metadata({"commit_retries": len(retries)})


class WarehouseIOManager(DuckDBIOManager):
    """Reads and writes pandas frames in the robo-dagster DuckDB file: one schema per
    asset group, one table per asset. See the module docstring for what it adds to
    Dagster's ``DuckDBPandasIOManager``."""

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [StrictPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context: Any) -> DbIOManager:
        return RetryingDbIOManager(
            db_client=TransactionalDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="WarehouseIOManager",
        )

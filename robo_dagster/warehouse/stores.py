"""Keyed stores on either warehouse: ids, keyed tables, and writes without ``RETURNING``.

The alert store, the market-event inbox and the REST API's audit log were written for the
single DuckDB file: a sequence gives each row its id (``id bigint primary key default
nextval(...)``), the primary key refuses a second row with an id, ``insert ... returning
id`` reports the id. DuckLake has none of these (no sequences, no primary key, unique
constraint or index, no ``RETURNING``). This module is the one place that knows, so the
stores never ask which warehouse they write to:

* **Ids** (``next_ids``). On the file, the store's DuckDB sequence, as before (same name,
  same values). On the lake, a Postgres sequence of the same name in the schema
  ``robo_ids`` of the catalog's own Postgres database, reached through the
  ``postgres_scanner`` extension on a connection of its own; the password reaches libpq
  through ``PGPASSWORD`` only (``target.export_password``). A Postgres sequence hands out
  unique, increasing values to every process on every machine; like any sequence it is
  not transactional, so a rolled-back or retried write leaves a gap, and two writers that
  commit in the other order than they drew their ids store them out of order (the inbox
  sensor reads by arrival time for that reason).
* **Keyed tables** (``create_keyed_table``). On the file, exactly the DDL the stores always
  had (``primary key`` and ``default nextval``), so existing files keep working. On the
  lake, the key column is ``not null`` and has no default: writers pass the id.
* **Uniqueness** (``serialize_writers``). On the file the flock already makes every
  check-then-insert atomic. On the lake, a writer that must not insert what another
  writer may be inserting at the same moment (an idempotency key, an open alert's
  fingerprint, an audit row's id) first updates the one row of a small guard table of
  its store (``robo_guards.<schema>_<table>``), inside its transaction. Two such
  transactions that overlap both changed that row, so DuckLake refuses the second commit
  and the writer retries the whole transaction (``retry.retry_conflicts``), which then
  sees the first one's row. What this guarantees: writers that go through the store's
  functions never store a key twice. What it does not: a client that inserts into a lake
  table directly, without the guard and without ``next_ids``, is checked by nothing.
* **No RETURNING** (``insert_with_ids``, ``update_ids``). Ids are drawn first and
  inserted explicitly; an update selects the ids it will change, then changes ``where id
  in (...)``. Run both inside the caller's transaction, so that the ids reported are the
  rows changed.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from robo_dagster.warehouse.connection import locked_connection
from robo_dagster.warehouse.lake import WarehouseUnavailable, load_extensions
from robo_dagster.warehouse.locking import DEFAULT_TIMEOUT_S
from robo_dagster.warehouse.retry import retry_conflicts
from robo_dagster.warehouse.target import export_password, is_lake, scrub, side_folder

T = TypeVar("T")

ID_SCHEMA = "robo_ids"  # the Postgres schema of the lake's sequences
GUARD_SCHEMA = "robo_guards"  # the lake schema of the writers' guard tables
_ALIAS = "robo_ids_catalog"
# A store's sequence or table: schema.name, plain identifiers only, because the name is
# spliced into SQL (DuckDB's and, for the lake's sequences, Postgres's).
_QUALIFIED = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")
# Rows per insert statement: one statement per chunk, not per row (a lake insert is a
# catalog round trip), small enough for DuckDB's parameter lists.
CHUNK_ROWS = 500


def _qualified(name: str) -> str:
    if not _QUALIFIED.fullmatch(name):
        raise ValueError(f"{name!r} is not a schema.name of plain lower-case identifiers")
    return name


def lake_catalog(conn: Any) -> str | None:
    """The libpq connection string of the lake ``conn`` uses, or None for a DuckDB file.

    Read from the connection itself (``duckdb_databases()``), so that the stores, whose
    functions take only a connection, need not be told which warehouse it is."""
    row = conn.execute(
        "select type, path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    if row is None or row[0] != "ducklake":
        return None
    path = str(row[1])
    if not path.startswith("postgres:"):
        raise RuntimeError(f"the lake's catalog is not a Postgres database: {path.split(' ')[0]}")
    return path[len("postgres:") :]


# One Postgres attachment per process and catalog, for the lake's sequences: attaching
# costs a connection handshake, a nextval a round trip.
_catalogs: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}
_ensured: set[tuple[int, str, str]] = set()
_catalogs_lock = threading.Lock()


def _catalog_connection(conninfo: str) -> duckdb.DuckDBPyConnection:
    key = (os.getpid(), conninfo)
    conn = _catalogs.get(key)
    if conn is None:
        conn = duckdb.connect(
            ":memory:",
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
        )
        try:
            load_extensions(conn)
            export_password()
            try:
                conn.execute(
                    f"ATTACH '{conninfo.replace(chr(39), chr(39) * 2)}' AS {_ALIAS} (TYPE postgres)"
                )
            except duckdb.Error as exc:
                raise WarehouseUnavailable(_unavailable(conninfo, exc)) from None
        except BaseException:
            conn.close()
            raise
        _catalogs[key] = conn
    return conn


def _unavailable(conninfo: str, exc: BaseException) -> str:
    where = dict(re.findall(r"(host|port|dbname)=(\S+)", conninfo))
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return scrub(
        f"the DuckLake catalog's Postgres database {where.get('dbname', '?')!r} at "
        f"{where.get('host', '?')}:{where.get('port', '?')} did not answer for the lake's "
        f"ids: {first}"
    )


def _postgres_execute(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    conn.execute(f"CALL postgres_execute('{_ALIAS}', '{sql.replace(chr(39), chr(39) * 2)}')")


def _ensure_postgres_sequence(conn: duckdb.DuckDBPyConnection, conninfo: str, name: str) -> None:
    key = (os.getpid(), conninfo, name)
    if key in _ensured:
        return
    # Two processes creating the same schema or sequence at once: Postgres lets one win
    # and fails the other with a duplicate key, even with "if not exists"; try again.
    for attempt in range(3):
        try:
            _postgres_execute(conn, f"create schema if not exists {ID_SCHEMA}")
            _postgres_execute(conn, f'create sequence if not exists {ID_SCHEMA}."{name}"')
            break
        except duckdb.Error:
            if attempt == 2:
                raise
    _ensured.add(key)


def ensure_sequence(conn: Any, name: str) -> None:
    """Create the id sequence ``name`` (``schema.name``) if it does not exist: a DuckDB
    sequence in the file, a Postgres sequence beside the lake's catalog."""
    _qualified(name)
    conninfo = lake_catalog(conn)
    if conninfo is None:
        conn.execute(f"create sequence if not exists {name}")
        return
    with _catalogs_lock:
        _ensure_postgres_sequence(_catalog_connection(conninfo), conninfo, name)


def next_ids(conn: Any, name: str, count: int = 1) -> list[int]:
    """``count`` new ids from the sequence ``name``, increasing; unique across every
    process and machine that writes the warehouse ``conn`` is on. The sequence is created
    if missing. Ids are never handed out twice, even when the write that drew them rolls
    back (it leaves a gap)."""
    _qualified(name)
    if count <= 0:
        return []
    conninfo = lake_catalog(conn)
    if conninfo is None:
        conn.execute(f"create sequence if not exists {name}")
        rows = conn.execute(f"select nextval('{name}') from range(?)", [count]).fetchall()
        return sorted(int(r[0]) for r in rows)
    inner = f"select nextval('{ID_SCHEMA}.\"{name}\"') from generate_series(1, {int(count)})"
    query = f"select * from postgres_query('{_ALIAS}', '{inner.replace(chr(39), chr(39) * 2)}')"
    with _catalogs_lock:
        for attempt in (1, 2):
            catalog = _catalog_connection(conninfo)
            try:
                _ensure_postgres_sequence(catalog, conninfo, name)
                rows = catalog.execute(query).fetchall()
                break
            except duckdb.Error:
                # The catalog's server may have restarted under the cached attachment:
                # drop it; a second failure, on a fresh one, is the caller's to see.
                _catalogs.pop((os.getpid(), conninfo), None)
                catalog.close()
                if attempt == 2:
                    raise
    return sorted(int(r[0]) for r in rows)


def create_keyed_table(
    conn: Any,
    table: str,
    key: str,
    columns: Sequence[str],
    *,
    sequence: str | None = None,
) -> None:
    """``create table if not exists`` ``table`` whose first column ``key`` (e.g. ``"id
    bigint"``) identifies a row, then ``columns`` (``"name type ..."`` each).

    On the file: ``<key> primary key`` (and ``default nextval('<sequence>')`` with a
    sequence, which is created first), exactly the DDL the stores had. On the lake,
    which has neither: ``<key> not null``, and writers draw ids with ``next_ids``."""
    _qualified(table)
    if sequence is not None:
        ensure_sequence(conn, sequence)
    if lake_catalog(conn) is None:
        default = f" default nextval('{sequence}')" if sequence is not None else ""
        first = f"{key} primary key{default}"
    else:
        first = f"{key} not null"
    conn.execute(f"create table if not exists {table} ({', '.join([first, *columns])})")


def serialize_writers(conn: Any, table: str) -> None:
    """Make this transaction conflict with any other that called this for ``table`` and
    overlaps it (see the module docstring); nothing on the file, where the flock already
    serializes writers. Call it inside the caller's transaction, before its check."""
    _qualified(table)
    if lake_catalog(conn) is None:
        return
    guard = f"{GUARD_SCHEMA}.{table.replace('.', '_')}"
    found = conn.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        guard.split("."),
    ).fetchone()[0]
    if not found:
        # Created with its one row in one transaction: two first writers both create it,
        # and the second to commit conflicts (an empty guard would protect nothing).
        conn.execute(f"create schema if not exists {GUARD_SCHEMA}")
        conn.execute(f"create table if not exists {guard} (writes bigint)")
        conn.execute(f"insert into {guard} values (0)")
    conn.execute(f"update {guard} set writes = writes + 1")


def insert_rows(
    conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in ``columns`` order), a statement per ``CHUNK_ROWS``."""
    _qualified(table)
    marks = "(" + ", ".join("?" for _ in columns) + ")"
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        conn.execute(
            f"insert into {table} ({', '.join(columns)}) values {', '.join(marks for _ in chunk)}",
            [value for row in chunk for value in row],
        )


def insert_with_ids(
    conn: Any,
    table: str,
    sequence: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: str = "id",
) -> list[int]:
    """Insert ``rows`` with new ids from ``sequence`` in ``key``; the ids, in row order
    (what ``insert ... returning id`` gave)."""
    ids = next_ids(conn, sequence, len(rows))
    insert_rows(conn, table, [key, *columns], [[i, *row] for i, row in zip(ids, rows, strict=True)])
    return ids


def update_ids(
    conn: Any,
    table: str,
    assignments: str,
    params: Sequence[Any],
    where: str,
    where_params: Sequence[Any],
    *,
    key: str = "id",
) -> list[int]:
    """``update table set <assignments> where <where>`` and the ids of the rows it
    changed (what ``update ... returning id`` gave): the ids are selected first, then
    updated by id. Inside a transaction (or under the file's flock) they are the same rows."""
    _qualified(table)
    ids = sorted(
        int(r[0])
        for r in conn.execute(
            f"select {key} from {table} where {where}", list(where_params)
        ).fetchall()
    )
    if ids:
        conn.execute(
            f"update {table} set {assignments} where {key} in (select unnest(?))",
            [*params, ids],
        )
    return ids


def insert_new(
    conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, key: str = "id"
) -> int:
    """Insert the ``rows`` whose ``key`` (``columns[0]``... wherever it is in ``columns``)
    is not stored yet, and how many that was (what ``insert or ignore`` did with a
    primary key). Exact inside a transaction that called ``serialize_writers`` first."""
    position = list(columns).index(key)
    wanted = list({row[position]: row for row in rows}.values())
    stored: set[Any] = set()
    for start in range(0, len(wanted), CHUNK_ROWS):
        keys = [row[position] for row in wanted[start : start + CHUNK_ROWS]]
        stored |= {
            r[0]
            for r in conn.execute(
                f"select {key} from {_qualified(table)} where {key} in (select unnest(?))", [keys]
            ).fetchall()
        }
    fresh = [row for row in wanted if row[position] not in stored]
    insert_rows(conn, table, columns, fresh)
    return len(fresh)


def write_transaction(
    database: str,
    fn: Callable[[Any], T],
    what: str,
    *,
    deadline_s: float = DEFAULT_TIMEOUT_S,
    log: Any = None,
) -> T:
    """``fn(conn)`` in one transaction on a new connection to ``database``, committed
    after, rolled back when it raises; on the lake a conflicting commit runs the whole of
    it again (``retry.retry_conflicts``), so ``fn`` must redo everything (its reads too).
    ``deadline_s`` bounds the wait for the file's lock."""

    def once() -> T:
        with locked_connection(database, deadline_s=deadline_s) as conn:
            conn.execute("begin transaction")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")  # a conflict here has already undone the transaction
            return result

    return retry_conflicts(once, what, log=log)


def spool_file(database: str, name: str) -> Path:
    """A local file named ``name`` that robo-dagster keeps for ``database`` (the API's
    audit spool): ``<file>.<name>`` beside the DuckDB file, as always; for a lake, in
    ``spool/`` of its data folder, one per host (the folder is shared by every machine,
    and each machine's writer must move only its own rows)."""
    if is_lake(database):
        return side_folder(database) / "spool" / f"{socket.gethostname()}.{name}"
    return Path(f"{database}.{name}")

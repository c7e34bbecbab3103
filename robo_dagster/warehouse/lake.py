"""Connections to the DuckLake warehouse (``ROBO_WAREHOUSE=ducklake``).

A lake connection is an in-memory DuckDB that loads the ``postgres_scanner`` and
``ducklake`` extensions from their PyPI wheels, by path (DuckDB would otherwise download
them at run time from a host these machines cannot reach; the files are signed, so they
load with unsigned extensions still refused), ATTACHes the lake and ``USE``s it: every
``schema.table`` statement written for the single file runs unchanged. There is no flock:
DuckLake commits optimistically, and a conflicting commit is retried whole (``retry``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from robo_dagster.warehouse.target import LakeTarget, export_password, scrub

ALIAS = "lake"
EXTENSIONS = (
    # postgres_scanner first: attaching ``ducklake:postgres:`` would otherwise make DuckDB
    # try to autoload it from the network.
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    ("duckdb_extension_ducklake", "ducklake"),
)
_paths: list[str] = []
_paths_lock = threading.Lock()


class WarehouseUnavailable(ConnectionError):
    """The lake's Postgres catalog did not answer (down, unreachable, refusing us)."""


def extension_paths() -> list[str]:
    """The extension files shipped by the ``duckdb-extension-*`` wheels for this DuckDB."""
    with _paths_lock:
        if not _paths:
            import importlib

            for package, name in EXTENSIONS:
                try:
                    module = importlib.import_module(package)
                except ImportError:
                    raise RuntimeError(
                        f"ROBO_WAREHOUSE=ducklake needs the {package.replace('_', '-')} "
                        "wheel: pip install 'robo-dagster[cluster]'"
                    ) from None
                path = (
                    Path(str(module.__file__)).parent
                    / "extensions"
                    / f"v{duckdb.__version__}"
                    / f"{name}.duckdb_extension"
                )
                if not path.is_file():
                    raise RuntimeError(
                        f"{path} is missing: the {package} wheel does not match "
                        f"DuckDB {duckdb.__version__} (pin both to the same version)"
                    )
                _paths.append(str(path))
        return list(_paths)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_extensions(conn: duckdb.DuckDBPyConnection) -> None:
    """LOAD both extensions into ``conn`` by path."""
    for path in extension_paths():
        conn.execute(f"LOAD {_literal(path)}")


def unavailable_message(target: LakeTarget, exc: BaseException) -> str:
    """What went wrong reaching the catalog, and what to do, without any secret."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return scrub(
        f"the DuckLake catalog (Postgres database {target.dbname!r} at "
        f"{target.host}:{target.port}, user {target.user!r}) could not be opened "
        f"(connect timeout {target.connect_timeout_s} s): {first}. Is Postgres running there? Check "
        "DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_USER, DAGSTER_PG_PASSWORD and "
        "ROBO_LAKE_CATALOG_DB (the database must exist: createdb it once)."
    )


# One attached lake per process, target, mode and configuration: loading the extensions
# and attaching cost about half a second, against a millisecond for a cursor on an
# attached lake. A cursor shares the attached lake but has its own transaction, so
# threads each get their own. Keyed by pid too: a forked child must not use its
# parent's DuckDB.
_shared: dict[tuple[int, str, bool, tuple[tuple[str, str], ...]], duckdb.DuckDBPyConnection] = {}
_shared_lock = threading.Lock()
# Errors that may mean the catalog's server went away under a shared attachment.
_LINK_ERRORS = (
    duckdb.IOException,
    duckdb.ConnectionException,
    duckdb.InternalException,
    duckdb.FatalException,
)


def _key(
    database: str, read_only: bool, config: dict[str, Any] | None
) -> tuple[int, str, bool, tuple[tuple[str, str], ...]]:
    items = tuple(sorted((str(k), str(v)) for k, v in (config or {}).items()))
    return (os.getpid(), database, read_only, items)


@contextmanager
def shared_lake_cursor(
    database: str, *, read_only: bool = False, config: dict[str, Any] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on this process's attached lake (attached on first use), closed after.

    When the body fails with an error that may be a lost link to the catalog, the shared
    attachment is dropped, and a fresh attach tells which it was: a catalog that does not
    answer is ``WarehouseUnavailable``; else the body's error stands."""
    key = _key(database, read_only, config)
    with _shared_lock:
        base = _shared.get(key)
        if base is None:
            base = _shared[key] = lake_connection(database, read_only=read_only, config=config)
    cursor = base.cursor()
    try:
        cursor.execute(f"USE {ALIAS}")
        yield cursor
    except _LINK_ERRORS:
        with _shared_lock:
            if _shared.get(key) is base:
                del _shared[key]
        base.close()
        lake_connection(database, read_only=True).close()  # raises when the catalog is down
        raise
    finally:
        cursor.close()


# Processes that attach a brand-new catalog at the same moment each try to create its
# tables; all but one fail on Postgres's own catalog ("duplicate key value violates
# unique constraint ... pg_type"). Once the winner has committed, attaching succeeds.
_RACE_MARKERS = ("duplicate key value", "already exists")
ATTACH_RACE_TRIES = 5
ATTACH_RACE_PAUSE_S = 0.2


def _attach(conn: duckdb.DuckDBPyConnection, statement: str, target: LakeTarget) -> None:
    for attempt in range(1, ATTACH_RACE_TRIES + 1):
        try:
            conn.execute(statement)
            return
        except duckdb.Error as exc:
            racing = any(marker in str(exc) for marker in _RACE_MARKERS)
            if not racing or attempt == ATTACH_RACE_TRIES:
                raise WarehouseUnavailable(unavailable_message(target, exc)) from None
            time.sleep(ATTACH_RACE_PAUSE_S * attempt)


def lake_connection(
    database: str, *, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection with the lake ``database`` (a target) attached and in use.

    ``WarehouseUnavailable`` (naming host:port, never the password) when the catalog does
    not answer within the target's connect timeout."""
    target = LakeTarget.parse(database)
    settings = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    conn = duckdb.connect(":memory:", config={**settings, **(config or {})})
    try:
        load_extensions(conn)
        export_password()
        options = [f"DATA_PATH {_literal(target.data_path)}"]
        if read_only:
            options.append("READ_ONLY")
        _attach(conn, f"ATTACH {_literal('ducklake:postgres:' + target.conninfo())} AS {ALIAS} "
                f"({', '.join(options)})", target)  # fmt: skip
        if not read_only:
            # Once the catalog answered: a failed attach must leave nothing behind.
            Path(target.data_path).mkdir(parents=True, exist_ok=True)
        conn.execute(f"USE {ALIAS}")
    except BaseException:
        conn.close()
        raise
    return conn

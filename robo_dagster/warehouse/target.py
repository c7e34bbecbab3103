"""Which warehouse the desk uses, and how to name it in one string.

``ROBO_WAREHOUSE`` picks one of two:

* ``duckdb`` (the default): one DuckDB file, ``ROBO_DUCKDB_PATH``; every robo-dagster
  process queues for it on a ``flock`` (``locking``).
* ``ducklake``: a DuckLake whose catalog is a Postgres database (``ROBO_LAKE_CATALOG_DB``,
  default ``robo_lake``, on the Dagster instance's server: ``DAGSTER_PG_HOST``,
  ``DAGSTER_PG_PORT``, ``DAGSTER_PG_USER``) and whose data are Parquet files under
  ``ROBO_LAKE_DATA_PATH``. Writers commit optimistically; no flock.

Either way the warehouse is one string, the ``database`` every caller already passes
around (``settings.duckdb_path()``, the I/O manager's and the resource's ``database``): a
file path, or a *lake target* such as
``ducklake:postgres:dbname=robo_lake host=127.0.0.1 port=5432 user=dagster data_path=/shared/lake``.
Only the warehouse package looks inside it.

The catalog's password (``DAGSTER_PG_PASSWORD``) is never part of the target, because the
target shows up in resource config, metadata and messages. It reaches libpq through the
process environment, ``PGPASSWORD``, set just before an ATTACH (``export_password``):
libpq reads it itself, so it never enters a DuckDB statement, a DuckDB setting or an error
message. ``scrub`` and ``redaction`` (``settings.SECRET_VARIABLES``) hide it anyway,
in case a library echoes it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WAREHOUSES = ("duckdb", "ducklake")
LAKE_PREFIX = "ducklake:postgres:"
DEFAULT_CATALOG_DB = "robo_lake"
DEFAULT_PG_HOST = "127.0.0.1"
DEFAULT_PG_PORT = 5432
DEFAULT_PG_USER = "postgres"
# libpq waits this long for the catalog's server before it gives up: a dead Postgres must
# fail a run with a clear message within seconds, not hang it.
CONNECT_TIMEOUT_S = 5
PASSWORD_VARIABLE = "DAGSTER_PG_PASSWORD"
DATA_PATH_VARIABLE = "ROBO_LAKE_DATA_PATH"

_PAIR = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def warehouse_kind() -> str:
    """``ROBO_WAREHOUSE``: duckdb (default, the single file) or ducklake."""
    value = (os.environ.get("ROBO_WAREHOUSE") or "duckdb").strip().lower()
    if value not in WAREHOUSES:
        raise ValueError(
            f"ROBO_WAREHOUSE={value!r} must be one of {', '.join(WAREHOUSES)} "
            "(duckdb: the single file ROBO_DUCKDB_PATH; ducklake: Postgres catalog + Parquet)"
        )
    return value


def is_lake(database: str) -> bool:
    """True when ``database`` names a DuckLake rather than a DuckDB file."""
    return database.startswith(LAKE_PREFIX)


def _quote(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquote(value: str) -> str:
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


@dataclass(frozen=True)
class LakeTarget:
    """A DuckLake: its Postgres catalog (without a password) and its data folder."""

    dbname: str
    host: str
    port: int
    user: str
    data_path: str
    connect_timeout_s: int = CONNECT_TIMEOUT_S

    def conninfo(self) -> str:
        """The libpq connection string of the catalog, with a connect timeout."""
        return (
            f"dbname={_quote(self.dbname)} host={_quote(self.host)} port={self.port} "
            f"user={_quote(self.user)} connect_timeout={self.connect_timeout_s}"
        )

    def render(self) -> str:
        """The target as the one ``database`` string callers pass around."""
        return f"{LAKE_PREFIX}{self.conninfo()} data_path={_quote(self.data_path)}"

    def describe(self) -> str:
        """A short human name: ``ducklake robo_lake@127.0.0.1:5432 (data /shared/lake)``."""
        return f"ducklake {self.dbname}@{self.host}:{self.port} (data {self.data_path})"

    @classmethod
    def parse(cls, database: str) -> LakeTarget:
        """The target in ``database`` (``render``'s format); ValueError when it is not one."""
        if not is_lake(database):
            raise ValueError(f"{database!r} is not a DuckLake target ({LAKE_PREFIX}...)")
        pairs = {k: _unquote(v) for k, v in _PAIR.findall(database[len(LAKE_PREFIX) :])}
        if "password" in pairs:
            raise ValueError(
                f"a DuckLake target must not carry the password: set {PASSWORD_VARIABLE} instead"
            )
        missing = [key for key in ("dbname", "data_path") if not pairs.get(key)]
        if missing:
            raise ValueError(f"DuckLake target lacks {', '.join(missing)}: {database!r}")
        return cls(
            dbname=pairs["dbname"],
            host=pairs.get("host", DEFAULT_PG_HOST),
            port=int(pairs.get("port", DEFAULT_PG_PORT)),
            user=pairs.get("user", DEFAULT_PG_USER),
            data_path=pairs["data_path"],
            connect_timeout_s=int(pairs.get("connect_timeout", CONNECT_TIMEOUT_S)),
        )


def lake_target_from_env() -> str:
    """The lake target the environment describes (``ROBO_WAREHOUSE=ducklake``); a clear
    ValueError naming the variable when one is missing or malformed."""
    raw_path = (os.environ.get(DATA_PATH_VARIABLE) or "").strip()
    if not raw_path:
        raise ValueError(
            f"ROBO_WAREHOUSE=ducklake needs {DATA_PATH_VARIABLE}: the shared folder where the "
            "lake's Parquet files live (every worker must see the same folder)"
        )
    raw_port = (os.environ.get("DAGSTER_PG_PORT") or str(DEFAULT_PG_PORT)).strip()
    try:
        port = int(raw_port)
    except ValueError:
        raise ValueError(f"DAGSTER_PG_PORT={raw_port!r} is not a TCP port") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"DAGSTER_PG_PORT={port} must be a TCP port, from 1 to 65535")
    return LakeTarget(
        dbname=(os.environ.get("ROBO_LAKE_CATALOG_DB") or DEFAULT_CATALOG_DB).strip(),
        host=(os.environ.get("DAGSTER_PG_HOST") or DEFAULT_PG_HOST).strip(),
        port=port,
        user=(os.environ.get("DAGSTER_PG_USER") or DEFAULT_PG_USER).strip(),
        data_path=str(Path(raw_path).expanduser().resolve()),
    ).render()


def selected(duckdb_file: Callable[[], str]) -> str:
    """The warehouse ``ROBO_WAREHOUSE`` selects, as its one string: the lake's target, or
    the single file ``duckdb_file()`` (``settings``, which validates ``ROBO_DUCKDB_PATH``)."""
    return lake_target_from_env() if warehouse_kind() == "ducklake" else duckdb_file()


def export_password() -> None:
    """Hand ``DAGSTER_PG_PASSWORD`` to libpq as ``PGPASSWORD`` (see the module docstring).
    Nothing happens when it is unset (trust auth, ``PGPASSWORD`` itself, a ``.pgpass``)."""
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        os.environ["PGPASSWORD"] = password


def scrub(text: str) -> str:
    """``text`` with the catalog's password replaced. The warehouse cannot use
    ``redaction`` (the dashboard imports the warehouse, and must not import what
    redaction does); the password is in ``settings.SECRET_VARIABLES`` too, so every
    redacted log line hides it as well."""
    for name in (PASSWORD_VARIABLE, "PGPASSWORD"):
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def describe(database: str) -> str:
    """``database`` as a person should read it: the file path, or the lake's short name."""
    return LakeTarget.parse(database).describe() if is_lake(database) else database


def side_folder(database: str) -> Path:
    """The local folder robo-dagster keeps its own files in beside the warehouse (the
    paper broker's orders, the disk metric's filesystem): the file's folder, or the lake's
    data folder. Never a folder named after a lake target."""
    if is_lake(database):
        return Path(LakeTarget.parse(database).data_path)
    return Path(database).expanduser().parent


def side_file(database: str, suffix: str) -> Path:
    """A file robo-dagster keeps beside the warehouse: ``<file><suffix>`` for the single
    file (``robo.duckdb.audit.jsonl``), ``<data path>/<catalog db><suffix>`` for a lake."""
    if is_lake(database):
        target = LakeTarget.parse(database)
        return Path(target.data_path) / f"{target.dbname}{suffix}"
    return Path(f"{database}{suffix}")

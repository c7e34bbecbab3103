"""Postgres and Redis as plain processes on 127.0.0.1, each in a folder of its own.

``make cluster`` and the cluster tests start them here, from Debian's packages
(``postgresql``, ``redis-server``), without Docker. Postgres refuses to run as root, so
when this process is root the server runs as the ``postgres`` user that the package
creates (through ``runuser``), in a data folder that user owns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30.0
_POSTGRES_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
_PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class MissingBinary(RuntimeError):
    """A service's program is not installed; the message says which package to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for folder in _PG_BIN_DIRS:  # Debian keeps initdb and pg_ctl off the PATH
        if (folder / name).exists():
            return str(folder / name)
    raise MissingBinary(f"{name} not found: install Postgres (Debian: apt-get install postgresql)")


def redis_binary() -> str:
    """The ``redis-server`` program, or ``MissingBinary`` saying what to install."""
    found = shutil.which("redis-server")
    if not found:
        raise MissingBinary(
            "redis-server not found: install Redis (Debian: apt-get install redis-server)"
        )
    return found


def missing_binaries() -> list[str]:
    """One line per program the cluster needs and this machine lacks."""
    missing = []
    for check in [*(lambda name=n: _pg_binary(name) for n in _POSTGRES_BINARIES), redis_binary]:
        try:
            check()
        except MissingBinary as exc:
            missing.append(str(exc))
    return missing


def _as_service_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _let_service_user_through(folder: Path) -> None:
    """Give ``postgres`` the right to traverse (not to list) every folder above
    ``folder``: a temporary folder is 0700 and root's, and the server must reach its
    data folder inside it."""
    for parent in folder.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _wait_for_port(port: int, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:g} s")


@dataclass(frozen=True)
class Postgres:
    """A Postgres server in ``folder`` on 127.0.0.1:``port``, trusting local connections."""

    folder: Path
    port: int
    user: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def dsn(self, database: str) -> str:
        """A libpq connection string for ``database`` (the form DuckLake's ATTACH takes)."""
        return f"dbname={database} host=127.0.0.1 port={self.port} user={self.user}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for ``database`` (the form Dagster's storage takes)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> Postgres:
        """initdb on first use, then start the server and wait until it accepts connections."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _let_service_user_through(self.folder)
            shutil.chown(self.folder, "postgres", "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [*_as_service_user(), _pg_binary("initdb"), "-D", str(self.data_dir),
                 "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
        options = f"-k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -p {self.port}"
        subprocess.run(
            [*_as_service_user(), _pg_binary("pg_ctl"), "-D", str(self.data_dir), "-o", options,
             "-l", str(self.folder / "postgres.log"), "-w", "-t", str(int(START_TIMEOUT_S)),
             "start"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        _wait_for_port(self.port, "Postgres")
        return self

    def stop(self) -> None:
        """Stop the server (fast mode: open connections are closed). Idempotent."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            [*_as_service_user(), _pg_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
             "-w", "stop"],
            check=False, capture_output=True, text=True,
        )  # fmt: skip

    def create_database(self, database: str) -> None:
        """Create ``database`` unless it exists."""
        psql = [_pg_binary("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        exists = subprocess.run(
            [*psql, "-tAc", f"select 1 from pg_database where datname = '{database}'", "postgres"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                [*psql, "-c", f'create database "{database}"', "postgres"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip


@dataclass(frozen=True)
class Redis:
    """A Redis server in ``folder`` on 127.0.0.1:``port``, without persistence."""

    folder: Path
    port: int

    @property
    def pid_file(self) -> Path:
        return self.folder / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> Redis:
        self.folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port), "--daemonize", "yes",
             "--pidfile", str(self.pid_file), "--dir", str(self.folder), "--save", "",
             "--appendonly", "no", "--logfile", str(self.folder / "redis.log")],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        _wait_for_port(self.port, "Redis")
        return self

    def stop(self) -> None:
        """SIGTERM the server and wait until it is gone. Idempotent."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

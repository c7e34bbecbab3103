"""One writer at a time per DuckDB file, across threads and processes.

DuckDB lets a single process hold a database file open for writing; every other process
that connects meanwhile gets an IOException. Dagster's multiprocess executor and parallel
runs would collide, so every connection robo-dagster opens first takes an exclusive
``flock`` on a sibling ``.lock`` file. The lock is held only while a connection is open
(an I/O manager read or write, a check's query), never during an asset's computation,
so steps still compute in parallel. The kernel drops the lock when a process dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT_S = 600.0
_POLL_S = 0.02

_thread_locks: dict[str, threading.RLock] = {}
_depth: dict[str, int] = {}
_fds: dict[str, int] = {}
_registry_lock = threading.Lock()


def _key(database: str) -> str:
    return str(Path(database).expanduser().resolve())


@contextmanager
def database_lock(database: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock of ``database`` (re-entrant within a thread)."""
    if database == ":memory:" or database.startswith("md:"):
        yield
        return
    key = _key(database)
    with _registry_lock:
        thread_lock = _thread_locks.setdefault(key, threading.RLock())
    if not thread_lock.acquire(timeout=timeout_s):
        raise TimeoutError(f"waited {timeout_s:.0f} s for another thread to release {database}")
    try:
        if _depth.get(key, 0) == 0:
            _fds[key] = _acquire_file_lock(key, timeout_s)
        _depth[key] = _depth.get(key, 0) + 1
        try:
            yield
        finally:
            _depth[key] -= 1
            if _depth[key] == 0:
                fd = _fds.pop(key)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
    finally:
        thread_lock.release()


def _acquire_file_lock(key: str, timeout_s: float) -> int:
    lock_path = Path(key + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise TimeoutError(
                    f"another robo-dagster process has held {key} for over {timeout_s:.0f} s"
                ) from None
            time.sleep(_POLL_S)

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

from robo_dagster.warehouse.target import is_lake

DEFAULT_TIMEOUT_S = 600.0
# A sensor's tick must end well within Dagster's 60 s evaluation deadline: it gives up
# after this long and skips, and the next tick tries again.
SENSOR_DEADLINE_S = 10.0
_POLL_S = 0.02

_thread_locks: dict[str, threading.RLock] = {}
_depth: dict[str, int] = {}
_fds: dict[str, int] = {}
_registry_lock = threading.Lock()


class WarehouseBusy(TimeoutError):
    """The DuckDB file stayed locked, by robo-dagster or another process, past the deadline."""


def _key(database: str) -> str:
    return str(Path(database).expanduser().resolve())


@contextmanager
def database_lock(database: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock of ``database`` (re-entrant within a thread). A DuckLake
    takes no lock: its writers commit optimistically (``retry``)."""
    if database == ":memory:" or database.startswith("md:") or is_lake(database):
        yield
        return
    key = _key(database)
    with _registry_lock:
        thread_lock = _thread_locks.setdefault(key, threading.RLock())
    if not thread_lock.acquire(timeout=timeout_s):
        raise WarehouseBusy(f"waited {timeout_s:.0f} s for another thread to release {database}")
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


WAIT_LOG_SUFFIX = ".lockwaits"
RECORDED_WAIT_S = 0.2  # shorter waits are ordinary queueing and not written down
MAX_WAIT_LOG_BYTES = 256 * 1024


def record_wait(database: str, waited_s: float, on: str) -> None:
    """Append a lock wait to the file beside the database, for ``robo-dagster status``:
    one line of Unix time, seconds waited, pid and what was waited on. The file is cut
    back to its newer half once it grows past 256 KiB."""
    if database == ":memory:" or is_lake(database) or waited_s < RECORDED_WAIT_S:
        return
    path = Path(_key(database) + WAIT_LOG_SUFFIX)
    try:
        with path.open("a") as log:
            log.write(f"{time.time():.3f}\t{waited_s:.3f}\t{os.getpid()}\t{on}\n")
        if path.stat().st_size > MAX_WAIT_LOG_BYTES:
            lines = path.read_text().splitlines(keepends=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text("".join(lines[len(lines) // 2 :]))
            os.replace(tmp, path)
    except OSError:
        pass  # a wait we cannot write down must never fail the write itself


def recent_waits(
    database: str, window_s: float, now: float | None = None
) -> list[tuple[float, float, int, str]]:
    """The lock waits recorded in the last ``window_s``: (time, seconds, pid, on). None
    for a lake, which has no lock."""
    if is_lake(database):
        return []
    path = Path(_key(database) + WAIT_LOG_SUFFIX)
    if not path.exists():
        return []
    cutoff = (time.time() if now is None else now) - window_s
    waits = []
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and float(parts[0]) >= cutoff:
            waits.append((float(parts[0]), float(parts[1]), int(parts[2]), parts[3]))
    return waits


def _acquire_file_lock(key: str, timeout_s: float) -> int:
    lock_path = Path(key + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_note(fd, f"pid {os.getpid()}")
            record_wait(key, time.monotonic() - started, "robo-dagster file lock")
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _read_note(fd)
                os.close(fd)
                record_wait(key, time.monotonic() - started, "robo-dagster file lock, given up")
                raise WarehouseBusy(
                    f"another robo-dagster process ({holder or 'pid unknown'}) has held {key} "
                    f"for over {timeout_s:.0f} s"
                ) from None
            time.sleep(_POLL_S)


def _write_note(fd: int, note: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode()[:MAX_NOTE_BYTES], 0)
    except OSError:
        pass  # the note only explains a wait; the lock is what matters


def _read_note(fd: int) -> str:
    try:
        return os.pread(fd, MAX_NOTE_BYTES, 0).decode(errors="replace").strip()
    except OSError:
        return ""


MAX_NOTE_BYTES = 400


def note_holder(database: str, note: str) -> None:
    """Say, in the lock file, what this process does while it holds the lock (e.g. that
    it waits for a process outside robo-dagster), so that a process that gives up waiting
    for it can name the real culprit. Does nothing unless this process holds the lock."""
    if database == ":memory:" or database.startswith("md:") or is_lake(database):
        return
    fd = _fds.get(_key(database))
    if fd is not None:
        _write_note(fd, f"pid {os.getpid()}" + (f", {note}" if note else ""))

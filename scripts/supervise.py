"""Run services until Ctrl-C or SIGTERM, then stop every process they started.

    python scripts/supervise.py [--grace 10] 'CMD' ['CMD' ...]

Each CMD is a shell command, started in its own process group, so that a signal
reaches every process it spawns (``dagster dev`` starts a webserver, a daemon and code
servers, and each run is a process of its own). On SIGINT or SIGTERM the supervisor
forwards the signal to every group, waits up to ``--grace`` seconds, then sends SIGKILL
to whatever is left: ``dagster dev`` alone can ignore a SIGTERM for minutes. When one
service exits by itself, the others are stopped the same way, and the supervisor exits
with its status. ``make ui`` and ``make run`` start their services through it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

import psutil

POLL_S = 0.1
# A killed process is gone once the kernel has torn it down: wait that long at most.
KILL_SETTLE_S = 5.0


def _alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (a zombie waiting for its parent
    to reap it runs no more)."""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def _signal_groups(groups: list[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):  # that group is already gone
            os.killpg(pgid, sig)


def stop(
    children: list[subprocess.Popen[bytes]],
    sig: int,
    grace_s: float,
    hurry: Callable[[], bool] = lambda: False,
) -> None:
    """Send ``sig`` to every child's group, then SIGKILL whatever outlives ``grace_s``
    (or is still there when ``hurry()``: a second Ctrl-C)."""
    groups = [child.pid for child in children]
    _signal_groups(groups, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not hurry():
        for child in children:
            child.poll()
        if not any(_alive(pgid) for pgid in groups):
            return
        time.sleep(POLL_S)
    left = [pgid for pgid in groups if _alive(pgid)]
    if left:
        print(
            f"supervise: process group(s) {', '.join(map(str, left))} still running after "
            f"{grace_s:g} s: killing them",
            file=sys.stderr,
            flush=True,
        )
        _signal_groups(left, signal.SIGKILL)
    for child in children:
        child.wait()
    settle = time.monotonic() + KILL_SETTLE_S
    while any(_alive(pgid) for pgid in groups) and time.monotonic() < settle:
        time.sleep(POLL_S)


def main(argv: list[str] | None = None) -> int:
    """Entry point; the exit status of the service that ended first (or 0 on a signal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=10.0, help="seconds before SIGKILL")
    parser.add_argument("commands", nargs="+", help="shell commands, one service each")
    args = parser.parse_args(argv)
    received: list[int] = []

    def on_signal(signum: int, _: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = [
        subprocess.Popen(["/bin/sh", "-c", command], start_new_session=True)
        for command in args.commands
    ]
    while not received:
        ended = [child for child in children if child.poll() is not None]
        if ended:
            stop(children, signal.SIGTERM, args.grace)
            return ended[0].returncode or 0
        time.sleep(POLL_S)
    stop(children, received[0], args.grace, hurry=lambda: len(received) > 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

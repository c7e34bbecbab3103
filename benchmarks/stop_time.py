"""How long ``make ui`` takes to stop: from SIGTERM to make (as ``kill`` sends it), or
SIGINT to its process group (as Ctrl-C does), until no process it started still runs.

    python benchmarks/stop_time.py --repeat 3

Each round starts ``make ui`` on a free port and a temporary instance, waits for the
webserver to answer, sends the signal and polls the processes every 0.05 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, free_port  # the benchmarks dir is not a package


def _running(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                count += 1
        except psutil.NoSuchProcess:
            continue
    return count


def one_stop(sig: int) -> tuple[float, int]:
    """(seconds until every started process was gone, how many processes there were)."""
    scratch = Path(tempfile.mkdtemp(prefix="stop_bench_"))
    port = free_port()
    venv = Path(sys.prefix)
    make = subprocess.Popen(
        [
            "make",
            "-C",
            str(ROOT),
            "-o",
            "install",
            "-o",
            f"{venv}/.installed",
            "ui",
            f"VENV={venv}",
            f"DAGSTER_HOME={scratch / 'home'}",
            f"PORT={port}",
        ],
        env={**os.environ, "ROBO_DUCKDB_PATH": str(scratch / "robo.duckdb")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    started = [p.pid for p in psutil.Process(make.pid).children(recursive=True)]
    begin = time.monotonic()
    if sig == signal.SIGINT:
        os.killpg(make.pid, sig)
    else:
        make.send_signal(sig)
    while _running([make.pid, *started]) and time.monotonic() - begin < 300:
        time.sleep(0.05)
    return time.monotonic() - begin, len(started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, sig in (
        ("SIGTERM to make", signal.SIGTERM),
        ("Ctrl-C (SIGINT to the group)", signal.SIGINT),
    ):
        times = []
        for _ in range(args.repeat):
            seconds, processes = one_stop(sig)
            times.append(seconds)
        print(
            f"{name:<30} median {statistics.median(times):5.2f} s  "
            f"runs {', '.join(f'{t:.2f}' for t in times)}  ({processes} processes)"
        )


if __name__ == "__main__":
    main()

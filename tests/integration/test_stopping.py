"""``make ui`` stops on SIGTERM: every process it started (the webserver, the daemon,
the code servers) is gone once make has exited."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def running(pids: list[int]) -> list[str]:
    """The processes of ``pids`` that still run (zombies do not), as "pid command"."""
    left = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_make_ui_leaves_no_process_behind(tmp_path: Path, sig: int) -> None:
    port = free_port()
    venv = Path(sys.prefix)
    log = tmp_path / "make_ui.log"
    env = {
        **os.environ,
        "ROBO_DUCKDB_PATH": str(tmp_path / "robo.duckdb"),
        "ROBO_AS_OF": "2026-11-25",
    }
    with log.open("w") as out:
        # -o: the venv running this test is the one to use; make must not reinstall it.
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
                f"DAGSTER_HOME={tmp_path / 'home'}",
                f"PORT={port}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started: list[int] = []
        try:
            wait_until_answering(f"http://127.0.0.1:{port}/server_info", make, log, 180)
            started = [p.pid for p in psutil.Process(make.pid).children(recursive=True)]
            assert any(
                "dagster_webserver" in c or "dagster-webserver" in c for c in running(started)
            )
            if sig == signal.SIGINT:
                os.killpg(make.pid, sig)  # Ctrl-C: the terminal signals the foreground group
            else:
                make.send_signal(sig)  # `kill`: make alone, which passes it to its recipe
            make.wait(timeout=120)
            deadline = time.monotonic() + 10
            while running(started) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert running(started) == [], log.read_text()[-3000:]
        finally:  # whatever the outcome, leave nothing of it running for the next test
            for pid in [make.pid, *started]:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()

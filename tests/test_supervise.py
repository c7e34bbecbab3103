"""``scripts/supervise.py``, which ``make ui`` and ``make run`` start their services
through: a signal stops every process a service started, a service that ignores it is
killed after the grace period, and one service ending stops the others."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
SUPERVISE = [sys.executable, str(ROOT / "scripts" / "supervise.py")]


def group_alive(pgid: int, settle_s: float = 10.0) -> bool:
    """Whether a process of ``pgid`` still runs once the kernel has had ``settle_s`` to
    tear down what was killed (zombies do not run)."""
    deadline = time.monotonic() + settle_s
    while True:
        running = [
            p
            for p in psutil.process_iter(["status"])
            if _pgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not running or time.monotonic() > deadline:
            return bool(running)
        time.sleep(0.05)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def started_group(pid_file: Path, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text().strip():
            return int(pid_file.read_text().split()[0])
        time.sleep(0.05)
    pytest.fail(f"the service never wrote {pid_file}")


def service(pid_file: Path, *, ignore_term: bool) -> str:
    """A shell that records its pid (its group's id), then waits on a child of its own;
    with ``ignore_term`` both ignore SIGTERM and SIGINT, as a stuck server would."""
    trap = 'trap "" TERM INT; ' if ignore_term else ""
    return f"{trap}echo $$ > {pid_file}; sleep 600; sleep 600"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_process_of_every_service(tmp_path: Path, sig: int) -> None:
    files = [tmp_path / "a.pid", tmp_path / "b.pid"]
    proc = subprocess.Popen(
        [*SUPERVISE, "--grace", "30", *(service(f, ignore_term=False) for f in files)]
    )
    groups = [started_group(f) for f in files]
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 0
    assert not any(group_alive(g) for g in groups)


def test_a_service_that_ignores_the_signal_is_killed_after_the_grace(tmp_path: Path) -> None:
    pid_file = tmp_path / "stuck.pid"
    proc = subprocess.Popen(
        [*SUPERVISE, "--grace", "0.5", service(pid_file, ignore_term=True)],
        stderr=subprocess.PIPE,
        text=True,
    )
    group = started_group(pid_file)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert f"process group(s) {group} still running after 0.5 s: killing them" in err
    assert not group_alive(group)


def test_a_second_ctrl_c_kills_at_once(tmp_path: Path) -> None:
    pid_file = tmp_path / "stuck.pid"
    # A grace far longer than the test's own timeout: only the second signal can end it.
    proc = subprocess.Popen([*SUPERVISE, "--grace", "3600", service(pid_file, ignore_term=True)])
    group = started_group(pid_file)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert not group_alive(group)


def test_when_one_service_exits_the_others_stop_and_its_status_is_returned(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "long.pid"
    proc = subprocess.Popen(
        [*SUPERVISE, "--grace", "30", service(pid_file, ignore_term=False), "sleep 0.5; exit 3"]
    )
    group = started_group(pid_file)
    assert proc.wait(timeout=60) == 3
    assert not group_alive(group)

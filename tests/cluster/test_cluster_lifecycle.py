"""`make cluster` brings the whole cluster up, `make cluster-stop` leaves nothing running,
and a missing program is one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from robo_dagster.cluster import local
from robo_dagster.cluster.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cluster_processes(root: Path) -> list[psutil.Process]:
    """Every process of the cluster: each Dagster process's whole group, Redis, and
    the Postgres server with its backends."""
    groups = {int(p.read_text()) for p in (root / "pids").glob("*.pid")}
    found = [p for p in psutil.process_iter() if _pgid(p) in groups]
    for pid_file in (root / "redis" / "redis.pid", root / "postgres" / "data" / "postmaster.pid"):
        if pid_file.exists():
            server = psutil.Process(int(pid_file.read_text().split()[0]))
            found += [server, *server.children(recursive=True)]
    return found


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


@pytest.mark.cluster
def test_make_cluster_then_cluster_stop_leaves_nothing_running(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    root = tmp_path / "c"
    ports = {"CLUSTER_PORT": free_port(), "CLUSTER_PG_PORT": free_port(),
             "CLUSTER_REDIS_PORT": free_port()}  # fmt: skip
    make = [
        "make", "-C", str(ROOT), f"VENV={venv}", "-o", f"{venv}/.installed",
        f"CLUSTER_DIR={root}", *(f"{k}={v}" for k, v in ports.items()),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBO_CELERY_", "DAGSTER_"))}
    env["ROBO_DUCKDB_PATH"] = str(tmp_path / "robo.duckdb")
    up = subprocess.run([*make, "cluster"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        assert f"http://127.0.0.1:{ports['CLUSTER_PORT']}" in up.stdout
        processes = _cluster_processes(root)
        names = {p.stem for p in (root / "pids").glob("*.pid")}
        assert names == {"webserver", "daemon", *local.WORKERS}
        assert all(_listening(port) for port in ports.values())
        # The workers' pools, the webserver's code server: more than the six started.
        assert len(processes) > 6
    finally:
        down = subprocess.run(
            [*make, "cluster-stop"], env=env, capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr[-2000:]
    alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert not any(_listening(port) for port in ports.values())
    assert not list((root / "pids").glob("*.pid"))


def test_a_missing_program_is_one_line_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on it
    assert local.main(["up", "--root", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "redis-server not found: install Redis (Debian: apt-get install redis-server)" in err
    assert not (tmp_path / "c").exists()  # nothing was started

"""A real ``dagster dev`` (webserver + daemon on 127.0.0.1) on a temporary instance with
the repo's dagster.yaml, shared by the slow integration tests."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from robo_dagster.settings import SAMPLE_PORTFOLIO_FILE
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_answering(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Wait for ``url`` to answer 200, failing with the log's tail if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout_s:.0f} s: {log.read_text()[-3000:]}")


@pytest.fixture()
def dagster_dev(tmp_path: Path) -> Iterator[dict[str, object]]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    # The sample book, with a sector limit its Information Technology weight (about 48 %
    # at AS_OF) is over, by less than 1.2 x: a check failing as an ERROR for the live
    # monitoring to pick up.
    book = json.loads(Path(SAMPLE_PORTFOLIO_FILE).read_text())
    book["limits"]["max_sector_weight"] = 0.45
    (tmp_path / "book.json").write_text(json.dumps(book))
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ROBO_DUCKDB_PATH": str(tmp_path / "robo.duckdb"),
        "ROBO_PORTFOLIO_FILE": str(tmp_path / "book.json"),
        "ROBO_AS_OF": AS_OF,
    }
    log = open(tmp_path / "dagster_dev.log", "w")  # noqa: SIM115
    # Its own process group (as `set -m` gives a shell job), so that one signal stops
    # the webserver, the daemon and the code server together.
    proc = subprocess.Popen(
        [
            str(BIN / "dagster"),
            "dev",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_answering(
            f"http://127.0.0.1:{port}/server_info", proc, tmp_path / "dagster_dev.log", 180
        )
        yield {"env": env, "home": home, "port": port, "db": env["ROBO_DUCKDB_PATH"]}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

"""``python -m robo_dagster.dashboard``: Streamlit headless on loopback, without usage
statistics, importing this checkout; a bad port is refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

import robo_dagster
from robo_dagster.dashboard import __main__ as launcher
from robo_dagster.dashboard.browser import running_dashboard


def test_the_command_is_headless_on_loopback_without_usage_stats() -> None:
    command = launcher.streamlit_command("127.0.0.1", 8600)
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert command[1:5] == ["-m", "streamlit", "run", str(launcher.APP)]
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8600"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
    env = launcher.streamlit_environment("127.0.0.1", 8600)
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert env["STREAMLIT_SERVER_HEADLESS"] == "true"
    # streamlit run puts only the app's folder on sys.path: this checkout must come first.
    first = env["PYTHONPATH"].split(os.pathsep)[0]
    assert Path(first) / "robo_dagster" == Path(robo_dagster.__file__).parent


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "70000"], {}, "--port 70000 must be a TCP port"),
        ([], {"DASHBOARD_PORT": "web"}, "DASHBOARD_PORT='web' is not a whole number"),
    ],
)
def test_a_bad_port_is_refused_before_streamlit_starts(
    args: list[str], env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "robo_dagster.dashboard", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_the_dashboard_serves_its_pages_on_loopback_only(tmp_path: Path) -> None:
    database = str(tmp_path / "robo.duckdb")
    with running_dashboard(database) as url:
        port = int(url.rsplit(":", 1)[1])
        listening = [
            c.laddr
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert listening and {address.ip for address in listening} == {"127.0.0.1"}
        for page in ("book", "alerts"):
            with urllib.request.urlopen(f"{url}/{page}", timeout=10) as answer:
                assert answer.status == 200
                assert b"<noscript>" in answer.read()  # Streamlit's page; it renders in JS
    assert not Path(database).exists()

"""``python -m robo_dagster.dashboard [--port 8501] [--host 127.0.0.1]``: start the desk
dashboard (Streamlit) headless, on loopback, without usage statistics.

It replaces itself with ``streamlit run`` (``exec``), so a supervisor's signals reach
Streamlit directly. The options are passed on the command line and as ``STREAMLIT_*``
variables alike, so neither ``~/.streamlit`` nor the working directory changes them,
and Streamlit never asks for an e-mail address.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from robo_dagster import settings

APP = Path(__file__).resolve().parent / "app.py"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
    ]


def streamlit_environment(host: str, port: int) -> dict[str, str]:
    """This process's environment for Streamlit: the same options as variables, and
    this checkout first on ``PYTHONPATH`` (``streamlit run`` puts only the script's
    folder on ``sys.path``, and another install of robo-dagster must not win)."""
    env = dict(os.environ)
    env.update(
        {
            "STREAMLIT_SERVER_ADDRESS": host,
            "STREAMLIT_SERVER_PORT": str(port),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            "STREAMLIT_CLIENT_TOOLBAR_MODE": "viewer",
        }
    )
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robo_dagster.dashboard", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="port (default DASHBOARD_PORT, else 8501)"
    )
    args = parser.parse_args(argv)
    try:
        port = args.port if args.port is not None else settings.dashboard_port()
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= port <= 65535:
        parser.error(f"--port {port} must be a TCP port, from 1 to 65535")
    print(f"robo-dagster dashboard: http://{args.host}:{port}", flush=True)
    os.execve(
        sys.executable, streamlit_command(args.host, port), streamlit_environment(args.host, port)
    )
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())

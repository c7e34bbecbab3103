"""Fixtures for the monitoring tests: a DuckDB file per test, a clean alert environment,
a scripted webhook receiver on 127.0.0.1 (recorded retry delays: ``sleeps`` in tests/conftest.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from .support import NO_TELEMETRY, TOKEN, WebhookReceiver


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ROBO_ALERT_WEBHOOK_URL",
        "ROBO_ALERT_MIN_SEVERITY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def alerts_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "robo.duckdb")
    monkeypatch.setenv("ROBO_DUCKDB_PATH", path)
    return path


@pytest.fixture(params=["ephemeral", "sqlite"])
def any_instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DagsterInstance]:
    """The in-memory instance tests usually use, and the run-sharded SQLite storage that
    ``dagster.yaml`` gives the real deployment (its cross-run index is what the cursor reads)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    if request.param == "ephemeral":
        with DagsterInstance.ephemeral(tempdir=str(home)) as inst:
            yield inst
    else:
        with DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY) as inst:
            yield inst


@pytest.fixture()
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def closed_port_url() -> str:
    """A webhook URL on a port nothing listens on: every POST is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/{TOKEN}"

"""The API under FastAPI's TestClient: a temporary DuckDB, a temporary Dagster instance,
two tokens, and no webserver (a closed port), so nothing here launches a run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from robo_dagster.api.app import ApiConfig, create_app
from robo_dagster.api.rate_limits import RateLimits, parse_rate_limits
from robo_dagster.api.tokens import TokenTable, parse_tokens

READER = "reader-0123456789abcdef-READ"
SUBMITTER = "submitter-0123456789abcdef-SUBMIT"
PUSHER = "pusher-0123456789abcdef-EVENTS"
TOKENS = f"dashboard:{READER}:read ops:{SUBMITTER}:read,submit feed:{PUSHER}:events"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def api_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    db = str(tmp_path / "robo.duckdb")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROBO_DUCKDB_PATH", db)
    monkeypatch.setenv("ROBO_AS_OF", "2026-11-25")
    monkeypatch.setenv("ROBO_API_TOKENS", TOKENS)
    return {"home": str(home), "db": db}


def make_client(api_env: dict[str, str], **overrides: Any) -> TestClient:
    config = ApiConfig(
        database=api_env["db"],
        tokens=TokenTable(parse_tokens(TOKENS, "test")),
        rate_limits=RateLimits(parse_rate_limits(overrides.pop("rate_limit", None))),
        **({"dagster_port": closed_port(), "poll_s": 0.2, "audit_flush_s": 0.1} | overrides),
    )
    return TestClient(create_app(config), client=("127.0.0.9", 50000))


@pytest.fixture()
def client(api_env: dict[str, str]) -> Iterator[TestClient]:
    with make_client(api_env) as test_client:
        yield test_client

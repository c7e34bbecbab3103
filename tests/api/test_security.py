"""Tokens, scopes, rate limits, body size and the audit log, through FastAPI's TestClient."""

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from robo_dagster.api.audit import list_audit
from robo_dagster.api.rate_limits import RateLimitConfigError, parse_rate_limits
from robo_dagster.api.serve import is_loopback
from robo_dagster.api.tokens import TokenConfigError, TokenTable, parse_tokens
from robo_dagster.cli.main import main
from robo_dagster.redaction import REDACTED, redact
from robo_dagster.warehouse.connection import locked_connection

from .conftest import PUSHER, READER, SUBMITTER, bearer, make_client

EVENT = {"type": "news", "symbol": "AAPL", "impact": 0.9, "sentiment": -0.5, "headline": "x"}


def audit_rows(db: str, wait_for: int, timeout_s: float = 20.0) -> list[dict]:
    """The audit rows once at least ``wait_for`` of them are there (spooled or stored)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = list_audit(db, limit=1000)
        if len(rows) >= wait_for or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_missing_or_unknown_token_is_401_and_a_missing_scope_403(
    client: TestClient, api_env: dict[str, str]
) -> None:
    missing = client.get("/api/v1/scheduling/status")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = client.get("/api/v1/scheduling/status", headers=bearer(READER + "x"))
    assert (unknown.status_code, unknown.json()["detail"]) == (401, "unknown token")
    basic = client.get("/api/v1/scheduling/status", headers={"Authorization": f"Basic {READER}"})
    assert basic.status_code == 401
    wrong = client.post("/api/v1/tasks", headers=bearer(READER), json={"target": "x"})
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "token 'dashboard' lacks the 'submit' scope"
    assert client.post("/api/v1/events", headers=bearer(SUBMITTER), json=EVENT).status_code == 403
    # Each refusal is audited, named by the token's name where it was known.
    rows = audit_rows(api_env["db"], 5)
    assert sorted((r["status"], r["outcome"], r["token_name"]) for r in rows) == [
        (401, "unauthorized", None),
        (401, "unauthorized", None),
        (401, "unauthorized", None),
        (403, "forbidden", "dashboard"),
        (403, "forbidden", "ops"),
    ]


def test_audit_rows_hold_the_token_name_but_never_the_token(
    api_env: dict[str, str],
) -> None:
    with make_client(api_env) as client:
        headers = bearer(PUSHER) | {"Idempotency-Key": f"key-{PUSHER}"}
        assert client.post("/api/v1/events", headers=headers, json=EVENT).status_code == 201
        client.post("/api/v1/tasks", headers=bearer(SUBMITTER), json={"target": SUBMITTER})
        client.get("/api/v1/monitoring/alerts", headers=bearer(READER + "-guess"))
        rows = audit_rows(api_env["db"], 3)
    assert {r["token_name"] for r in rows} == {"feed", "ops", None}
    event_row = next(r for r in rows if r["endpoint"] == "/api/v1/events")
    assert event_row["event_id"] == 1
    assert event_row["client"] == "127.0.0.9"
    assert '"symbol": "AAPL"' in event_row["summary"] or '"symbol":"AAPL"' in event_row["summary"]
    # Flushed into DuckDB when the service stops, and no part of any token is stored.
    assert not Path(api_env["db"] + ".audit.jsonl").exists()
    with duckdb.connect(api_env["db"], read_only=True) as conn:
        dump = str(conn.execute("select * from monitoring.audit_log").fetchall())
        assert conn.execute("select count(*) from monitoring.audit_log").fetchone() == (3,)
    for token in (PUSHER, SUBMITTER, READER):
        for i in range(len(token) - 8):
            assert token[i : i + 8] not in dump


def test_every_change_is_audited_with_its_outcome(
    client: TestClient, api_env: dict[str, str]
) -> None:
    client.post("/api/v1/tasks", headers=bearer(SUBMITTER), json={"target": "no_such_job"})
    client.post("/api/v1/orchestrate/sequential", headers=bearer(SUBMITTER))
    client.post("/api/v1/events", headers=bearer(PUSHER), json=EVENT | {"impact": True})
    rows = audit_rows(api_env["db"], 3)
    outcomes = {r["endpoint"]: (r["status"], r["outcome"]) for r in rows}
    assert outcomes == {
        "/api/v1/tasks": (422, "invalid"),
        "/api/v1/orchestrate/sequential": (503, "unavailable"),
        "/api/v1/events": (422, "invalid"),
    }
    assert "no job or asset named 'no_such_job'" in next(
        r["detail"] for r in rows if r["endpoint"] == "/api/v1/tasks"
    )
    # Reads are not audited.
    client.get("/api/v1/scheduling/status", headers=bearer(READER))
    time.sleep(0.3)
    assert len(list_audit(api_env["db"])) == 3


def test_the_audit_command_reads_the_log(
    client: TestClient, api_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client.post("/api/v1/events", headers=bearer(PUSHER), json=EVENT)
    audit_rows(api_env["db"], 1)
    assert main(["audit", "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "feed" in out and "/api/v1/events" in out and "accepted" in out
    assert PUSHER not in out
    assert main(["audit", "--since", "2099-01-01T00:00"]) == 0
    assert "no audit rows" in capsys.readouterr().out


def test_over_the_rate_limit_is_429_with_retry_after(api_env: dict[str, str]) -> None:
    with make_client(api_env, rate_limit="events=3/minute,read=2/minute") as client:
        codes = [
            client.post("/api/v1/events", headers=bearer(PUSHER), json=EVENT | {"impact": 0.1})
            for _ in range(4)
        ]
        assert [r.status_code for r in codes] == [201, 201, 201, 429]
        retry_after = int(codes[-1].headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert "rate limit" in codes[-1].json()["detail"]
        # Per token and per kind: another token, or another kind, is not held back.
        reads = [
            client.get(
                "/api/v1/runs/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12, headers=bearer(READER)
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in reads] == [404, 404, 429]
        other = client.get("/api/v1/scheduling/status", headers=bearer(SUBMITTER))
        assert other.status_code == 200
        rows = audit_rows(api_env["db"], 6)
    limited = [r for r in rows if r["outcome"] == "rate_limited"]
    assert {(r["token_name"], r["method"]) for r in limited} == {
        ("feed", "POST"),
        ("dashboard", "GET"),
    }


def test_a_body_over_64_kib_is_413_whether_declared_or_streamed(
    client: TestClient, api_env: dict[str, str]
) -> None:
    big = b'{"type": "news", "symbol": "AAPL", "impact": 0.9, "headline": "' + b"x" * 70_000 + b'"}'
    declared = client.post(
        "/api/v1/events", headers=bearer(PUSHER) | {"content-type": "application/json"}, content=big
    )
    assert declared.status_code == 413

    def chunks():  # no Content-Length: the limit counts what arrives
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    streamed = client.post(
        "/api/v1/events",
        headers=bearer(PUSHER) | {"content-type": "application/json"},
        content=chunks(),
    )
    assert streamed.status_code == 413
    assert not Path(api_env["db"]).exists() or _inbox_count(api_env["db"]) == 0
    rows = audit_rows(api_env["db"], 2)
    assert [r["outcome"] for r in rows] == ["too_large", "too_large"]


def _inbox_count(db: str) -> int:
    # Through the project's lock: the service in this process may be writing its audit.
    with locked_connection(db, read_only=True) as conn:
        try:
            return int(conn.execute("select count(*) from market_data.market_events").fetchone()[0])
        except duckdb.CatalogException:
            return 0


def test_token_entries_are_parsed_strictly_and_errors_never_show_a_token() -> None:
    tokens = parse_tokens(
        "a:0123456789abcdef0:read;b:abcdefghijklmnop1:submit,events\n", "ROBO_API_TOKENS"
    )
    assert [(t.name, sorted(t.scopes)) for t in tokens] == [
        ("a", ["read"]),
        ("b", ["events", "submit"]),
    ]
    assert "0123456789abcdef0" not in repr(tokens)
    table = TokenTable(tokens)
    assert table.match("abcdefghijklmnop1").name == "b"  # type: ignore[union-attr]
    assert table.match("abcdefghijklmnop") is None
    for text, reason in [
        ("a:short:read", "at least 16 characters"),
        ("a:0123456789abcdef0", "not name:token:scope"),
        ("a:0123456789abcdef0:admin", "unknown or no scopes admin"),
        ("a:0123456789abcdef0:read a:0123456789abcdef1:read", "appear twice"),
        ("a:0123456789abcdef0:read b:0123456789abcdef0:read", "share one token"),
        ("bad/name:0123456789abcdef0:read", "a name is"),
    ]:
        with pytest.raises(TokenConfigError, match=reason) as raised:
            parse_tokens(text, "ROBO_API_TOKENS")
        assert "0123456789abcdef" not in str(raised.value)


def test_redaction_hides_the_tokens_but_not_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    import robo_dagster.redaction as redaction

    monkeypatch.setattr(redaction, "_from_environment", False)
    monkeypatch.setattr(redaction, "_windows", set())
    monkeypatch.setattr(redaction, "_exact", set())
    monkeypatch.setenv("ROBO_API_TOKENS", "platform:Zq9xW2vR7tL4mN8pK3:read,submit")
    text = redact("platform sent Zq9xW2vR7tL4 (read,submit)")
    assert text == f"platform sent {REDACTED} (read,submit)"


def test_rate_limit_settings_are_checked() -> None:
    assert str(parse_rate_limits(None)["submit"]) == "60 per 1 minute"
    assert str(parse_rate_limits("10/second")["read"]) == "10 per 1 second"
    limits = parse_rate_limits("submit=5/minute")
    assert (str(limits["submit"]), str(limits["events"])) == ("5 per 1 minute", "600 per 1 minute")
    with pytest.raises(RateLimitConfigError, match="ROBO_API_RATE_LIMIT: unknown kind 'write'"):
        parse_rate_limits("write=5/minute")
    with pytest.raises(RateLimitConfigError, match="not a rate"):
        parse_rate_limits("submit=often")


def test_serve_refuses_an_open_api_off_loopback_and_bad_tokens(
    api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    env = {"ROBO_DUCKDB_PATH": api_env["db"], "DAGSTER_HOME": api_env["home"], "PATH": ""}
    cli = [sys.executable, "-m", "robo_dagster.cli", "serve", "--host", "0.0.0.0"]
    open_api = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert open_api.returncode == 2
    assert open_api.stderr.strip().splitlines() == [
        "refused: no API token is configured, so the API binds to loopback only, not 0.0.0.0; "
        "set ROBO_API_TOKENS (name:token:scope,...) to serve other addresses, behind a TLS proxy"
    ]
    bad = subprocess.run(
        cli,
        env=env | {"ROBO_API_TOKENS": "ops:tooShortSecret12:root"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "unknown or no scopes root" in bad.stderr and "tooShortSecret12" not in bad.stderr

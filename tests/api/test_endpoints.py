"""The endpoints through FastAPI's TestClient, on a temporary instance and DuckDB file:
reads, event pushes, a webserver that is down, the OpenAPI page and the WebSocket. The
launches themselves run against a live ``dagster dev`` (``tests/integration``)."""

import datetime as dt
import json

import pytest
from dagster import AssetExecutionContext, DagsterInstance, asset, materialize
from fastapi.testclient import TestClient

from robo_dagster.api.audit import list_audit
from robo_dagster.cli.main import main
from robo_dagster.market_data.inbox import INBOX_TABLE, ensure_inbox
from robo_dagster.monitoring.alerts import Alert, ensure_alerts, raise_alert, resolve_alerts
from robo_dagster.monitoring.metrics import Metric, write_metrics
from robo_dagster.tasks.queues import PRIORITY_TAG, QUEUE_TAG
from robo_dagster.tasks.status import queue_status
from robo_dagster.warehouse.connection import locked_connection

from .conftest import PUSHER, READER, SUBMITTER, bearer, closed_port, make_client

EVENT = {"type": "news", "symbol": "AAPL", "impact": 0.9, "sentiment": -0.5, "headline": "x"}
API = "/api/v1"


@asset
def toy(context: AssetExecutionContext) -> int:
    return 1


def a_run(tags: dict[str, str]) -> str:
    with DagsterInstance.get() as instance:
        return materialize([toy], instance=instance, tags=tags).run_id


def stored_events(db: str) -> list[tuple]:
    """The inbox's rows, read the way the service's own threads connect (one process
    cannot hold a file both read-only and read-write)."""
    with locked_connection(db) as conn:
        ensure_inbox(conn)
        return conn.execute(f"select id, source, payload from {INBOX_TABLE} order by id").fetchall()


def test_an_event_push_is_stored_once_per_key(api_env: dict[str, str]) -> None:
    with make_client(api_env) as client:
        post = lambda body, **h: client.post(  # noqa: E731
            f"{API}/events", headers=bearer(PUSHER) | h, json=body
        )
        first = post(EVENT, **{"Idempotency-Key": "tv-alert-1"})
        again = post(EVENT, **{"Idempotency-Key": "tv-alert-1"})
        assert (first.status_code, first.json()) == (201, {"event_id": 1, "duplicate": False})
        assert (again.status_code, again.json()) == (200, {"event_id": 1, "duplicate": True})
        conflict = post(EVENT | {"impact": 0.2}, **{"Idempotency-Key": "tv-alert-1"})
        assert conflict.status_code == 409
        assert "already names event 1" in conflict.json()["detail"]
        # The event's own external_id does the same without a header.
        by_id = [post(EVENT | {"external_id": "feed-77"}).json() for _ in range(2)]
        assert by_id == [{"event_id": 2, "duplicate": False}, {"event_id": 2, "duplicate": True}]
        assert post(EVENT).json()["event_id"] == 3  # no key: a new event each time
    rows = stored_events(api_env["db"])
    assert [(i, source) for i, source, _ in rows] == [
        (1, "api:feed"),
        (2, "api:feed"),
        (3, "api:feed"),
    ]
    assert json.loads(rows[1][2])["external_id"] == "feed-77"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"impact": True}, "impact", "valid number"),
        ({"volatility": "Infinity"}, "volatility", "finite number"),
        ({"impact": 1.5}, "impact", "less than or equal to 1"),
        ({"type": "rumour"}, "type", "'news', 'earnings', 'price_move' or 'other'"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"symbol": "ZZZZ"}, "symbol", "not in the universe"),
        ({"symbol": "not a ticker"}, "symbol", "malformed"),
    ],
)
def test_a_malformed_event_is_422_with_the_reason_and_stores_nothing(
    client: TestClient, api_env: dict[str, str], change: dict, field: str, reason: str
) -> None:
    body = json.dumps(EVENT | change).replace('"Infinity"', "Infinity")
    response = client.post(
        f"{API}/events",
        headers=bearer(PUSHER) | {"content-type": "application/json"},
        content=body,
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert reason in error["msg"]
    assert stored_events(api_env["db"]) == []


def test_not_json_is_422(client: TestClient) -> None:
    response = client.post(f"{API}/events", headers=bearer(PUSHER), content=b"{not json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_the_webserver_down_is_503_with_the_clis_line(
    api_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    assert main(["--port", str(port), "submit", "portfolio/positions"]) == 3
    cli_line = capsys.readouterr().err.strip()
    with make_client(api_env, dagster_port=port) as client:
        for path, body in [
            ("/tasks", {"target": "portfolio/positions"}),
            ("/orchestrate/parallel", {"max_concurrent": 2}),
            ("/ai/recommendations", {"risk_tolerance": "conservative"}),
            ("/ai/morning-prep", None),
            ("/ai/evening-review", {}),
        ]:
            response = client.post(f"{API}{path}", headers=bearer(SUBMITTER), json=body)
            assert (response.status_code, response.json()["detail"]) == (503, cli_line), path


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/tasks", {"target": "portfolio/positions", "priority": 11}, "less than or equal to 10"),
        ("/tasks", {"target": "market_data/news", "symbols": ["ZZZZ"]}, "unknown symbol(s) ZZZZ"),
        ("/tasks", {"target": "market_data/price_bars", "partition": "2026-07-03"}, "July 4th"),
        ("/tasks", {"target": "portfolio/positions", "after": ["yesterday"]}, "not a run id"),
        ("/tasks", {"target": "portfolio/positions", "priorty": 3}, "Extra inputs"),
        ("/orchestrate/sequential", {"max_concurrent": 2}, "parallel mode only"),
        ("/orchestrate/diagonal", None, "'sequential' or 'parallel'"),
        ("/ai/recommendations", {"max_recommendations": 50}, "max_recommendations"),
        ("/ai/morning-prep", {"risk_tolerance": "moderate"}, "Extra inputs"),
    ],
)
def test_a_bad_task_is_422_with_the_reason_and_launches_nothing(
    client: TestClient, path: str, body: dict | None, reason: str
) -> None:
    response = client.post(f"{API}{path}", headers=bearer(SUBMITTER), json=body)
    assert response.status_code == 422, response.text
    assert reason in json.dumps(response.json()["detail"])


def test_the_queue_and_a_run_read_as_the_cli_reads_them(client: TestClient) -> None:
    run_id = a_run({PRIORITY_TAG: "8", QUEUE_TAG: "ai_analysis"})
    status = client.get(f"{API}/scheduling/status", headers=bearer(READER))
    assert status.status_code == 200
    with DagsterInstance.get() as instance:
        expected = queue_status(instance)
    assert status.json() == json.loads(json.dumps(expected))
    assert status.json()["finished"][0]["run_id"] == run_id
    run = client.get(f"{API}/runs/{run_id}", headers=bearer(READER)).json()
    assert {
        k: run[k] for k in ("run_id", "status", "queue", "priority", "assets_materialized")
    } == {
        "run_id": run_id,
        "status": "SUCCESS",
        "queue": "ai_analysis",
        "priority": 8,
        "assets_materialized": ["toy"],
    }
    assert run["started_at"] <= run["ended_at"]
    missing = client.get(f"{API}/runs/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=bearer(READER))
    assert missing.status_code == 404


def test_alerts_and_metrics_read_as_the_cli_reads_them(
    client: TestClient, api_env: dict[str, str]
) -> None:
    at = dt.datetime(2026, 11, 25, 15, 0)
    with locked_connection(api_env["db"]) as conn:
        ensure_alerts(conn)
        raise_alert(
            conn, Alert(fingerprint="a", severity="WARNING", source="check", message="w"), at
        )
        raise_alert(
            conn, Alert(fingerprint="b", severity="CRITICAL", source="run", message="c"), at
        )
        resolve_alerts(conn, "a", at)
        write_metrics(conn, [Metric("queue_depth", 3.0, at, {"queue": "ai_analysis"})])
    alerts = client.get(f"{API}/monitoring/alerts", headers=bearer(READER)).json()
    assert [(a["fingerprint"], a["resolved_at"] is None) for a in alerts] == [
        ("b", True),
        ("a", False),
    ]
    open_critical = client.get(
        f"{API}/monitoring/alerts?severity=critical&unresolved=true", headers=bearer(READER)
    ).json()
    assert [a["fingerprint"] for a in open_critical] == ["b"]
    bad = client.get(f"{API}/monitoring/alerts?severity=dire", headers=bearer(READER))
    assert bad.status_code == 422 and "unknown alert severity 'dire'" in bad.text
    metrics = client.get(
        f"{API}/monitoring/metrics?name=queue_depth&since=2026-11-25T14:00", headers=bearer(READER)
    ).json()
    assert metrics == [
        {
            "measured_at": "2026-11-25T15:00:00",
            "name": "queue_depth",
            "value": 3.0,
            "tags": {"queue": "ai_analysis"},
        }
    ]
    assert (
        client.get(f"{API}/monitoring/metrics?since=soon", headers=bearer(READER)).status_code
        == 422
    )


def test_monitoring_status_is_the_status_commands(client: TestClient) -> None:
    response = client.get(f"{API}/monitoring/status", headers=bearer(READER))
    assert response.status_code == 200
    body = response.json()
    assert [h["name"] for h in body["health"]][:3] == ["definitions", "daemons", "duckdb"]
    assert body["critical"] is True  # no daemon runs here
    assert set(body["open_alerts"]) == {"CRITICAL", "ERROR", "WARNING", "INFO"}


def test_the_openapi_page_lists_every_endpoint_and_works_offline(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        f"{API}/{p}"
        for p in [
            "orchestrate/{mode}",
            "tasks",
            "ai/recommendations",
            "ai/morning-prep",
            "ai/evening-review",
            "scheduling/status",
            "monitoring/status",
            "monitoring/alerts",
            "monitoring/alerts/resolve",
            "monitoring/metrics",
            "runs/{run_id}",
            "events",
        ]
    }
    event_body = spec["paths"][f"{API}/events"]["post"]["requestBody"]
    assert "impact" in event_body["content"]["application/json"]["schema"]["properties"]
    assert "Launched" in spec["components"]["schemas"]
    page = client.get("/docs").text
    assert "cdn" not in page.lower()
    (script,) = [line.split('"')[1] for line in page.splitlines() if "<script src=" in line]
    assert client.get(script).status_code == 200


@pytest.mark.timeout(120)
def test_the_websocket_pushes_run_changes_and_alerts(
    client: TestClient, api_env: dict[str, str]
) -> None:
    with locked_connection(api_env["db"]) as conn:
        ensure_alerts(conn)
        raise_alert(
            conn,
            Alert(fingerprint="old", severity="ERROR", source="run", message="o"),
            dt.datetime(2026, 1, 1),
        )
    with client.websocket_connect(f"{API}/ws", headers=bearer(READER)) as ws:
        assert ws.receive_json()["type"] == "hello"
        run_id = a_run({PRIORITY_TAG: "9", QUEUE_TAG: "ai_analysis"})
        runs = [ws.receive_json(), ws.receive_json()]
        assert [(m["type"], m["status"], m["run_id"]) for m in runs] == [
            ("run", "started", run_id),
            ("run", "success", run_id),
        ]
        assert (runs[0]["priority"], runs[0]["queue"]) == (9, "ai_analysis")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with locked_connection(api_env["db"]) as conn:
            new_id = raise_alert(
                conn, Alert(fingerprint="new", severity="CRITICAL", source="run", message="n"), now
            )
        opened = ws.receive_json()
        assert (opened["type"], opened["event"], opened["id"], opened["severity"]) == (
            "alert",
            "new",
            new_id,
            "CRITICAL",
        )
        with locked_connection(api_env["db"]) as conn:
            resolve_alerts(conn, "new", now + dt.timedelta(seconds=1))
        resolved = ws.receive_json()
        assert (resolved["event"], resolved["id"]) == ("resolved", new_id)


def test_the_websocket_refuses_a_missing_token(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(f"{API}/ws"):
        pass
    assert refused.value.code == 1008


def test_an_event_push_waits_for_a_reader_in_the_same_process(
    client: TestClient, api_env: dict[str, str]
) -> None:
    """The service reads with read-only connections (the WebSocket's alerts, the
    monitoring reads) beside its writers; DuckDB refuses a read-write connection while
    one of those is open in the process, so the writer waits for it instead of failing."""
    import threading

    assert client.post(f"{API}/events", headers=bearer(PUSHER), json=EVENT).status_code == 201
    release = threading.Event()
    opened = threading.Event()

    def reader() -> None:
        from robo_dagster.monitoring.commands import read_only

        with read_only(api_env["db"], retry_s=10):  # once the audit thread lets go
            opened.set()
            release.wait(5)

    thread = threading.Thread(target=reader)
    thread.start()
    assert opened.wait(10)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    response = client.post(f"{API}/events", headers=bearer(PUSHER), json=EVENT)
    thread.join()
    assert (response.status_code, response.json()["event_id"]) == (201, 2)


def test_alerts_are_resolved_by_hand_with_the_submit_scope(
    client: TestClient, api_env: dict[str, str]
) -> None:
    at = dt.datetime(2026, 11, 25, 15, 0)
    run_id = "5f1c2a9e-0000-4000-8000-00000000abcd"
    with locked_connection(api_env["db"]) as conn:
        ensure_alerts(conn)
        step, run, other = (
            raise_alert(
                conn,
                Alert(fingerprint=fp, severity="ERROR", source="run", message=fp, run_id=rid),
                at,
            )
            for fp, rid in [
                (f"step:{run_id}:portfolio__positions", run_id),
                (f"run:{run_id}", run_id),
                ("run:other", None),
            ]
        )
    resolve = f"{API}/monitoring/alerts/resolve"
    assert client.post(resolve, headers=bearer(READER), json={"ids": [run]}).status_code == 403

    first = client.post(resolve, headers=bearer(SUBMITTER), json={"ids": [run], "reason": "re-run"})
    assert first.status_code == 200, first.text
    (body,) = first.json()
    assert (body["id"], body["already"], body["resolved_by"], body["resolution"]) == (
        run,
        False,
        "api:ops",
        "re-run",
    )
    by_run = client.post(resolve, headers=bearer(SUBMITTER), json={"run_id": run_id[:8]}).json()
    assert [(a["id"], a["already"]) for a in by_run] == [(step, False), (run, True)]

    missing = client.post(resolve, headers=bearer(SUBMITTER), json={"ids": [999]})
    assert missing.status_code == 404 and "no alert with id 999" in missing.json()["detail"]
    for bad in ({}, {"ids": [other], "run_id": run_id}, {"run_id": "zz-not-hex"}):
        assert client.post(resolve, headers=bearer(SUBMITTER), json=bad).status_code == 422

    listed = client.get(f"{API}/monitoring/alerts", headers=bearer(READER)).json()
    by_id = {a["id"]: a for a in listed}
    assert by_id[run]["resolved_by"] == by_id[step]["resolved_by"] == "api:ops"
    assert by_id[other]["resolved_at"] is None  # only what was asked for
    client.app.state.audit.stop()  # flushes the audit spool into DuckDB
    audited = [
        (r["token_name"], r["status"], r["detail"])
        for r in reversed(list_audit(api_env["db"], limit=100))
        if r["endpoint"] == resolve
    ]
    assert audited[:3] == [
        ("dashboard", 403, "token 'dashboard' lacks the 'submit' scope"),
        ("ops", 200, f"resolved alert(s) {run}"),
        ("ops", 200, f"resolved alert(s) {step}"),
    ]


def test_the_queue_of_one_target_and_a_misspelt_one(client: TestClient) -> None:
    run_id = a_run({QUEUE_TAG: "ai_analysis"})  # a run of "toy", no job or asset of the desk
    run = client.get(f"{API}/runs/{run_id}", headers=bearer(READER)).json()
    assert (run["job"], run["name"]) == ("__ephemeral_asset_job__", "toy")
    listed = client.get(
        f"{API}/scheduling/status?target=portfolio/positions", headers=bearer(READER)
    ).json()
    assert listed["target"] == "portfolio/positions" and listed["finished"] == []
    wrong = client.get(f"{API}/scheduling/status?target=portfolo/positions", headers=bearer(READER))
    assert wrong.status_code == 422
    assert "did you mean portfolio/positions?" in wrong.text

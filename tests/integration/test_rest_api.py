"""The REST API as other services call it: a live uvicorn (``robo-dagster serve``) in
front of a live ``dagster dev``. Launches go through the queue with the seed's
priorities, and the WebSocket sees a run start and succeed and the alert it raises."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance
from dagster_graphql import DagsterGraphQLClient
from websockets.sync.client import connect

from tests.integration.conftest import free_port, wait_until_answering

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow
TOKEN = "ops-0123456789abcdefghij-live"
FEED = "feed-0123456789abcdefghij-live"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def api(dagster_dev: dict[str, object], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(dagster_dev["env"])  # type: ignore[call-overload]
    env["ROBO_API_TOKENS"] = f"ops:{TOKEN}:read,submit feed:{FEED}:events"
    log = open(tmp_path / "api.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(BIN / "robo-dagster"),
            "--port",
            str(dagster_dev["port"]),
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/openapi.json", proc, tmp_path / "api.log", 60)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        text = (tmp_path / "api.log").read_text()
        assert TOKEN not in text and FEED not in text  # uvicorn's access log included


def test_launches_carry_the_seeds_priorities_and_the_websocket_sees_them(
    api: str, dagster_dev: dict[str, object]
) -> None:
    messages: list[dict] = []
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with connect(f"{api.replace('http', 'ws')}/api/v1/ws", additional_headers=AUTH) as ws:
            while not stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=1))
                except TimeoutError:
                    continue
                messages.append(message)
                if message["type"] == "hello":
                    ready.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(30), "no hello from the WebSocket"

    launched = httpx.post(f"{api}/api/v1/orchestrate/sequential", headers=AUTH, timeout=120)
    assert launched.status_code == 200, launched.text
    pipeline = launched.json()
    assert (pipeline["job"], pipeline["queue"], pipeline["priority"]) == (
        "sequential_pipeline",
        "data_fetcher",
        5,
    )
    seeds = {"recommendations": 9, "morning-prep": 8, "evening-review": 7}
    analyses = {}
    for name, priority in seeds.items():
        response = httpx.post(f"{api}/api/v1/ai/{name}", headers=AUTH, timeout=60)
        assert response.status_code == 200, response.text
        analyses[response.json()["run_id"]] = priority
    task = httpx.post(
        f"{api}/api/v1/tasks",
        headers=AUTH,
        json={"target": "portfolio/account_balances", "priority": 3, "after": [pipeline["run_id"]]},
        timeout=60,
    ).json()
    assert (task["queue"], task["priority"]) == ("portfolio_sync", 3)
    for run_id, priority in {**analyses, task["run_id"]: 3}.items():
        view = httpx.get(f"{api}/api/v1/runs/{run_id}", headers=AUTH, timeout=30).json()
        assert view["priority"] == priority, view

    feed = {"Authorization": f"Bearer {FEED}", "Idempotency-Key": "tv-1"}
    event = {"type": "news", "symbol": "AAPL", "impact": 0.2, "headline": "live"}
    pushes = [
        httpx.post(f"{api}/api/v1/events", headers=feed, json=event, timeout=60) for _ in "ab"
    ]
    assert [p.status_code for p in pushes] == [201, 200]
    assert pushes[0].json()["event_id"] == pushes[1].json()["event_id"]

    def seen(predicate) -> bool:
        return any(predicate(m) for m in list(messages))

    run_id = pipeline["run_id"]
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        ended = seen(
            lambda m: m.get("run_id") == run_id and m.get("status") in ("success", "failure")
        )
        concentration = seen(
            lambda m: m["type"] == "alert" and "concentration_within_limit" in m["fingerprint"]
        )
        if ended and concentration:
            break
        time.sleep(1)
    stop.set()
    statuses = [m["status"] for m in messages if m["type"] == "run" and m["run_id"] == run_id]
    assert statuses[:1] == ["queued"] and "started" in statuses, messages
    assert statuses[-1] == "success", messages
    alerts = [m for m in messages if m["type"] == "alert" and m["event"] == "new"]
    assert any("concentration_within_limit" in m["fingerprint"] for m in alerts), alerts

    # The parallel mode, with its step limit in the run's config. It is stopped once seen:
    # the whole graph again would only lengthen the test.
    parallel = httpx.post(
        f"{api}/api/v1/orchestrate/parallel",
        headers=AUTH,
        json={"max_concurrent": 2, "priority": 4},
        timeout=60,
    )
    assert parallel.status_code == 200, parallel.text
    assert (parallel.json()["job"], parallel.json()["priority"]) == ("parallel_pipeline", 4)
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        run = instance.get_run_by_id(parallel.json()["run_id"])
        assert run is not None
        assert run.run_config["execution"]["config"]["max_concurrent"] == 2
    DagsterGraphQLClient("127.0.0.1", port_number=int(dagster_dev["port"])).terminate_run(  # type: ignore[arg-type]
        run.run_id
    )

    status = httpx.get(f"{api}/api/v1/scheduling/status", headers=AUTH, timeout=30).json()
    assert set(status) == {"target", "queued", "running", "held", "finished"}
    assert status["target"] is None  # no ?target=: every run listed
    # One audit row per change, read back by the CLI, with no token in it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = subprocess.run(
            [str(BIN / "robo-dagster"), "audit", "--json", "--limit", "50"],
            env=dagster_dev["env"],  # type: ignore[arg-type]
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        if len(rows) >= 8:
            break
        time.sleep(1)
    assert sorted((r["endpoint"], r["status"]) for r in rows) == sorted(
        [("/api/v1/orchestrate/sequential", 200), ("/api/v1/orchestrate/parallel", 200)]
        + [("/api/v1/tasks", 200)]
        + [(f"/api/v1/ai/{name}", 200) for name in seeds]
        + [("/api/v1/events", 201), ("/api/v1/events", 200)]
    )
    assert {r["run_id"] for r in rows if r["run_id"]} == {
        run_id,
        run.run_id,
        task["run_id"],
        *analyses,
    }
    assert TOKEN not in listed.stdout and FEED not in listed.stdout

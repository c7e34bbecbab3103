"""A real ``dagster dev`` (webserver + daemon on 127.0.0.1) with the repo's dagster.yaml:
the job launched from the CLI goes through the queue and lands in DuckDB, and the daemon's
monitoring sensors turn its failed WARN check into an alert the UI and the CLI show."""

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from tests.conftest import range_tags, session_range

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def test_cli_launch_goes_through_the_queue_and_lands_in_duckdb(
    dagster_dev: dict[str, object],
) -> None:
    env = dagster_dev["env"]
    first, last = session_range(30)
    launched = subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "launch",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-j",
            "sequential_pipeline",
            "--tags",
            json.dumps(range_tags(first, last)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,  # type: ignore[arg-type]
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            runs = instance.get_runs()
            if runs and runs[0].status in (
                DagsterRunStatus.SUCCESS,
                DagsterRunStatus.FAILURE,
                DagsterRunStatus.CANCELED,
            ):
                break
            time.sleep(2)
        run = instance.get_runs()[0]
        assert run.status == DagsterRunStatus.SUCCESS, run.status
        queued = [
            e
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_ENQUEUED
        ]
        assert queued, "the run did not go through the queued run coordinator"
    with duckdb.connect(str(dagster_dev["db"]), read_only=True) as conn:
        assert conn.execute(
            "select count(distinct date) from market_data.price_bars"
        ).fetchone() == (30,)
        assert conn.execute("select count(*) from portfolio.positions").fetchone()[0] == 9
    # The UI's GraphQL endpoint knows both pipelines.
    response = httpx.post(
        f"http://127.0.0.1:{dagster_dev['port']}/graphql",
        json={
            "query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
        },
        timeout=30,
    )
    jobs = {
        j["name"]
        for node in response.json()["data"]["repositoriesOrError"]["nodes"]
        for j in node["jobs"]
    }
    assert {"sequential_pipeline", "parallel_pipeline"} <= jobs

    # The book (conftest) fails concentration_within_limit as an ERROR: its sector is past
    # the limit (domain.severity), and the alert takes that level. Under the live daemon,
    # alerts_sensor records it and reports the monitoring/alerts asset with the summary.
    check = "concentration_within_limit"
    summary = ""
    with DagsterInstance.from_config(str(dagster_dev["home"])) as instance:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            entry = instance.get_latest_materialization_event(AssetKey(["monitoring", "alerts"]))
            if entry is not None and entry.asset_materialization is not None:
                summary = str(entry.asset_materialization.metadata["alert_summary"].value)
                if check in summary:
                    break
            time.sleep(2)
    assert check in summary and "ERROR" in summary, summary
    listed = subprocess.run(
        [str(BIN / "robo-dagster"), "alerts", "--unresolved", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # type: ignore[arg-type]
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    alerts = json.loads(listed.stdout)
    assert any(a["check_name"] == check and a["severity"] == "ERROR" for a in alerts), alerts

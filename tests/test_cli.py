"""``robo-dagster`` refuses bad tasks before launch, with the reason and exit status 2,
and says how to start the webserver when none answers (exit status 3)."""

import json
import socket
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from robo_dagster.cli.main import main
from robo_dagster.tasks.submission import (
    ASSET_JOB,
    PARTITION_TAG,
    plan_task,
    recommendations_config,
)
from tests.conftest import tiny


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # released on close: nothing listens there


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["submit", "no_such_job"], "no job or asset named 'no_such_job'"),
        (["submit", "portfolio/positions", "--priority", "11"], "1 (BACKGROUND) to 10 (CRITICAL)"),
        (["submit", "market_data/news", "--symbols", "AAPL", "ZZZZ"], "unknown symbol(s) ZZZZ"),
        (["submit", "market_data/news", "--symbols", "not a ticker"], "malformed"),
        (["submit", "market_data/price_bars", "--partition", "2026-11-26"], "Thanksgiving"),
        (["ai", "recommendations", "--max-recommendations", "50"], "max_recommendations"),
        (["ai", "morning-prep", "--max-recommendations", "3"], "apply to recommendations"),
        (["orchestrate", "sequential", "--max-concurrent", "2"], "parallel mode only"),
        (["submit", "portfolio/positions", "--after", "last-night"], "not a run id: last-night"),
        (
            ["submit", "ai_analysis/trade_recommendations", "--partition", "2026-11-28"],
            "ai_analysis/trade_recommendations is not partitioned",
        ),
        (["submit", "morning_prep_job", "--partition", "2026-11-25"], "is not partitioned"),
        (
            ["submit", "market_data/price_bars", "--partition", "2099-01-05"],
            "that session has not closed yet",
        ),
    ],
)
def test_bad_tasks_are_refused_before_launch(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A closed port: had the task passed validation, it would have failed with 3.
    assert main(["--port", str(closed_port()), *argv]) == 2
    assert reason in capsys.readouterr().err


def test_no_webserver_gives_one_line_saying_how_to_start_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = closed_port()
    assert main(["--port", str(port), "ai", "recommendations", "--priority", "9"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"no Dagster webserver at http://127.0.0.1:{port}" in err and "make ui" in err


def test_tasks_carry_their_queue_priority_partition_and_options() -> None:
    asset = plan_task("portfolio/account_balances", 7)
    assert asset.job_name == ASSET_JOB
    assert asset.tags["robo/queue"] == "portfolio_sync" and asset.tags["dagster/priority"] == "7"
    bars = plan_task("market_data/price_bars", partition="2026-11-27")
    assert bars.tags[PARTITION_TAG] == "2026-11-27"
    config = recommendations_config("conservative", 3)
    assert config == {
        "ops": {
            "ai_analysis__trade_recommendations": {
                "config": {"risk_tolerance": "conservative", "max_recommendations": 3}
            }
        }
    }
    job = plan_task("recommendations_job", symbols=["aapl"], run_config=config)
    assert job.tags["robo/symbols"] == "AAPL" and job.run_config == config


def test_tasks_shows_running_runs_per_queue_and_the_latest_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:
        done = tiny.execute_in_process(instance=instance, tags={"robo/queue": "portfolio_sync"})
        running = instance.create_run_for_job(
            tiny,
            status=DagsterRunStatus.STARTED,
            tags={"robo/queue": "ai_analysis", "dagster/priority": "9"},
        )
    assert main(["tasks", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"]["ai_analysis"] == {
        "limit": 2,
        "running": [running.run_id],
        "runs": [
            {
                "run_id": running.run_id,
                "job": "tiny",
                "name": "tiny",
                "assets": [],
                "priority": 9,
                "queue": "ai_analysis",
            }
        ],
    }
    assert status["running"]["portfolio_sync"] == {"limit": 1, "running": [], "runs": []}
    assert [f["run_id"] for f in status["finished"]] == [done.run_id]
    assert status["finished"][0]["status"] == "SUCCESS"
    assert main(["tasks"]) == 0
    text = capsys.readouterr().out
    assert f"ai_analysis     1 of 2: {running.run_id[:8]} tiny" in text


def test_tasks_without_an_instance_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "missing"))
    assert main(["tasks"]) == 3
    assert "run `make run` first" in capsys.readouterr().err


def test_queued_runs_dequeue_by_priority_then_age() -> None:
    from robo_dagster.tasks.status import dequeue_order

    class Record:  # the two fields the order reads, as a RunRecord has them
        def __init__(self, priority: str, created: int) -> None:
            self.dagster_run = type("Run", (), {"tags": {"dagster/priority": priority}})()
            self.create_timestamp = created

    records = [Record("5", 1), Record("10", 3), Record("5", 0), Record("9", 2)]
    ordered = dequeue_order(records)  # type: ignore[arg-type]
    assert [(r.dagster_run.tags["dagster/priority"], r.create_timestamp) for r in ordered] == [
        ("10", 3),
        ("9", 2),
        ("5", 0),
        ("5", 1),
    ]

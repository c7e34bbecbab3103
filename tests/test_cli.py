"""``robo-dagster`` refuses bad tasks before launch, with the reason and exit status 2,
and says how to start the webserver when none answers (exit status 3)."""

import socket

import pytest

from robo_dagster.cli import main
from robo_dagster.submission import ASSET_JOB, PARTITION_TAG, plan_task, recommendations_config


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

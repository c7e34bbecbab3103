"""``python -m robo_dagster.cli.quickstart`` as `make run` runs it: a real process on a
temporary instance and DuckDB file, on a small configuration."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import AssetExecutionContext, DagsterEventType, DagsterInstance, asset, materialize

from robo_dagster.cli import quickstart
from robo_dagster.domain import calendar
from robo_dagster.providers import SimulatedMarketData
from robo_dagster.settings import SAMPLE_PORTFOLIO_FILE
from tests.conftest import AS_OF

REPO = Path(__file__).resolve().parents[1]
PROGRESS = re.compile(r"^robo-dagster: \[(\d+)/(\d+)\] (.*)$")


# Slow (30-95 s): the quickstart in a subprocess, a backfill and the graph. CI runs it with -m slow.
@pytest.mark.slow
def test_quickstart_prints_one_progress_line_per_stage_and_no_debug_line(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ROBO_DUCKDB_PATH": str(tmp_path / "robo.duckdb"),
        "ROBO_CACHE_DIR": str(tmp_path / "cache"),
        "ROBO_AS_OF": AS_OF,
        "ROBO_MARKET_DATA": "sim",
        "ROBO_BROKER": "paper",
    }
    run = subprocess.run(
        [sys.executable, "-m", "robo_dagster.cli.quickstart", "--sessions", "40", "--replays", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    printed = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, "\n".join(printed[-60:])

    assert not [line for line in printed if " - DEBUG - " in line]
    # Dagster's INFO lines still come through (the backfill's fetch, twice).
    assert sum(" - INFO - " in line and "fetching 11 symbols" in line for line in printed) == 2
    stages = [match.groups() for line in run.stdout.splitlines() if (match := PROGRESS.match(line))]
    assert [(int(n), int(total)) for n, total, _ in stages] == [(n, 5) for n in range(1, 6)]
    messages = [message for _, _, message in stages]
    assert messages[0].startswith("backfilling 40 sessions of price bars and indicators")
    assert messages[1].startswith("replaying the analyses as of 2026-11-11 (replay 1 of 2)")
    assert messages[2].startswith("replaying the analyses as of 2026-11-18 (replay 2 of 2)")
    assert messages[3].startswith(
        "running sequential_pipeline over sessions 2026-10-01 .. 2026-11-25"
    )
    assert messages[4] == "publishing the readers' snapshot"
    assert "robo-dagster: 2 of 2 replays succeeded" in run.stdout
    # Orders go out only through execution_job: neither the replays nor the pipeline
    # sized or submitted any.
    with duckdb.connect(str(tmp_path / "robo.duckdb"), read_only=True) as conn:
        schemas = {
            name for (name,) in conn.execute("select schema_name from duckdb_tables()").fetchall()
        }
    assert "ai_analysis" in schemas and "execution" not in schemas
    with duckdb.connect(str(tmp_path / "robo.duckdb"), read_only=True) as conn:
        scored = conn.execute(
            "select avg(hit::double), count(*) from ai_analysis.recommendation_scorecard "
            "where matured"
        ).fetchone()
    assert scored is not None and scored[1] > 0  # the replays' recommendations matured

    # Only the terminal is quieter: the run's event log, which the UI's run page reads,
    # keeps the events Dagster logs at DEBUG (every step's start, every materialization).
    with DagsterInstance.from_config(str(home)) as instance:
        [pipeline] = instance.get_runs()
        records = instance.all_logs(pipeline.run_id)
    assert pipeline.job_name == "sequential_pipeline" and pipeline.is_success
    started = [r for r in records if r.dagster_event_type == DagsterEventType.STEP_START]
    succeeded = [r for r in records if r.dagster_event_type == DagsterEventType.STEP_SUCCESS]
    assert len(started) == len(succeeded) > 10
    assert all(r.level == logging.DEBUG for r in started)
    assert any(r.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION for r in records)
    # The scorecard's hit rate is a number on its materialization: the UI plots it.
    [scorecard] = [
        r.asset_materialization
        for r in records
        if r.asset_materialization is not None
        and r.asset_materialization.asset_key.path[-1] == "recommendation_scorecard"
    ]
    assert scorecard.metadata["hit_rate"].value == pytest.approx(scored[0])


def test_runs_on_the_repos_instance_print_from_info_up_and_keep_every_event(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The runs `dagster dev` launches print what the instance's ``python_log_level``
    lets through; the UI's run page reads the event log, which keeps the DEBUG events."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")

    @asset
    def prices(context: AssetExecutionContext) -> int:
        context.log.info("priced 3 symbols")
        return 3

    with DagsterInstance.from_config(str(home)) as instance:
        result = materialize([prices], instance=instance)
        records = instance.all_logs(result.run_id)
    printed = capfd.readouterr().err.splitlines()

    assert result.success
    assert [line for line in printed if " - INFO - " in line and "priced 3 symbols" in line]
    assert not [line for line in printed if " - DEBUG - " in line]
    debug_events = {r.dagster_event_type for r in records if r.level == logging.DEBUG}
    assert {DagsterEventType.STEP_START, DagsterEventType.ASSET_MATERIALIZATION} <= debug_events


def test_the_default_backfill_reaches_back_to_the_accounts_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = SimulatedMarketData(as_of=AS_OF)
    since_sample = calendar.session_index(
        json.loads(SAMPLE_PORTFOLIO_FILE.read_text())["opened_on"], AS_OF
    )
    assert len(since_sample) > quickstart.DEFAULT_SESSIONS
    assert quickstart.default_sessions(market) == len(since_sample)
    recent = json.loads(SAMPLE_PORTFOLIO_FILE.read_text()) | {
        "opened_on": "2026-06-01",
        "trades": [],
    }
    (tmp_path / "recent.json").write_text(json.dumps(recent))
    monkeypatch.setenv("ROBO_PORTFOLIO_FILE", str(tmp_path / "recent.json"))
    assert quickstart.default_sessions(market) == quickstart.DEFAULT_SESSIONS
    (tmp_path / "recent.json").write_text("{not json")
    assert quickstart.default_sessions(market) == quickstart.DEFAULT_SESSIONS

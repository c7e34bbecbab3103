"""A run is named by its job, or, for Dagster's anonymous asset jobs (``__ASSET_JOB``,
``materialize()``'s ``__ephemeral_asset_job__``), by the assets it was launched for, in
``robo-dagster tasks`` (text and JSON), ``tasks TARGET`` and ``status``; real runs in a
real instance under ``DAGSTER_HOME``."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, asset, materialize
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from robo_dagster.cli.main import main
from robo_dagster.portfolio.assets import account_balances
from robo_dagster.tasks.run_names import RunNamer, is_anonymous_job, shorten_names
from robo_dagster.tasks.submission import ASSET_JOB, plan_task
from tests.conftest import tiny

# A queued run must say where the daemon would load its job from; it is never launched here.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="robo_dagster.definitions")),
        "__repository__",
    ),
    ASSET_JOB,
)
PORTFOLIO = ["portfolio/positions", "portfolio/account_balances", "portfolio/portfolio_pnl"]


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    path = tmp_path / "dagster_home"
    path.mkdir()
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    monkeypatch.setenv("ROBO_DUCKDB_PATH", str(tmp_path / "robo.duckdb"))
    monkeypatch.setenv("ROBO_AS_OF", "2026-11-25")
    with DagsterInstance.get() as instance:
        yield instance


def queue_assets(instance: DagsterInstance, keys: list[str], **tags: str) -> DagsterRun:
    """An ``__ASSET_JOB`` run of ``keys``, queued as ``robo-dagster submit`` leaves it."""
    from robo_dagster.definitions import defs

    return instance.create_run_for_job(
        defs.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset(AssetKey.from_user_string(k) for k in keys),
        status=DagsterRunStatus.QUEUED,
        remote_job_origin=ORIGIN,
        tags={"robo/queue": "portfolio_sync", **tags},
    )


@pytest.mark.parametrize(
    ("names", "width", "expected"),
    [
        ([], 40, ""),
        (["portfolio/positions"], 40, "portfolio/positions"),
        (["a/b", "c/d"], 40, "a/b, c/d"),
        (
            ["portfolio/positions", "portfolio/pnl", "portfolio/risk", "x/y"],
            22,
            "portfolio/positions +3",
        ),
        (["a/b", "c/d", "e/f", "g/h"], 14, "a/b, c/d +2"),
        # The first name is never cut, even wider than the budget.
        (["ai_analysis/trade_recommendations", "b/c"], 10, "ai_analysis/trade_recommendations +1"),
    ],
)
def test_names_are_shortened_to_the_first_that_fit_and_a_count(
    names: list[str], width: int, expected: str
) -> None:
    assert shorten_names(names, width) == expected
    assert is_anonymous_job(ASSET_JOB) and is_anonymous_job("__ephemeral_asset_job__")
    assert not is_anonymous_job("portfolio_sync_job")


def test_a_task_is_named_by_its_assets_or_its_job() -> None:
    asset_task = plan_task("portfolio/positions")
    assert (asset_task.job_name, asset_task.name) == (ASSET_JOB, "portfolio/positions")
    assert plan_task("morning_prep_job").name == "morning_prep_job"


def test_a_run_is_named_by_its_selection_its_plan_or_its_job(
    home: DagsterInstance, resources: dict[str, Any]
) -> None:
    selected = queue_assets(home, [*PORTFOLIO, "market_data/universe"])
    one = queue_assets(home, ["portfolio/positions"])

    @asset(key=["scratch", "first"])
    def first() -> int:
        return 1

    @asset(key=["scratch", "second"], deps=[first])
    def second() -> int:
        return 2

    # materialize() selects no assets: its run is built for exactly its steps.
    planned = materialize([first, second], instance=home).run_id
    subset = materialize([first, second], instance=home, selection=[second.key]).run_id
    op_job = tiny.execute_in_process(instance=home).run_id

    namer = RunNamer(home, width=40)
    run = home.get_run_by_id
    assert namer.assets(selected) == sorted([*PORTFOLIO, "market_data/universe"])
    assert namer.name(selected) == "market_data/universe +3"
    assert namer.name(one) == "portfolio/positions"
    assert namer.assets(run(planned)) == ["scratch/first", "scratch/second"]
    assert namer.name(run(planned)) == "scratch/first, scratch/second"
    assert namer.name(run(subset)) == "scratch/second"
    assert (namer.name(run(op_job)), namer.assets(run(op_job))) == ("tiny", [])


def test_tasks_shows_a_one_off_run_by_its_assets(
    home: DagsterInstance, resources: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    queued = queue_assets(
        home, [*PORTFOLIO, "portfolio/sector_exposure"], **{"dagster/priority": "7"}
    )
    done = materialize([account_balances], instance=home, resources=resources).run_id

    assert main(["tasks", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    (waiting,) = status["queued"]
    assert (waiting["run_id"], waiting["job"]) == (queued.run_id, ASSET_JOB)
    assert waiting["assets"] == sorted([*PORTFOLIO, "portfolio/sector_exposure"])
    assert waiting["name"] == "portfolio/account_balances +3"
    (finished,) = status["finished"]
    assert finished["run_id"] == done and finished["name"] == "portfolio/account_balances"

    assert main(["tasks"]) == 0
    text = capsys.readouterr().out
    assert "__ASSET_JOB" not in text and "__ephemeral" not in text
    assert f"{queued.run_id[:8]}  p7  portfolio_sync  portfolio/account_balances +3" in text
    assert f"{done[:8]}  SUCCESS  portfolio/account_balances" in text

    assert main(["status", "--json"]) in (0, 1)  # 1: no daemon runs here
    last = {r["name"]: r for r in json.loads(capsys.readouterr().out)["last_runs"]}
    # Two one-off runs of different assets are two rows, not one "__ASSET_JOB".
    assert last["portfolio/account_balances +3"]["run_id"] == queued.run_id
    assert last["portfolio/account_balances"]["run_id"] == done


def test_tasks_target_lists_that_jobs_or_that_assets_runs_only(
    home: DagsterInstance, resources: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = queue_assets(home, ["portfolio/account_balances", "portfolio/positions"])
    other = queue_assets(home, ["market_data/news"])
    balances = materialize([account_balances], instance=home, resources=resources).run_id
    tiny.execute_in_process(instance=home)  # another job's run: no target below lists it

    assert main(["tasks", "portfolio/account_balances", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["target"] == "portfolio/account_balances"
    assert [q["run_id"] for q in status["queued"]] == [wanted.run_id]
    assert [f["run_id"] for f in status["finished"]] == [balances]

    assert main(["tasks", "market_data/news", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [q["run_id"] for q in status["queued"]] == [other.run_id] and status["finished"] == []

    assert main(["tasks", "portfolio_sync_job", "--json"]) == 0  # a job: none of these
    status = json.loads(capsys.readouterr().out)
    assert status["queued"] == [] and status["finished"] == []

    assert main(["tasks", "portfolio/account_balances"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("runs of portfolio/account_balances only:")
    assert other.run_id[:8] not in text and wanted.run_id[:8] in text

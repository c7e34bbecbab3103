"""A misspelt job, asset, mode or analysis is refused with "did you mean …?" and, for a
job or an asset, with every job and every asset, by each command that takes one; the
task is refused before launch (exit status 2) and nothing is launched."""

import socket

import pytest

from robo_dagster.cli.main import main
from robo_dagster.tasks.submission import TaskRefused, plan_orchestration, plan_task
from robo_dagster.tasks.suggestions import close_matches, did_you_mean, unknown_target

CANDIDATES = [
    "portfolio/positions",
    "portfolio/portfolio_pnl",
    "market_data/news",
    "market_data/price_bars",
    "sequential_pipeline",
    "parallel_pipeline",
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens: a launch would exit 3, not 2


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("portfolo/positions", ["portfolio/positions"]),
        ("postions", ["portfolio/positions"]),  # the name without its group
        ("market_data/positions", ["portfolio/positions"]),  # the wrong group
        ("Portfolio/Positions", ["portfolio/positions"]),
        ("price_bar", ["market_data/price_bars"]),
        ("sequential_pipline", ["sequential_pipeline"]),
        ("quarterly_report", []),
    ],
)
def test_the_closest_names_are_suggested(typed: str, expected: list[str]) -> None:
    assert close_matches(typed, CANDIDATES) == expected


def test_the_hint_and_the_refusal_read_as_sentences() -> None:
    assert did_you_mean("nwes", ["news", "newsletters"]) == "; did you mean news?"
    assert did_you_mean("pipeline_a", ["pipeline_b", "pipeline_c"]) == (
        "; did you mean pipeline_b or pipeline_c?"
    )
    assert did_you_mean("zzz", CANDIDATES) == ""
    refusal = unknown_target("postions", ["b_job", "a_job"], ["portfolio/positions", "x/y"])
    assert refusal.splitlines() == [
        "no job or asset named 'postions'; did you mean portfolio/positions?",
        "Jobs: a_job, b_job",
        "Assets (group/name): portfolio/positions, x/y",
    ]


def test_plan_task_refuses_a_misspelt_target_with_the_jobs_and_the_assets() -> None:
    with pytest.raises(TaskRefused) as refused:
        plan_task("portfolio/postions")
    first, jobs, assets = str(refused.value).splitlines()
    assert first == "no job or asset named 'portfolio/postions'; did you mean portfolio/positions?"
    assert "sequential_pipeline" in jobs and "__ASSET_JOB" not in jobs
    assert "portfolio/positions" in assets and "ai_analysis/trade_recommendations" in assets
    with pytest.raises(TaskRefused, match="did you mean parallel"):
        plan_orchestration("paralel")


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["submit", "portfolo/positions"], "did you mean portfolio/positions?"),
        (
            ["submit", "morning_prep_jb"],
            "did you mean morning_prep_job or ai_analysis/morning_prep?",
        ),
        (["submit", "trade_recomendations"], "did you mean ai_analysis/trade_recommendations?"),
        (["tasks", "portfolio/postions"], "did you mean portfolio/positions?"),
    ],
)
def test_a_command_given_a_misspelt_job_or_asset_suggests_and_lists_both(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["--port", str(closed_port()), *argv]) == 2
    err = capsys.readouterr().err
    flat = " ".join(err.split())
    assert flat.startswith(f"refused: no job or asset named {argv[1]!r}; {hint} Jobs: ")
    assert "\nJobs: " in err and "\nAssets (group/name): " in err
    assert "portfolio/account_balances" in err and "recommendations_job" in err
    # Wrapped to the terminal between names, continuation lines indented.
    lines = err.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert any(line.startswith("  ") for line in lines)


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (
            ["orchestrate", "paralel"],
            "unknown mode 'paralel': expected one of parallel, sequential; did you mean parallel?",
        ),
        (
            ["ai", "morning_prep"],
            "unknown analysis 'morning_prep': expected one of "
            "evening-review, morning-prep, recommendations; did you mean morning-prep?",
        ),
    ],
)
def test_a_misspelt_mode_or_analysis_is_refused_by_the_parser_with_a_hint(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", str(closed_port()), *argv])
    assert exit_info.value.code == 2
    assert hint in capsys.readouterr().err

"""The notebooks run top to bottom on a temporary instance and database."""

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import nbformat
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    materialize,
)
from nbclient import NotebookClient

from robo_dagster.monitoring.alerts import Severity, ensure_alerts
from robo_dagster.monitoring.metrics import ensure_metrics
from tests.conftest import AS_OF
from tests.monitoring.metrics_support import clear_threshold_env, metrics_tick, queue_runs
from tests.monitoring.support import tick

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(autouse=True)
def kernel_imports_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel starts in notebooks/, where ``import robo_dagster`` finds whichever
    checkout the environment installed: put this one first, so its notebooks run its code.
    And it draws inline, whatever this process's matplotlib backend."""
    paths = [str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
    # ``import streamlit`` (the dashboard's tests) sets MPLBACKEND=Agg in this process;
    # a kernel that inherited it would draw no inline figure.
    monkeypatch.delenv("MPLBACKEND", raising=False)


PROBE = "probe: "


def execute_notebook(
    name: str, probes: dict[str, str] | None = None, timeout: int = 120
) -> tuple[list[Any], dict[str, Any]]:
    """Run ``notebooks/<name>`` in a fresh kernel (it inherits this process's environment);
    every output of its code cells, in order, and what the probes saw. ``probes`` maps a
    text of one code cell to an expression evaluated right after that cell (the figure's
    axes are still there), whose JSON value is returned under the same key."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for marker, expression in (probes or {}).items():
        [index] = [i for i, c in enumerate(notebook.cells) if marker in c.source]
        code = f"import json as _json\nprint({PROBE!r} + _json.dumps([{marker!r}, {expression}]))"
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    outputs, seen = [], {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("import json as _json"):
            [out] = cell.outputs
            marker, value = json.loads(out.text.removeprefix(PROBE))
            seen[marker] = value
        else:
            outputs += cell.outputs
    return outputs, seen


PRICE_CELL = 'symbol = "AAPL"'
POSITIONS_CELL = "from portfolio.positions order by unrealized_pnl"
EQUITY_CELL = "from portfolio.equity_history order by date"
# What a run of the notebook may print besides its figures and tables: the progress
# lines, the run's checks and Dagster's INFO lines come to a few KB; its DEBUG lines
# (ten per step) made 321 KB of a 739 KB notebook.
MAX_PRINTED_CHARS = 20_000


# Slow (40-150 s): it runs the whole graph inside a Jupyter kernel. CI runs it with -m slow.
@pytest.mark.slow
def test_quickstart_notebook_materializes_queries_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    database = tmp_path / "robo.duckdb"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROBO_DUCKDB_PATH", str(database))
    monkeypatch.setenv("ROBO_AS_OF", AS_OF)
    monkeypatch.setenv("ROBO_NOTEBOOK_SESSIONS", "260")
    monkeypatch.setenv("ROBO_NOTEBOOK_REPLAYS", "2")
    outputs, seen = execute_notebook(
        "quickstart.ipynb",
        {
            PRICE_CELL: "type(ax_rsi.xaxis.get_major_formatter()).__name__",
            POSITIONS_CELL: "pnl_by_position.get_xlabel()",
            EQUITY_CELL: "[[t.get_text() for t in returns_ax.get_legend().get_texts()], "
            "[list(line.get_ydata()) for line in returns_ax.get_lines()[:2]], "
            "type(returns_ax.yaxis.get_major_formatter()).__name__, "
            "type(drawdown_ax.yaxis.get_major_formatter()).__name__, "
            "type(drawdown_ax.xaxis.get_major_formatter()).__name__, "
            "pnl_ax.get_ylabel(), drawdown_ax.get_ylim()]",
        },
        timeout=300,
    )

    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "success=True" in text
    assert "robo-dagster: [1/3] backfilling 260 sessions" in text  # the replays' progress
    printed = [
        out.get("text", "") + "".join(out.get("data", {}).get("text/plain", "")) for out in outputs
    ]
    assert not [line for line in "".join(printed).splitlines() if " - DEBUG - " in line]
    assert len(text) < MAX_PRINTED_CHARS
    assert "was never awaited" not in text  # Dagster's harmless warning after every run
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 4  # every figure drew
    tables = "".join(out.get("data", {}).get("text/plain", "") for out in outputs)
    assert "hit_rate" in tables and "rationale" in tables  # the scorecard and the recommendations
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].is_success  # the run is in the instance the UI reads

    assert seen[PRICE_CELL] == "ConciseDateFormatter"
    assert seen[POSITIONS_CELL] == "USD"
    legend, (book, spy), returns_axis, drawdown_axis, dates, pnl_label, (low, high) = seen[
        EQUITY_CELL
    ]
    # The equity curve is portfolio.equity_history's, session by session, in %.
    with duckdb.connect(str(database), read_only=True) as conn:
        history = conn.execute(
            "select cumulative_return, benchmark_cumulative_return, drawdown "
            "from portfolio.equity_history order by date"
        ).fetchdf()
    assert len(history) > 200
    assert legend == ["the book", "SPY"]
    assert book == pytest.approx(list(history["cumulative_return"] * 100))
    assert spy == pytest.approx(list(history["benchmark_cumulative_return"] * 100))
    assert returns_axis == drawdown_axis == "PercentFormatter"
    assert dates == "ConciseDateFormatter" and "USD" in pnl_label
    assert high == 0 and low <= 100 * history["drawdown"].min() <= 0  # drawdowns are <= 0


# The monitoring notebook: real data from the sensors, then an empty database.

MONITORING_METRICS = (
    "run_duration_s",
    "run_queued_s",
    "run_success_count",
    "run_failure_count",
    "failure_rate",
    "queued_runs",
    "cpu_pct",
    "memory_pct",
    "dagster_rss_mb",
    "host_cpu_pct",
    "host_memory_pct",
    "disk_pct",
)
NOTEBOOK_PRICES = AssetKey(["notebook_test", "prices"])
DURATIONS_CELL = 'runs = metrics[metrics["name"] == "run_duration_s"]'
NOTEBOOK_CHECK_FP = "check:notebook_test/prices:prices_sane"


@asset(key=NOTEBOOK_PRICES)
def notebook_prices() -> None:
    return None


@asset_check(asset=NOTEBOOK_PRICES, name="prices_sane")
def notebook_prices_sane() -> AssetCheckResult:
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.WARN, description="3 bars with low > high"
    )


def monitoring_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A temporary DAGSTER_HOME and DuckDB path, no webhook, the default thresholds."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    database = tmp_path / "robo.duckdb"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROBO_DUCKDB_PATH", str(database))
    monkeypatch.delenv("ROBO_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("ROBO_NOTEBOOK_HOURS", raising=False)
    clear_threshold_env(monkeypatch)
    return home, database


def html_rows(outputs: list[Any], header: str) -> list[str]:
    """The rows of the displayed table whose header has the column ``header``."""
    for out in outputs:
        html = out.get("data", {}).get("text/html", "")
        head, _, body = html.partition("<tbody>")
        if f"<th>{header}</th>" in head:
            return body.split("<tr>")[1:]
    raise AssertionError(f"no table with a {header!r} column was displayed")


def test_monitoring_notebook_plots_metrics_and_alerts_and_lists_open_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = monitoring_env(tmp_path, monkeypatch)
    monkeypatch.setenv("ROBO_THRESHOLD_BACKLOG_WARNING", "3")
    monkeypatch.setenv("ROBO_THRESHOLD_BACKLOG_CRITICAL", "10")
    with DagsterInstance.from_config(str(home)) as instance:
        assert materialize([notebook_prices, notebook_prices_sane], instance=instance).success
        # As the UI's Materialize button runs it: Dagster's __ASSET_JOB, its assets selected.
        asset_job = Definitions(
            assets=[notebook_prices], asset_checks=[notebook_prices_sane]
        ).resolve_implicit_global_asset_job_def()
        assert asset_job.execute_in_process(
            instance=instance, asset_selection=[NOTEBOOK_PRICES]
        ).success
        assert "1 new" in str(tick(instance).skip_message)  # the failed WARN check: a WARNING
        queued = queue_runs(instance, 3)
        cursor = metrics_tick(instance).cursor  # the run's duration; a backlog of 3 alerts
        instance.report_run_canceled(queued[0])
        metrics_tick(instance, cursor)  # a backlog of 2 resolves it and stays non-zero

    outputs, seen = execute_notebook(
        "monitoring.ipynb",
        {
            DURATIONS_CELL: "[[t.get_text() for t in ax.get_legend().get_texts()], "
            "ax.get_yscale(), ax.get_ylim()]"
        },
    )

    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "No monitoring data" not in text and "alerts open" in text
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 3  # every figure drew
    legend, scale, (bottom, top) = seen[DURATIONS_CELL]
    # The ad-hoc asset runs are named by their assets: "__ASSET_JOB" and
    # "__ephemeral_asset_job__" would be left out of the legend for their leading "_".
    assert legend == [
        "ad-hoc asset run",  # materialize() records no asset selection on its run
        "ad-hoc run of notebook_test/prices",
        "WARNING 300 s",
        "CRITICAL 600 s",
    ]
    assert scale == "log" and 0 < bottom <= 1 and top >= 600  # no axis below 0 seconds
    open_rows = html_rows(outputs, "fingerprint")
    [warning] = [row for row in open_rows if f"<td>{NOTEBOOK_CHECK_FP}</td>" in row]
    assert "<td>WARNING</td>" in warning and "<td>check</td>" in warning
    assert not any("threshold:backlog" in row for row in open_rows)  # resolved: history only
    ranks = [max(int(s) for s in Severity if f"<td>{s.name}</td>" in row) for row in open_rows]
    assert ranks == sorted(ranks, reverse=True)  # worst first (the daemons' health: CRITICAL)
    latest = "".join(html_rows(outputs, "measured_at"))
    assert all(f"<td>{name}</td>" in latest for name in MONITORING_METRICS)


@pytest.mark.parametrize("state", ["no file", "no monitoring tables", "empty tables"])
def test_monitoring_notebook_on_an_empty_database_prints_one_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    _, database = monitoring_env(tmp_path, monkeypatch)
    if state != "no file":
        with duckdb.connect(str(database)) as conn:
            conn.execute("create schema market_data")
            if state == "empty tables":
                ensure_alerts(conn)
                ensure_metrics(conn)

    outputs, _ = execute_notebook("monitoring.ipynb")

    assert [out.output_type for out in outputs] == ["stream"]  # no figure, no table, no error
    assert outputs[0].text == (
        f"No monitoring data in {database} yet: run `make ui` and leave it running "
        "(metrics_sensor records every 60 s, alerts_sensor every 15 s), "
        "then re-run this notebook.\n"
    )
    assert database.exists() is (state != "no file")  # the notebook never creates the file

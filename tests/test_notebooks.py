"""The notebooks run top to bottom on a temporary instance and database."""

from pathlib import Path

import nbformat
import pytest
from dagster import DagsterInstance
from nbclient import NotebookClient

from tests.conftest import AS_OF

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_quickstart_notebook_materializes_queries_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROBO_DUCKDB_PATH", str(tmp_path / "robo.duckdb"))
    monkeypatch.setenv("ROBO_AS_OF", AS_OF)
    monkeypatch.setenv("ROBO_NOTEBOOK_SESSIONS", "260")
    monkeypatch.setenv("ROBO_NOTEBOOK_REPLAYS", "2")
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()

    outputs = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    ]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "success=True" in text
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 3  # every figure drew
    tables = "".join(out.get("data", {}).get("text/plain", "") for out in outputs)
    assert "hit_rate" in tables and "rationale" in tables  # the scorecard and the recommendations
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].is_success  # the run is in the instance the UI reads

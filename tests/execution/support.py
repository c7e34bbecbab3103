"""A book on the loopback Alpaca with recommendations whose orders are obvious."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from robo_dagster.ai_analysis.analysts import Analyst, AnalystOutput
from robo_dagster.domain.analysis_models import RecommendationRequest

QUIET = {"telemetry": {"enabled": False}}
TARGETS = {"AAPL": 0.02, "JPM": 0.0, "NVDA": 0.04, "GOOGL": 0.03, "TSLA": 0.02}


class ScriptedAnalyst(Analyst):
    """Recommends exactly ``targets`` (symbol -> target weight): BUY above the current
    weight, SELL below it, so the right orders are known before the run."""

    targets: dict[str, float]

    def recommend(
        self,
        features: pd.DataFrame,
        request: RecommendationRequest,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
    ) -> AnalystOutput:
        current = features.set_index("symbol")["current_weight"]
        rows = []
        for symbol, target in self.targets.items():
            now = float(current.get(symbol, 0.0))
            rows.append(
                {
                    "symbol": symbol,
                    "action": "BUY" if target > now else "SELL",
                    "target_weight": target,
                    "current_weight": now,
                    "confidence": 0.5 + 0.1 * len(rows),
                    "horizon_days": 10,
                    "score": 0.5,
                    "rationale": f"scripted: {symbol} to {target:.0%}",
                    "signals": "[]",
                }
            )
        frame = pd.DataFrame(rows).assign(source="scripted", model="scripted")
        return AnalystOutput(frame, {"analyst": "scripted"})


def run_job(
    name: str, resources: dict[str, Any], instance: DagsterInstance
) -> ExecuteInProcessResult:
    """Run one of the code location's jobs in this process, on ``resources``."""
    from robo_dagster.automation.jobs import JOBS
    from robo_dagster.definitions import defs

    local = Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=[job for job in JOBS if job.name == name],
        resources=resources,
    )
    return local.resolve_job_def(name).execute_in_process(instance=instance, raise_on_error=False)


@contextmanager
def copied_instance(template: Path, into: Path) -> Iterator[DagsterInstance]:
    """A persistent instance over a copy of ``template``'s storage."""
    shutil.copytree(template, into)
    (into / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.local_temp(tempdir=str(into), overrides=QUIET) as instance:
        yield instance

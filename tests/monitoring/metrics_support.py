"""Helpers for the metrics, health and status tests: a metrics_sensor tick with real
providers, queued runs, daemon heartbeats and a held DuckDB file lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, build_sensor_context, job, op
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.types import DaemonHeartbeat

from robo_dagster import settings
from robo_dagster.monitoring.metrics import metrics_sensor
from robo_dagster.providers import PaperBroker, SimulatedMarketData

AS_OF = "2026-11-25"


def providers() -> dict[str, object]:
    market = SimulatedMarketData(as_of=AS_OF)
    return {
        "market": market,
        "broker": PaperBroker(portfolio_file=settings.portfolio_file(), market=market),
    }


def metrics_tick(instance: DagsterInstance, cursor: str | None = None) -> SensorExecutionData:
    with build_sensor_context(instance=instance, cursor=cursor, resources=providers()) as context:
        return metrics_sensor.evaluate_tick(context)


def clear_threshold_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ROBO_THRESHOLD_"):
            monkeypatch.delenv(name)


def quiet_host_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU and memory levels no percentage reaches, and no host-wide alerts: a busy test
    machine must not add load alerts to the ones a test counts."""
    monkeypatch.delenv("ROBO_HOST_ALERTS", raising=False)
    for name in ("CPU_PCT", "MEMORY_PCT"):
        monkeypatch.setenv(f"ROBO_THRESHOLD_{name}_WARNING", "100.5")
        monkeypatch.setenv(f"ROBO_THRESHOLD_{name}_CRITICAL", "101")


@op
def noop() -> None:
    pass


@job
def waiting_job() -> None:
    noop()


# A queued run must say where the daemon would load its job from; it is never launched here.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name=__name__)), "__repository__"
    ),
    "waiting_job",
)


def queue_runs(instance: DagsterInstance, count: int) -> list[DagsterRun]:
    """``count`` runs in status QUEUED, as the queued run coordinator leaves them."""
    return [
        instance.create_run_for_job(
            waiting_job, status=DagsterRunStatus.QUEUED, remote_job_origin=ORIGIN
        )
        for _ in range(count)
    ]


def beat(instance: DagsterInstance, age_s: float = 0.0) -> None:
    """A heartbeat ``age_s`` old for every daemon the instance needs, as a daemon writes it."""
    for daemon_type in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(
            DaemonHeartbeat(time.time() - age_s, daemon_type, "test-daemon", errors=[])
        )


@contextmanager
def held_lock(database: str) -> Iterator[None]:
    """Hold robo-dagster's flock on ``database`` through a descriptor of our own, as another
    process (a long materialization) would."""
    path = Path(str(Path(database).expanduser().resolve()) + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

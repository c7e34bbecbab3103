"""Cluster mode's switch, without a cluster: what ROBO_CELERY_BROKER changes, and that
the single-machine default is exactly as it was (these run in the default suite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robo_dagster.cluster import distributed
from robo_dagster.cluster.launcher import broker_address
from robo_dagster.tasks.queues import AI_ANALYSIS, AUTOMATION, DATA_FETCHER, QUEUE_TAG

ROOT = Path(__file__).resolve().parents[2]


def test_a_single_machine_run_keeps_its_three_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(distributed.BROKER_VARIABLE, raising=False)
    assert set(DATA_FETCHER.tags()) == {"dagster/priority", QUEUE_TAG, "dagster/max_runtime"}
    assert DATA_FETCHER.celery_tags() == {}


def test_on_a_cluster_runs_carry_their_seed_queue_as_the_celery_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(distributed.BROKER_VARIABLE, "redis://127.0.0.1:6379/0")
    assert AI_ANALYSIS.tags()[distributed.CELERY_QUEUE_TAG] == "ai_analysis"
    # A queue with no Celery queue of its own goes to the default one.
    assert AUTOMATION.tags()[distributed.CELERY_QUEUE_TAG] == "dagster"


def _definitions(env: dict[str, str]) -> dict[str, object]:
    script = (
        "import json\n"
        "from robo_dagster.definitions import defs\n"
        "job = defs.resolve_job_def('parallel_pipeline')\n"
        "seq = defs.resolve_job_def('sequential_pipeline')\n"
        "steps = {n.name: dict(n.definition.tags) for n in job.graph.node_dict.values()}\n"
        "print(json.dumps({'executor': job.executor_def.name, 'sequential': seq.executor_def.name,"
        " 'hooks': sorted(h.name for h in job.hook_defs), 'steps': steps,"
        " 'tags': dict(job.tags)}))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROBO_CELERY_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=base | {"PYTHONPATH": str(ROOT)} | env,
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_broker_switches_parallel_pipeline_to_celery_and_nothing_else() -> None:
    single = _definitions({})
    assert single["executor"] == "multiprocess"
    assert single["hooks"] == []
    assert not any(distributed.CELERY_QUEUE_TAG in t for t in single["steps"].values())  # type: ignore[attr-defined]
    assert distributed.CELERY_QUEUE_TAG not in single["tags"]  # type: ignore[operator]

    cluster = _definitions({distributed.BROKER_VARIABLE: "redis://127.0.0.1:6379/0"})
    assert cluster["executor"] == "celery_on_redis"
    assert cluster["sequential"] == single["sequential"] == "in_process"
    assert len(cluster["hooks"]) == 2  # type: ignore[arg-type]
    steps = cluster["steps"]
    assert steps["market_data__price_bars"][distributed.CELERY_QUEUE_TAG] == "data_fetcher"  # type: ignore[index]
    assert steps["portfolio__positions"][distributed.CELERY_QUEUE_TAG] == "portfolio_sync"  # type: ignore[index]
    assert (
        steps["ai_analysis__trade_recommendations"][distributed.CELERY_QUEUE_TAG] == "ai_analysis"
    )  # type: ignore[index]
    assert cluster["tags"][distributed.CELERY_QUEUE_TAG] == "data_fetcher"  # type: ignore[index]


def test_the_workers_config_is_the_executors_with_the_workers_environment(
    tmp_path: Path,
) -> None:
    path = distributed.write_worker_config(
        tmp_path / "celery.yaml", {distributed.VISIBILITY_TIMEOUT_VARIABLE: "20"}
    )
    config = yaml.safe_load(path.read_text())["execution"]["config"]
    assert config["broker"] == {"env": distributed.BROKER_VARIABLE}
    assert config["config_source"]["broker_transport_options"]["visibility_timeout"] == 20
    assert config["config_source"]["task_annotations"]["execute_plan"]["acks_late"] is True


def test_a_broker_address_never_shows_its_password() -> None:
    assert broker_address("redis://:s3cret@10.0.0.5:6380/0") == "10.0.0.5:6380"
    assert "s3cret" not in broker_address("redis://user:s3cret@host/0")


def test_the_shell_exports_point_at_the_cluster_and_never_carry_a_password(
    tmp_path: Path,
) -> None:
    from robo_dagster.cluster.local import Layout, cluster_environment, shell_exports

    layout = Layout(tmp_path / "c", webserver_port=3999, postgres_port=55999, redis_port=56999)
    exports = shell_exports(cluster_environment(layout, {}))
    assert f"export DAGSTER_HOME={tmp_path / 'c' / 'home'}" in exports.splitlines()
    assert "export DAGSTER_PG_PORT=55999" in exports.splitlines()
    assert "export ROBO_CELERY_BROKER=redis://127.0.0.1:56999/0" in exports.splitlines()
    assert "export ROBO_WAREHOUSE=ducklake" in exports.splitlines()
    # The local server trusts loopback: the variable is set, and empty.
    assert "export DAGSTER_PG_PASSWORD=" in exports.splitlines()

    secret = "hunter2-catalog"
    exports = shell_exports(cluster_environment(layout, {"DAGSTER_PG_PASSWORD": secret}))
    assert secret not in exports and "DAGSTER_PG_PASSWORD" not in exports

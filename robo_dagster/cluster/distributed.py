"""Distributed execution: when the code location runs on a Celery cluster, and how.

The switch is one variable, ``ROBO_CELERY_BROKER`` (a Redis URL such as
``redis://10.0.0.5:6379/0``). Unset, nothing here applies and the single-machine
default is exactly what it was: no extra run or op tag, ``parallel_pipeline`` on the
multiprocess executor. Set, on every process of the cluster (webserver, daemon, each
worker), it means:

- every run carries ``dagster-celery/queue``: its seed queue (``portfolio_sync``,
  ``data_fetcher``, ``ai_analysis``), or ``dagster`` for a run outside them (the
  automation sensor's, a one-off run from the UI), so the Celery run launcher of
  ``deploy/dagster.cluster.yaml`` sends the whole run to a worker of that queue;
- every asset's step carries the same tag for its group's queue, so
  ``parallel_pipeline``'s steps, on the ``celery_executor``, go to the workers of their
  group's queue: a desk can give ``ai_analysis`` machines of its own;
- ``parallel_pipeline`` uses ``celery_executor`` with the broker and backend below;
  every other job keeps the in-process executor, inside its run's worker.

The single switch is the broker rather than a separate ``ROBO_EXECUTOR``: the
executor, the launcher and the workers must name the same broker anyway, and two
variables that must agree would one day disagree.

No Dagster import: ``tasks.queues`` (plain Python) reads the queue mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BROKER_VARIABLE = "ROBO_CELERY_BROKER"
BACKEND_VARIABLE = "ROBO_CELERY_BACKEND"
VISIBILITY_TIMEOUT_VARIABLE = "ROBO_CELERY_VISIBILITY_TIMEOUT_S"
CELERY_QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG
# Celery's queue for what is in no seed queue; the launcher's and executor's default.
DEFAULT_CELERY_QUEUE = "dagster"
SEED_CELERY_QUEUES = ("portfolio_sync", "data_fetcher", "ai_analysis")
# A worker of `make cluster` serves all four (dagster-celery allows at most four).
WORKER_QUEUES = (*SEED_CELERY_QUEUES, DEFAULT_CELERY_QUEUE)
# How long a step's task may stay unacknowledged before Redis hands it to another
# worker. The default is the whole pipeline's own limit (automation.jobs,
# PIPELINE_MAX_RUNTIME_S): no step of a live run outlives its run, so a step is never
# run twice while its first worker is alive; a lost worker's step is re-run after it.
DEFAULT_VISIBILITY_TIMEOUT_S = 1800


def broker() -> str | None:
    """``ROBO_CELERY_BROKER``, or None on a single machine."""
    return (os.environ.get(BROKER_VARIABLE) or "").strip() or None


def enabled() -> bool:
    """Whether this process belongs to a Celery cluster."""
    return broker() is not None


def celery_queue(seed_queue: str) -> str:
    """The Celery queue of a run or step in ``seed_queue``."""
    return seed_queue if seed_queue in SEED_CELERY_QUEUES else DEFAULT_CELERY_QUEUE


def visibility_timeout_s(env: Mapping[str, str] | None = None) -> int:
    """``ROBO_CELERY_VISIBILITY_TIMEOUT_S`` of ``env`` (default: this process's
    environment), 1800 when unset, at least 5."""
    raw = ((os.environ if env is None else env).get(VISIBILITY_TIMEOUT_VARIABLE) or "").strip()
    value = int(raw) if raw else DEFAULT_VISIBILITY_TIMEOUT_S
    if value < 5:
        raise ValueError(f"{VISIBILITY_TIMEOUT_VARIABLE}={raw}: must be 5 or more seconds")
    return value


def config_source(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Celery settings the executor and the workers share.

    - A step's task (``execute_plan``) is acknowledged when it ends, not when a worker
      takes it (``acks_late``), and is given back if its process dies
      (``reject_on_worker_lost``): a worker killed mid-step leaves the message
      unacknowledged, and Redis hands it to another worker after the visibility
      timeout. A whole run's task (``execute_job``) is not: a run that started cannot
      be started again (Dagster refuses), so its loss is run monitoring's to report
      (``cluster.launcher``'s health check), and ``run_retries`` runs it again.
    - Publishing to a Redis that is down gives up after three quick retries, so a
      launch fails in about a second with the broker's address instead of hanging.
    """
    return {
        "task_annotations": {
            "execute_plan": {"acks_late": True, "reject_on_worker_lost": True},
        },
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout_s(env),
            # Look for abandoned messages every 5 s (kombu's default sweeps every
            # 10 x 10 s), so a lost worker's step is handed on soon after the timeout.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "broker_connection_timeout": 4,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "result_backend_transport_options": {"retry_policy": {"timeout": 5.0}},
        "redis_socket_connect_timeout": 4,
        "redis_socket_timeout": 30,
        "broker_connection_retry_on_startup": True,
    }


def executor_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``celery_executor``'s config: the broker and backend read from the environment
    of the process that runs the run (never written into the run config)."""
    return {
        "broker": {"env": BROKER_VARIABLE},
        "backend": {"env": BACKEND_VARIABLE},
        "config_source": config_source(env),
    }


def write_worker_config(path: Path, env: Mapping[str, str] | None = None) -> Path:
    """The YAML that ``dagster-celery worker start -y`` reads: the executor's own block,
    so that the workers and the executor cannot disagree. ``env``: the environment the
    workers will have (by default this process's)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by robo_dagster.cluster.distributed: the celery_executor's config.\n"
        + yaml.safe_dump({"execution": {"config": executor_config(env)}}, sort_keys=False)
    )
    return path

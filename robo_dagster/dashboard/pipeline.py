"""What the Dagster instance knows: the latest run of each job and each asset's freshness.

The dashboard reads the instance of ``DAGSTER_HOME`` directly (its run and event-log
storage, SQLite by default), not the webserver: reads need no running ``dagster dev``,
take milliseconds, and never queue behind a run. Without an instance (``DAGSTER_HOME``
unset or not a folder) ``InstanceUnavailable`` says how to get one, and the page shows
that instead of the tables.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

RUN_COLUMNS = ["job", "status", "run_id", "started", "ended", "duration_s"]
FRESHNESS_COLUMNS = ["asset", "last_materialized", "age_s", "partition", "run_id"]
RUN_SCAN = 500


class InstanceUnavailable(RuntimeError):
    """There is no Dagster instance to read; the message says how to get one."""


def dagster_home() -> str:
    """``DAGSTER_HOME``, or ``InstanceUnavailable`` saying how to set it."""
    home = (os.environ.get("DAGSTER_HOME") or "").strip()
    if not home or not os.path.isdir(home):
        raise InstanceUnavailable(
            f"no Dagster instance at DAGSTER_HOME={home or '(unset)'}: start the dashboard "
            "with `make run` or `make dashboard`, which set it to .dagster_home"
        )
    return home


@contextmanager
def _instance() -> Iterator[Any]:
    dagster_home()
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        yield instance


def _utc(seconds: float | None) -> pd.Timestamp | None:
    if seconds is None:
        return None
    return pd.Timestamp(dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None))


def latest_runs() -> pd.DataFrame:
    """The latest run of each job (among the newest ``RUN_SCAN`` runs): its status, id,
    start and end (naive UTC) and duration. A run of Dagster's anonymous asset job is
    named, and counted, by its assets ("portfolio/positions +3", ``tasks.run_names``),
    as ``robo-dagster status`` counts it, never as ``__ASSET_JOB``."""
    from robo_dagster.tasks.run_names import RunNamer

    rows: dict[str, dict[str, Any]] = {}
    with _instance() as instance:
        namer = RunNamer(instance)
        for record in instance.get_run_records(limit=RUN_SCAN):
            run = record.dagster_run
            name = namer.name(run)
            if name in rows:
                continue
            started = record.start_time
            ended = record.end_time
            rows[name] = {
                "job": name,
                "status": run.status.value,
                "run_id": run.run_id,
                "started": _utc(
                    started if started is not None else record.create_timestamp.timestamp()
                ),
                "ended": _utc(ended),
                "duration_s": (
                    round(ended - started, 1) if started is not None and ended is not None else None
                ),
            }
    frame = pd.DataFrame(list(rows.values()), columns=RUN_COLUMNS)
    return frame.sort_values("job", ignore_index=True)


def asset_freshness(now: dt.datetime | None = None) -> pd.DataFrame:
    """Each asset's latest materialization: when (naive UTC), how long ago in seconds,
    its partition and run; stalest first. Assets never materialized are left out."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    rows = []
    with _instance() as instance:
        for record in instance.get_asset_records():
            entry = record.asset_entry
            latest = entry.last_materialization_record
            if latest is None:
                continue
            event = latest.event_log_entry.dagster_event
            rows.append(
                {
                    "asset": entry.asset_key.to_user_string(),
                    "last_materialized": _utc(latest.timestamp),
                    "age_s": max(moment.timestamp() - latest.timestamp, 0.0),
                    "partition": (event.partition if event is not None else None) or "",
                    "run_id": latest.run_id,
                }
            )
    frame = pd.DataFrame(rows, columns=FRESHNESS_COLUMNS)
    return frame.sort_values(["age_s", "asset"], ascending=[False, True], ignore_index=True)

"""``robo-dagster status | alerts | metrics``: what monitoring knows, from the shell.

- ``status``: health items, open alerts by severity, the last run of each job and the
  backlog. Exit status 1 when anything is CRITICAL (an open CRITICAL alert or a failed
  health item), else 0; 3 when there is no Dagster instance.
- ``alerts [--severity S] [--unresolved] [--limit N]``: the alert history, newest first.
- ``metrics [--name N] [--since T] [--limit N]``: recorded metrics, newest first.

Each takes ``--json``. They read DuckDB with short read-only connections and no
robo-dagster file lock, so they never make a materialization wait (DuckDB refuses a
read-only connection while another process writes: they retry for ``READ_RETRY_S`` and
then say so in one line). ``status``'s DuckDB health item takes the lock for one
``select 1``, with a 5 s timeout. The instance is ``DAGSTER_HOME``'s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from robo_dagster import settings
from robo_dagster.monitoring.alerts import MAX_MESSAGE_CHARS, Severity, severity_rank_sql
from robo_dagster.monitoring.alerts import TABLE as ALERTS_TABLE

METRICS_TABLE = "monitoring.metrics"
READ_RETRY_S = 3.0
_RETRY_POLL_S = 0.1


class Unavailable(Exception):
    """Something to read is missing or busy; the message is the one line to print."""


def add_monitoring_commands(subparsers: Any) -> None:
    """Add ``status``, ``alerts`` and ``metrics`` to the ``robo-dagster`` subparsers."""
    status = subparsers.add_parser(
        "status", help="health, open alerts, last run per job, backlog (exit 1 if CRITICAL)"
    )
    status.add_argument("--json", action="store_true")
    alerts = subparsers.add_parser("alerts", help="the alert history from monitoring.alerts")
    alerts.add_argument("--severity", type=_severity, help="at least this severity")
    alerts.add_argument("--unresolved", action="store_true", help="open alerts only")
    alerts.add_argument("--limit", type=int, default=20)
    alerts.add_argument("--json", action="store_true")
    metrics = subparsers.add_parser("metrics", help="recorded metrics from monitoring.metrics")
    metrics.add_argument("--name", help="one metric, e.g. run_duration_s")
    metrics.add_argument(
        "--since", type=since_argument, help="ISO time (UTC) or an age such as 30m, 2h, 1d"
    )
    metrics.add_argument("--limit", type=int, default=50)
    metrics.add_argument("--json", action="store_true")


MONITORING_COMMANDS = ("status", "alerts", "metrics")


def run_monitoring_command(args: argparse.Namespace) -> int:
    """Dispatch one of the monitoring commands; the exit status."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "status": _status,
        "alerts": _alerts,
        "metrics": _metrics,
    }
    try:
        return handlers[args.command](args)
    except Unavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3


def _severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def since_argument(value: str) -> dt.datetime:
    try:
        return parse_since(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_since(value: str) -> dt.datetime:
    """An ISO time (UTC if it names no zone) or an age such as 30m, 2h or 1d, as a naive
    UTC time; a ValueError says what is expected."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = value.strip()
    if raw and raw[-1] in units and raw[:-1].replace(".", "", 1).isdigit():
        age = float(raw[:-1]) * units[raw[-1]]
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=age)
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"since {value!r}: expected an ISO time (2026-11-25T14:00) or an age (30m, 2h, 1d)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def read_only(database: str, retry_s: float = READ_RETRY_S) -> duckdb.DuckDBPyConnection:
    """A read-only connection, retried while a writer in another process holds the file."""
    if not Path(database).expanduser().exists():
        raise Unavailable(f"no DuckDB file at {database}: nothing has been recorded yet")
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return duckdb.connect(database, read_only=True)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if time.monotonic() >= deadline:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise Unavailable(
                    f"DuckDB {database} is busy (another process writes to it): {first}"
                ) from None
            time.sleep(_RETRY_POLL_S)


def _query(database: str, table: str, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    conn = read_only(database)
    try:
        try:
            cursor = conn.execute(sql, list(params))
        except duckdb.CatalogException:
            raise Unavailable(
                f"no table {table} in {database} yet: metrics_sensor and alerts_sensor "
                "create it on their first tick (run `make ui`)"
            ) from None
        columns = [d[0] for d in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return str(_jsonable(value))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], width: int = 60) -> str:
    """Plain text columns: a header, then one line per row (cells cut at ``width``)."""
    cells = [[_cell(row.get(c))[:width] for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def print_rows(
    rows: list[dict[str, Any]], columns: Sequence[str], as_json: bool, empty: str
) -> None:
    if as_json:
        print(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows], indent=2))
    else:
        print(table(rows, columns) if rows else empty)


ALERT_COLUMNS = (
    "id",
    "severity",
    "fingerprint",
    "first_seen",
    "last_seen",
    "resolved_at",
    "source",
    "message",
)


def list_alerts(
    database: str, severity: Severity | None = None, unresolved: bool = False, limit: int = 20
) -> list[dict[str, Any]]:
    """Alerts at or above ``severity`` (open ones only with ``unresolved``), newest first."""
    where = [f"{severity_rank_sql('severity')} >= ?"]
    if unresolved:
        where.append("resolved_at is null")
    sql = (
        f"select {', '.join(ALERT_COLUMNS)}, asset, check_name, run_id from {ALERTS_TABLE} "
        f"where {' and '.join(where)} order by last_seen desc, id desc limit ?"
    )
    return _query(database, ALERTS_TABLE, sql, [int(severity or 0), limit])


def _alerts(args: argparse.Namespace) -> int:
    rows = list_alerts(settings.duckdb_path(), args.severity, args.unresolved, args.limit)
    print_rows(rows, ALERT_COLUMNS, args.json, "no alerts")
    return 0


def list_metrics(
    database: str, name: str | None = None, since: dt.datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Recorded metrics, newest first; ``tags`` parsed from its JSON."""
    where: list[str] = ["true"]
    params: list[Any] = []
    if name:
        where.append("name = ?")
        params.append(name)
    if since is not None:
        where.append("measured_at >= ?")
        params.append(since)
    sql = (
        f"select measured_at, name, value, tags from {METRICS_TABLE} where {' and '.join(where)} "
        "order by measured_at desc, name limit ?"
    )
    rows = _query(database, METRICS_TABLE, sql, [*params, limit])
    for row in rows:
        row["tags"] = json.loads(row["tags"]) if row["tags"] else {}
    return rows


def _metrics(args: argparse.Namespace) -> int:
    rows = list_metrics(settings.duckdb_path(), args.name, args.since, args.limit)
    if not args.json:
        rows = [
            r | {"tags": " ".join(f"{k}={v}" for k, v in sorted(r["tags"].items()))} for r in rows
        ]
    print_rows(rows, ("measured_at", "name", "value", "tags"), args.json, "no metrics")
    return 0


def _last_runs(instance: Any, scan: int = 500) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for record in instance.get_run_records(limit=scan):
        run = record.dagster_run
        if run.job_name in seen:
            continue
        duration = (
            round(record.end_time - record.start_time, 1)
            if record.end_time is not None and record.start_time is not None
            else None
        )
        seen[run.job_name] = {
            "job": run.job_name,
            "run_id": run.run_id,
            "status": run.status.value,
            "created": record.create_timestamp.astimezone(dt.timezone.utc).replace(tzinfo=None),
            "duration_s": duration,
        }
    return sorted(seen.values(), key=lambda r: r["job"])


def collect_status(instance: Any, database: str) -> dict[str, Any]:
    """Everything ``status`` shows, as data; ``critical`` says whether to exit 1."""
    from dagster import DagsterRunStatus, RunsFilter

    from robo_dagster.monitoring.health import health_report
    from robo_dagster.resources import build_resources

    resources = build_resources(database)
    items = health_report(instance, database, resources["market"], resources["broker"])
    alerts_note = None
    try:
        open_rows = list_alerts(database, unresolved=True, limit=1000)
    except Unavailable as exc:
        open_rows, alerts_note = [], str(exc)
    by_severity = {s.name: 0 for s in sorted(Severity, reverse=True)}
    for row in open_rows:
        by_severity[row["severity"]] = by_severity.get(row["severity"], 0) + 1
    critical = by_severity.get("CRITICAL", 0) > 0 or any(not item.ok for item in items)
    return {
        "critical": critical,
        "health": [item.as_dict() for item in items],
        "open_alerts": by_severity,
        "open_alerts_note": alerts_note,
        "worst_open_alerts": [
            {k: row[k] for k in ("id", "severity", "fingerprint", "last_seen", "message")}
            for row in open_rows
            if row["severity"] in ("CRITICAL", "ERROR")
        ][:10],
        "last_runs": _last_runs(instance),
        "backlog": instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED])),
    }


def render_status(status: dict[str, Any]) -> str:
    """``collect_status``'s data as readable text."""
    health = [h | {"ok": "ok" if h["ok"] else "FAIL"} for h in status["health"]]
    parts = [
        "Health",
        # The detail is the last column and already bounded: never cut it.
        table(health, ("name", "ok", "detail"), width=MAX_MESSAGE_CHARS),
        "",
        "Open alerts: "
        + ", ".join(f"{n} {s}" for s, n in status["open_alerts"].items())
        + (f" ({status['open_alerts_note']})" if status["open_alerts_note"] else ""),
    ]
    if status["worst_open_alerts"]:
        parts.append(
            table(status["worst_open_alerts"], ("id", "severity", "fingerprint", "message"))
        )
    parts += ["", "Last run per job"]
    parts.append(
        table(status["last_runs"], ("job", "status", "run_id", "created", "duration_s"))
        if status["last_runs"]
        else "no runs yet"
    )
    parts += ["", f"Backlog: {status['backlog']} queued run(s)"]
    parts.append("Status: CRITICAL" if status["critical"] else "Status: OK")
    return "\n".join(parts)


def require_dagster_home() -> str:
    """``DAGSTER_HOME``, or ``Unavailable`` saying how to get an instance."""
    home = os.environ.get("DAGSTER_HOME")
    if not home or not os.path.isdir(home):
        raise Unavailable(
            f"no Dagster instance at DAGSTER_HOME={home or '(unset)'}: run `make run` first, "
            "then export DAGSTER_HOME=$PWD/.dagster_home"
        )
    return home


def _status(args: argparse.Namespace) -> int:
    require_dagster_home()
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        status = collect_status(instance, settings.duckdb_path())
    if args.json:
        print(json.dumps(status, indent=2, default=_jsonable))
    else:
        print(render_status(status))
    return 1 if status["critical"] else 0

"""``robo-dagster status | alerts | metrics``: what monitoring knows, from the shell.

- ``status``: health items, open alerts by severity, the last run of each job and the
  backlog. Exit status 1 when anything is CRITICAL (an open CRITICAL alert or a failed
  health item), else 0; 3 when there is no Dagster instance.
- ``alerts [--severity S] [--unresolved] [--limit N]``: the alert history, newest first.
  Messages wrap between words to the terminal's width (under their row when it is too
  narrow to hold them beside the other columns); piped, each alert is one whole line.
- ``alerts resolve ID... | --all-from-run RUN_ID [--by WHO] [--reason WHY]``: resolve by
  hand the alerts no later run resolves. Exit status 1 for an id or a run with no alert.
- ``metrics [--name N] [--since T] [--limit N]``: recorded metrics, newest first.

Each takes ``--json``. They read DuckDB with short read-only connections and no
robo-dagster file lock, so they never make a materialization wait (DuckDB refuses a
read-only connection while another process writes: they retry for ``READ_RETRY_S`` and
then say so in one line). ``status``'s DuckDB health item takes the lock for one
``select 1``, with a 5 s timeout. ``alerts resolve`` writes under the lock, as the
sensors do, waiting at most ``RESOLVE_DEADLINE_S``. The instance is ``DAGSTER_HOME``'s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb

from robo_dagster import settings
from robo_dagster.monitoring.alerts import (
    MAX_MESSAGE_CHARS,
    RESOLUTION_COLUMNS,
    Resolution,
    Severity,
    UnknownAlert,
    ensure_alerts,
    resolve_by_id,
    resolve_by_run,
    severity_rank_sql,
)
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
    actions = alerts.add_subparsers(dest="alerts_action", metavar="{resolve}")
    resolve = actions.add_parser(
        "resolve",
        help="resolve alerts by hand: those no later run resolves (a failed one-off run's)",
    )
    resolve.add_argument("ids", nargs="*", type=int, metavar="ID", help="alert ids to resolve")
    resolve.add_argument(
        "--all-from-run", metavar="RUN_ID", help="every open alert of this run (8+ characters)"
    )
    resolve.add_argument("--by", help="who resolves them (default: your login name)")
    resolve.add_argument("--reason", help="why, kept in the alert's resolution column")
    resolve.add_argument("--json", action="store_true")
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
    from robo_dagster.warehouse.connection import read_only_connection, warehouse_exists
    from robo_dagster.warehouse.lake import WarehouseUnavailable

    if not warehouse_exists(database):
        raise Unavailable(f"no DuckDB file at {database}: nothing has been recorded yet")
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return read_only_connection(database)
        except WarehouseUnavailable as exc:
            raise Unavailable(str(exc)) from None
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if time.monotonic() >= deadline:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise Unavailable(
                    f"DuckDB {database} is busy (another process writes to it): {first}"
                ) from None
            time.sleep(_RETRY_POLL_S)


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return {column for (column,) in rows}


def _query(
    database: str, table: str, sql: str | Callable[[set[str]], str], params: Sequence[Any]
) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts; ``sql`` may be built from the table's columns, for a
    database made before a column was added (a reader never alters the table)."""
    conn = read_only(database)
    try:
        text = sql if isinstance(sql, str) else sql(_columns(conn, table))
        try:
            cursor = conn.execute(text, list(params))
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


def ellipsize(text: str, width: int) -> str:
    """``text`` if it fits in ``width``, else cut at the last space that keeps most of it,
    ending in "…" so that a cut never reads as the whole value."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = text[: width - 1]
    space = head.rfind(" ")
    if space >= width // 2:
        head = head[:space]
    return head.rstrip() + "…"


class _IdentifierWrapper(textwrap.TextWrapper):
    """``TextWrapper`` that breaks a word longer than a line after ":" or "/" before it
    splits it anywhere: an alert's fingerprint (``step:<run id>:<step>``) has no spaces."""

    def _split(self, text: str) -> list[str]:
        return [
            piece
            for chunk in super()._split(text)
            for piece in (
                re.split(r"(?<=[:/])(?=.)", chunk) if len(chunk) > self.width else [chunk]
            )
            if piece
        ]


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width``, broken between words; a word longer than a
    line breaks after ":" or "/", or else anywhere, since there is nowhere better."""
    wrapper = _IdentifierWrapper(width=max(width, 1), break_on_hyphens=False)
    return wrapper.wrap(text) or [""]


MIN_WRAPPED_WIDTH = 30
STACKED_INDENT = "    "


def terminal_width() -> int | None:
    """The terminal's width (``COLUMNS`` wins, as ``shutil.get_terminal_size`` reads it);
    None when the output is no terminal (a pipe, a file) and ``COLUMNS`` is unset."""
    return shutil.get_terminal_size(fallback=(0, 0)).columns or None


def _layout(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    width: int,
    wrap: Mapping[str, int | None],
    line_width: int | None,
) -> tuple[str, list[list[str]]]:
    """The header line, and each row's lines (see ``table``)."""
    texts = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths: list[int] = []
    for i, column in enumerate(columns):
        natural = max([len(column), *(len(r[i]) for r in texts)])
        cap = wrap.get(column, width)
        widths.append(natural if cap is None else min(natural, max(cap, len(column))))
    for i, column in enumerate(columns):
        if column in wrap and wrap[column] is None and line_width is not None:
            others = sum(w for j, w in enumerate(widths) if j != i) + 2 * (len(columns) - 1)
            widths[i] = min(widths[i], max(line_width - others, MIN_WRAPPED_WIDTH, len(column)))

    def lines_of(row: list[str]) -> list[str]:
        cells = [
            wrap_text(text, w) if column in wrap else [ellipsize(text, w)]
            for text, w, column in zip(row, widths, columns, strict=True)
        ]
        height = max(len(c) for c in cells)
        return [
            "  ".join(
                (c[k] if k < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ).rstrip()
            for k in range(height)
        ]

    header = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
    return header, [lines_of(row) for row in texts]


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    width: int = 60,
    *,
    wrap: Mapping[str, int | None] | None = None,
    line_width: int | None = None,
) -> str:
    """Plain text columns: a header, then one line per row, columns aligned.

    A cell is at most ``width`` wide, ellipsized ("…") beyond. A column in ``wrap`` is
    instead wrapped onto further lines of its row, at its own width, or for ``None`` at
    whatever ``line_width`` leaves (never under ``MIN_WRAPPED_WIDTH``; unwrapped without
    a ``line_width``).
    """
    header, body = _layout(rows, columns, width, dict(wrap or {}), line_width)
    return "\n".join([header, *(line for lines in body for line in lines)])


def wrapped_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    wrap: Mapping[str, int | None],
    line_width: int | None,
) -> str:
    """A table whose last column is long text (a message), for a person at a terminal.

    - No terminal (``line_width`` None): one line per row, nothing cut or wrapped, so
      that ``grep`` sees every row whole.
    - The last column beside the others, wrapped at word boundaries, when that fits.
    - A terminal too narrow for it beside the other columns: it goes under its row,
      indented, wrapped to the terminal's width.
    """
    if line_width is None:
        return table(rows, columns, width=MAX_MESSAGE_CHARS)
    inline = table(rows, columns, MAX_MESSAGE_CHARS, wrap=wrap, line_width=line_width)
    if max(len(line) for line in inline.splitlines()) <= line_width:
        return inline
    *beside, below = columns
    header, body = _layout(
        rows, beside, MAX_MESSAGE_CHARS, {k: v for k, v in wrap.items() if k != below}, line_width
    )
    room = max(line_width - len(STACKED_INDENT), MIN_WRAPPED_WIDTH)
    lines = [header + f"  ({below} below)"]
    for row, row_lines in zip(rows, body, strict=True):
        lines += row_lines
        lines += [STACKED_INDENT + part for part in wrap_text(_cell(row.get(below)), room)]
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

    def sql(present: set[str]) -> str:
        resolution = [c if c in present else f"null as {c}" for c in RESOLUTION_COLUMNS]
        return (
            f"select {', '.join(ALERT_COLUMNS)}, asset, check_name, run_id, "
            f"{', '.join(resolution)} from {ALERTS_TABLE} "
            f"where {' and '.join(where)} order by last_seen desc, id desc limit ?"
        )

    return _query(database, ALERTS_TABLE, sql, [int(severity or 0), limit])


# The fingerprint wraps at this width; the message takes what the terminal leaves.
FINGERPRINT_WIDTH = 40
ALERT_WRAP: dict[str, int | None] = {"fingerprint": FINGERPRINT_WIDTH, "message": None}


def render_alerts(rows: Sequence[dict[str, Any]], line_width: int | None = None) -> str:
    """The alerts as a table for a person: fingerprints and messages wrapped between
    words to ``line_width`` (default: the terminal's), never cut (``wrapped_table``)."""
    width = terminal_width() if line_width is None else line_width
    return wrapped_table(rows, ALERT_COLUMNS, ALERT_WRAP, width)


def _alerts(args: argparse.Namespace) -> int:
    if getattr(args, "alerts_action", None) == "resolve":
        return _resolve(args)
    rows = list_alerts(settings.duckdb_path(), args.severity, args.unresolved, args.limit)
    if args.json:
        print_rows(rows, ALERT_COLUMNS, True, "no alerts")
    else:
        print(render_alerts(rows) if rows else "no alerts")
    return 0


RESOLVE_DEADLINE_S = 30.0


def resolve_alerts_by_hand(
    database: str,
    alert_ids: Sequence[int] = (),
    run_id: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    deadline_s: float = RESOLVE_DEADLINE_S,
    instance: Any = None,
) -> list[Resolution]:
    """Resolve ``alert_ids``, or every alert of ``run_id``, under the warehouse's write
    lock (so never in the middle of a sensor's tick), in one transaction.

    ``UnknownAlert`` when an id or the run names no alert, ``ValueError`` for a bad run
    id, ``Unavailable`` when there is no DuckDB file, ``WarehouseBusy`` past ``deadline_s``.
    With a Dagster ``instance``, the ``monitoring/alerts`` asset is reported at once
    with the new summary (otherwise the next sensor tick reports it).
    """
    from robo_dagster.warehouse.connection import locked_connection, warehouse_exists
    from robo_dagster.warehouse.stores import write_transaction

    if not warehouse_exists(database):
        raise Unavailable(f"no DuckDB file at {database}: nothing has been recorded yet")
    at = dt.datetime.now(dt.timezone.utc)
    reports: list[Any] = []

    def resolve(conn: Any) -> list[Resolution]:
        ensure_alerts(conn)
        if run_id is not None:
            return resolve_by_run(conn, run_id, at, by, reason)
        return resolve_by_id(conn, alert_ids, at, by, reason)

    # One transaction, run again whole when its commit conflicts with another writer's
    # (on the lake; the file's lock makes that impossible).
    resolved = write_transaction(
        database, resolve, "alerts: resolve by hand", deadline_s=deadline_s
    )
    if instance is not None and any(not r.already for r in resolved):
        from robo_dagster.monitoring.dashboard import dashboard_reports

        with locked_connection(database, deadline_s=deadline_s) as conn:
            reports = dashboard_reports(instance, conn, include_metrics=False)
    for report in reports:
        instance.report_runless_asset_event(report)
    return resolved


def _resolve_instance() -> Any:
    """The Dagster instance, if ``DAGSTER_HOME`` names one; None otherwise."""
    try:
        require_dagster_home()
    except Unavailable:
        return None
    from dagster import DagsterInstance

    return DagsterInstance.get()


def _resolve(args: argparse.Namespace) -> int:
    from robo_dagster.warehouse.locking import WarehouseBusy

    if bool(args.ids) == bool(args.all_from_run):
        print("give alert ids or --all-from-run RUN_ID (one of the two)", file=sys.stderr)
        return 2
    by = args.by or _user()
    instance = _resolve_instance()
    try:
        resolved = resolve_alerts_by_hand(
            settings.duckdb_path(),
            args.ids,
            args.all_from_run,
            by,
            args.reason,
            deadline_s=RESOLVE_DEADLINE_S,
            instance=instance,
        )
    except UnknownAlert as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        raise Unavailable(f"the warehouse is busy, nothing resolved; try again: {exc}") from None
    finally:
        if instance is not None:
            instance.dispose()
    if args.json:
        print(
            json.dumps(
                [{k: _jsonable(v) for k, v in r._asdict().items()} for r in resolved], indent=2
            )
        )
        return 0
    for r in resolved:
        what = f"alert {r.id} ({r.fingerprint})"
        who = "".join(
            [
                f" by {r.resolved_by}" if r.resolved_by else "",
                f": {r.resolution}" if r.resolution else "",
            ]
        )
        when = _jsonable(r.resolved_at)
        print(f"{what} was already resolved at {when}{who}" if r.already else f"resolved {what}")
    return 0


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return None


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
    """The latest run of each job, among the last ``scan`` runs. Runs of Dagster's
    anonymous asset jobs count by the assets they were launched for (``run_names``):
    "the last ``__ASSET_JOB``" would be whichever asset happened to run last."""
    from robo_dagster.tasks.run_names import RunNamer

    namer = RunNamer(instance)
    seen: dict[str, dict[str, Any]] = {}
    for record in instance.get_run_records(limit=scan):
        run = record.dagster_run
        name = namer.name(run)
        if name in seen:
            continue
        duration = (
            round(record.end_time - record.start_time, 1)
            if record.end_time is not None and record.start_time is not None
            else None
        )
        seen[name] = {
            "job": run.job_name,
            "name": name,
            "run_id": run.run_id,
            "status": run.status.value,
            "created": record.create_timestamp.astimezone(dt.timezone.utc).replace(tzinfo=None),
            "duration_s": duration,
        }
    return sorted(seen.values(), key=lambda r: r["name"])


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


def render_status(status: dict[str, Any], line_width: int | None = None) -> str:
    """``collect_status``'s data as readable text (alert messages wrapped to
    ``line_width``, the terminal's by default)."""
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
            wrapped_table(
                status["worst_open_alerts"],
                ("id", "severity", "fingerprint", "message"),
                ALERT_WRAP,
                terminal_width() if line_width is None else line_width,
            )
        )
    parts += ["", "Last run per job"]
    last_runs = [r | {"job": r["name"]} for r in status["last_runs"]]
    parts.append(
        table(last_runs, ("job", "status", "run_id", "created", "duration_s"))
        if last_runs
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

"""What the monitoring tables say right now, as numbers and as markdown for the UI.

``alert_summary`` reads ``monitoring.alerts`` and ``metrics_summary`` reads
``monitoring.metrics``; both take an open DuckDB connection (the caller holds the lock)
and tolerate a table that does not exist yet. No Dagster import: the sensors turn these
into asset metadata (``dashboard.py``), and anything else may render them.

``AlertSummary.digest`` changes exactly when the open alerts, their severities or the
number of resolved ones change, so a sensor reports a new materialization only then,
not on every tick where an alert's ``last_seen`` moved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from robo_dagster.monitoring.alerts import SCHEMA, Severity, severity_rank_sql
from robo_dagster.monitoring.alerts import TABLE as ALERTS_TABLE

METRICS_TABLE = f"{SCHEMA}.metrics"
OPEN_ROWS_SHOWN = 10
RESOLVED_WINDOW = dt.timedelta(hours=24)
MAX_CELL_CHARS = 120


def _table_exists(conn: Any, table: str) -> bool:
    schema, name = table.split(".")
    (count,) = conn.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(count)


def _cell(value: Any) -> str:
    """A markdown table cell: no pipe or newline breaks the table, long text is cut."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *rows])


@dataclass(frozen=True)
class AlertSummary:
    """The open alerts by severity, the worst of them, and recent resolutions."""

    open_by_severity: dict[Severity, int]
    worst_open: pd.DataFrame
    resolved_total: int
    resolved_recently: int
    total_rows: int
    digest: str

    @property
    def open_count(self) -> int:
        """How many alerts are open."""
        return sum(self.open_by_severity.values())

    @property
    def worst_severity(self) -> Severity | None:
        """The severity of the worst open alert, or None when nothing is open."""
        return max((s for s, n in self.open_by_severity.items() if n), default=None)

    def headline(self) -> str:
        """One line: how many open, by severity, and how many resolved in the last 24 h."""
        by_severity = " · ".join(
            f"{severity.name} {self.open_by_severity[severity]}"
            for severity in sorted(Severity, reverse=True)
        )
        return (
            f"**{self.open_count} open alert(s)**: {by_severity}; "
            f"{self.resolved_recently} resolved in the last 24 h"
        )

    def markdown(self) -> str:
        """The headline, then the worst open alerts as a table."""
        if self.open_count == 0:
            return self.headline() + "\n\nNothing is open."
        shown = self.worst_open.rename(columns={"fingerprint": "alert"})
        more = self.open_count - len(shown)
        tail = f"\n\n…and {more} more: `robo-dagster alerts --unresolved`" if more > 0 else ""
        return f"{self.headline()}\n\n{_markdown_table(shown)}{tail}"


def alert_summary(conn: Any, now: dt.datetime) -> AlertSummary:
    """Summarise ``monitoring.alerts`` as of ``now`` (naive UTC); an absent table is empty."""
    counts = {severity: 0 for severity in Severity}
    columns = ["severity", "source", "fingerprint", "message", "first_seen", "last_seen"]
    if not _table_exists(conn, ALERTS_TABLE):
        empty = pd.DataFrame(columns=columns)
        return AlertSummary(counts, empty, 0, 0, 0, _digest([], 0))
    for severity, count in conn.execute(
        f"select severity, count(*) from {ALERTS_TABLE} where resolved_at is null group by 1"
    ).fetchall():
        counts[Severity.parse(severity)] = int(count)
    worst = conn.execute(
        f"select {', '.join(columns)} from {ALERTS_TABLE} where resolved_at is null "
        f"order by {severity_rank_sql('severity')} desc, last_seen desc, id limit ?",
        [OPEN_ROWS_SHOWN],
    ).fetchdf()
    resolved_total, resolved_recently, total = conn.execute(
        f"select count(resolved_at), count(*) filter (where resolved_at >= ?), count(*) "
        f"from {ALERTS_TABLE}",
        [now - RESOLVED_WINDOW],
    ).fetchone()
    open_ids = conn.execute(
        f"select id, severity from {ALERTS_TABLE} where resolved_at is null order by id"
    ).fetchall()
    return AlertSummary(
        counts,
        worst,
        int(resolved_total),
        int(resolved_recently),
        int(total),
        _digest(open_ids, int(resolved_total)),
    )


def _digest(open_ids: list[tuple[int, str]], resolved: int) -> str:
    text = ";".join(f"{i}:{s}" for i, s in open_ids) + f"|{resolved}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MetricsSummary:
    """The latest value of each metric and the size of the time series."""

    latest: pd.DataFrame
    total_rows: int
    first_at: dt.datetime | None
    last_at: dt.datetime | None

    def markdown(self) -> str:
        """A table of each metric's latest value."""
        if self.total_rows == 0:
            return "No metric recorded yet: `metrics_sensor` records every 60 s under `make ui`."
        span = f"{_cell(self.first_at)} to {_cell(self.last_at)} UTC"
        return (
            f"{self.total_rows} measurement(s) from {span}. The latest of each metric:\n\n"
            + _markdown_table(self.latest)
        )


def metrics_summary(conn: Any) -> MetricsSummary:
    """The latest value per metric name in ``monitoring.metrics`` (absent table: empty)."""
    columns = ["name", "value", "tags", "measured_at"]
    if not _table_exists(conn, METRICS_TABLE):
        return MetricsSummary(pd.DataFrame(columns=columns), 0, None, None)
    latest = conn.execute(
        f"select name, round(value, 3) as value, tags, measured_at from {METRICS_TABLE} "
        "qualify row_number() over (partition by name order by measured_at desc) = 1 "
        "order by name"
    ).fetchdf()
    total, first_at, last_at = conn.execute(
        f"select count(*), min(measured_at), max(measured_at) from {METRICS_TABLE}"
    ).fetchone()
    return MetricsSummary(latest, int(total), first_at, last_at)

"""The API's request and response bodies. Requests refuse unknown fields, so a typo in a
field's name is a 422 rather than an option silently ignored."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Field(default=None, ge=1, le=10, description="1 (BACKGROUND) to 10 (CRITICAL)")
Session = Field(
    default=None,
    pattern=r"^\d{4}-\d{2}-\d{2}$",
    description="a closed trading session, YYYY-MM-DD (default: the latest)",
)
Symbols = Field(
    default=None, max_length=1000, description="the run's subject, checked against the universe"
)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrchestrateRequest(Request):
    """``POST /api/v1/orchestrate/{sequential,parallel}``."""

    max_concurrent: int | None = Field(
        default=None, ge=1, le=64, description="parallel mode: steps at once"
    )
    priority: int | None = Priority
    partition: str | None = Session


class TaskRequest(Request):
    """``POST /api/v1/tasks``: a job, or an asset as ``group/name``."""

    target: str = Field(min_length=1, max_length=200, examples=["market_data/news"])
    priority: int | None = Priority
    symbols: list[str] | None = Symbols
    partition: str | None = Session
    after: list[str] | None = Field(
        default=None, max_length=100, description="run ids that must succeed first"
    )
    config: dict[str, Any] = Field(default_factory=dict, description="Dagster run config")


class AnalysisRequest(Request):
    """``POST /api/v1/ai/morning-prep`` and ``/ai/evening-review``."""

    priority: int | None = Field(
        default=None, ge=1, le=10, description="overrides the seed's priority"
    )
    symbols: list[str] | None = Symbols


class RecommendationsRequest(AnalysisRequest):
    """``POST /api/v1/ai/recommendations``."""

    risk_tolerance: Literal["conservative", "moderate", "aggressive"] | None = None
    max_recommendations: int | None = Field(default=None, ge=1)


class Launched(BaseModel):
    """A run launched through the queue."""

    run_id: str
    job: str
    name: str = Field(description="the job, or the assets of an asset task")
    queue: str
    priority: int
    run_url: str = Field(description="the run in this API")


class EventAccepted(BaseModel):
    """An event stored in the inbox (or found there: ``duplicate``)."""

    event_id: int
    duplicate: bool = Field(description="an earlier push with the same key stored it")


class QueuedRun(BaseModel):
    run_id: str
    job: str
    name: str = Field(description="what a person reads: the job, or a one-off run's assets")
    assets: list[str] = Field(description="the asset keys the run was launched for")
    priority: int
    queue: str
    waiting_s: float


class RunningRun(BaseModel):
    run_id: str
    job: str
    name: str
    assets: list[str]
    priority: int
    queue: str


class QueueLoad(BaseModel):
    limit: int | None
    running: list[str] = Field(description="every run in flight in the queue")
    runs: list[RunningRun] = Field(description="those of them the listing asked for")


class HeldRun(BaseModel):
    run_id: str
    job: str
    name: str = Field(description="what a person reads: the job, or a one-off run's assets")
    assets: list[str] = Field(description="the asset keys the run was launched for")
    priority: int
    queue: str
    after: list[str]


class FinishedRun(BaseModel):
    run_id: str
    job: str
    name: str = Field(description="what a person reads: the job, or a one-off run's assets")
    assets: list[str] = Field(description="the asset keys the run was launched for")
    priority: int
    queue: str
    status: str
    duration_s: float | None


class SchedulingStatus(BaseModel):
    """The run queue, as ``robo-dagster tasks --json`` shows it."""

    target: str | None = Field(default=None, description="the job or asset listed, if one")
    queued: list[QueuedRun]
    running: dict[str, QueueLoad]
    held: list[HeldRun]
    finished: list[FinishedRun]


class HealthItem(BaseModel):
    name: str
    ok: bool
    detail: str


class AlertBrief(BaseModel):
    id: int
    severity: str
    fingerprint: str
    last_seen: dt.datetime
    message: str | None


class LastRun(BaseModel):
    job: str
    name: str
    run_id: str
    status: str
    created: dt.datetime
    duration_s: float | None


class MonitoringStatus(BaseModel):
    """``robo-dagster status --json``: ``critical`` is what makes the CLI exit 1."""

    critical: bool
    health: list[HealthItem]
    open_alerts: dict[str, int]
    open_alerts_note: str | None
    worst_open_alerts: list[AlertBrief]
    last_runs: list[LastRun]
    backlog: int


class AlertRow(BaseModel):
    id: int
    severity: str
    fingerprint: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    resolved_at: dt.datetime | None
    source: str
    message: str | None
    asset: str | None
    check_name: str | None
    run_id: str | None
    resolved_by: str | None = None
    resolution: str | None = None


class ResolveRequest(Request):
    """``POST /api/v1/monitoring/alerts/resolve``: alert ids, or every alert of a run."""

    ids: list[int] | None = Field(default=None, min_length=1, max_length=1000)
    run_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=36,
        description="a run id, or 8+ of its first characters",
    )
    reason: str | None = Field(default=None, max_length=500, description="why, kept with the alert")


class ResolvedAlert(BaseModel):
    """An alert resolved by this request, or already resolved before it (``already``)."""

    id: int
    fingerprint: str
    message: str | None
    resolved_at: dt.datetime
    resolved_by: str | None
    resolution: str | None
    already: bool


class MetricRow(BaseModel):
    measured_at: dt.datetime
    name: str
    value: float | None
    tags: dict[str, Any]


class RunView(BaseModel):
    """One run: where it queued, at what priority, when, and what it materialized."""

    run_id: str
    job: str
    name: str = Field(description="the job, or a one-off run's assets")
    status: str
    queue: str | None
    priority: int | None
    partition: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    assets_materialized: list[str]


class Problem(BaseModel):
    """Every error's body: ``detail`` is one line, or the list of what failed validation."""

    detail: str | list[dict[str, Any]]

"""The seed's REST API over Dagster: FastAPI, thin, and secured.

Every launch goes through ``submission`` (``plan_*`` checks, ``launch`` goes to the
running webserver's GraphQL), exactly as the CLI does; every read goes through the
functions behind ``robo-dagster tasks | status | alerts | metrics``. Nothing here
decides what a task is or what a status means.

Security, in the order a request meets it (``create_app``):

1. the body is at most ``max_body_bytes`` (413);
2. a bearer token from ``ROBO_API_TOKENS`` (401), with the endpoint's scope (403);
3. the token's rate limit for the kind of request (429 with ``Retry-After``);
4. the body's validation (422, with every reason).

Every request that changes something, and every one refused at 2 or 3, leaves a row in
``monitoring.audit_log`` (``audit``). Without any token configured, every caller is
``local`` with every scope, and ``serve`` binds to loopback only.
"""

import asyncio
import datetime as dt
import importlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request, Response, WebSocket
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from robo_dagster.api import models
from robo_dagster.api.audit import AuditLog, audit_row
from robo_dagster.api.rate_limits import RateLimits
from robo_dagster.api.tokens import SCOPES, TokenTable
from robo_dagster.domain.market_events import MarketEvent
from robo_dagster.market_data.inbox import (
    IdempotencyConflict,
    UnknownSymbol,
    push_event_once,
)
from robo_dagster.monitoring.alerts import Severity, UnknownAlert
from robo_dagster.monitoring.commands import (
    Unavailable,
    collect_status,
    list_alerts,
    list_metrics,
    parse_since,
    require_dagster_home,
    resolve_alerts_by_hand,
)
from robo_dagster.tasks.submission import (
    RUN_ID,
    Task,
    TaskRefused,
    WebserverUnavailable,
    launch,
    plan_analysis,
    plan_orchestration,
    plan_task,
    queue_and_priority,
    target_names,
)
from robo_dagster.tasks.suggestions import unknown_target
from robo_dagster.warehouse.locking import WarehouseBusy

API = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
SUMMARY_BYTES = 2000
EVENT_WRITE_DEADLINE_S = 30.0
BUSY_RETRY_AFTER_S = 5
LOCAL_CALLER = "local"
OUTCOMES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


class ScopeRefused(HTTPException):
    """A known token without the scope an endpoint needs (403)."""

    def __init__(self, caller: str, scope: str) -> None:
        super().__init__(403, f"token {caller!r} lacks the {scope!r} scope")
        self.caller = caller


@dataclass
class ApiConfig:
    """What the service needs: the warehouse, who may call, how often, and where
    Dagster's webserver answers."""

    database: str
    tokens: TokenTable = field(default_factory=lambda: TokenTable([]))
    rate_limits: RateLimits = field(default_factory=RateLimits.from_environment)
    dagster_host: str = "127.0.0.1"
    dagster_port: int = 3000
    max_body_bytes: int = MAX_BODY_BYTES
    poll_s: float = 1.0
    audit_flush_s: float = 1.0


class RequestGate:
    """Pure ASGI middleware that writes the audit row of each request that changes
    something or was refused, with the start of its body as the request's summary."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        seen: list[bytes] = []
        status = {"code": 500}

        async def reading() -> Message:
            message = await receive()
            if message["type"] == "http.request" and sum(map(len, seen)) < SUMMARY_BYTES:
                seen.append(message.get("body", b"")[:SUMMARY_BYTES])
            return message

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, reading, tracked)
        finally:
            state["audit_summary"] = b"".join(seen)[:SUMMARY_BYTES].decode("utf-8", "replace")
            self._audit(scope, state, status["code"])

    def _audit(self, scope: Scope, state: dict[str, Any], code: int) -> None:
        changes = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        if not changes and code not in (401, 403, 429):
            return
        client = scope.get("client")
        if code == 413:  # whatever else was found before the body was counted
            state["audit_detail"] = "request body over the size limit"
        self.audit.record(
            audit_row(
                method=scope["method"],
                endpoint=scope["path"],
                status=code,
                outcome=state.get("audit_outcome")
                or ("accepted" if code < 400 else OUTCOMES.get(code, "error")),
                token_name=state.get("token_name"),
                client=client[0] if client else None,
                summary=state.get("audit_summary", ""),
                detail=state.get("audit_detail", ""),
                run_id=state.get("audit_run_id"),
                event_id=state.get("audit_event_id"),
            )
        )


def _problem(request: Request, status: int, detail: str, **headers: str) -> JSONResponse:
    request.state.audit_detail = detail
    return JSONResponse({"detail": detail}, status, headers=headers or None)


def create_app(config: ApiConfig) -> FastAPI:
    """The FastAPI application for ``config``."""
    audit = AuditLog(config.database, flush_s=config.audit_flush_s)
    bearer = HTTPBearer(auto_error=False, description="a token from ROBO_API_TOKENS")
    instance_box: dict[str, Any] = {}
    instance_lock = threading.Lock()

    def instance() -> Any:
        with instance_lock:  # endpoints run in a thread pool: one instance for all
            if "instance" not in instance_box:
                require_dagster_home()
                from dagster import DagsterInstance

                instance_box["instance"] = DagsterInstance.get()
            return instance_box["instance"]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(audit.start)
        # The definitions, which every launch checks its target against, load once
        # here rather than in the first caller's request.
        await run_in_threadpool(importlib.import_module, "robo_dagster.definitions")
        try:
            yield
        finally:
            await run_in_threadpool(audit.stop)
            if "instance" in instance_box:
                instance_box.pop("instance").dispose()

    app = FastAPIOffline(
        title="robo-dagster",
        version="1",
        description=(
            "The seed's REST API over Dagster: launch tasks through the run queue, push "
            "market events, read the queue, the monitoring and the runs. Send "
            "`Authorization: Bearer <token>` when ROBO_API_TOKENS is set."
        ),
        lifespan=lifespan,
        responses={
            401: {"model": models.Problem, "description": "no token, or an unknown one"},
            403: {"model": models.Problem, "description": "the token lacks the scope"},
            413: {"model": models.Problem, "description": "body over 64 KiB"},
            429: {"model": models.Problem, "description": "over the rate limit"},
            503: {"model": models.Problem, "description": "Dagster or DuckDB unavailable"},
        },
    )
    # Starlette's own limit, inside the gate so that a 413 is audited too.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=config.max_body_bytes)
    app.add_middleware(RequestGate, audit=audit)
    app.state.audit = audit

    def authenticate(authorization: str | None, scope: str) -> str:
        """The caller's name, or HTTPException 401/403."""
        if not config.tokens:
            return LOCAL_CALLER
        kind, _, presented = (authorization or "").partition(" ")
        if kind.lower() != "bearer" or not presented.strip():
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        token = config.tokens.match(presented.strip())
        if token is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        if scope not in token.scopes:
            raise ScopeRefused(token.name, scope)
        return token.name

    def guard(scope: str) -> Any:
        assert scope in SCOPES

        def check(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> str:
            header = request.headers.get("authorization")
            del credentials  # declared for the OpenAPI "Authorize" button; read raw above
            try:
                caller = authenticate(header, scope)
            except HTTPException as exc:
                request.state.audit_detail = str(exc.detail)
                request.state.token_name = getattr(exc, "caller", None)
                raise
            request.state.token_name = caller
            client = request.client.host if request.client else "?"
            verdict = config.rate_limits.hit(
                scope, caller if caller != LOCAL_CALLER else f"local@{client}"
            )
            if not verdict.allowed:
                request.state.audit_detail = f"over the {scope} rate limit"
                raise HTTPException(
                    429,
                    f"over the {scope} rate limit ({config.rate_limits.limits[scope]}); "
                    f"retry in {verdict.retry_after_s} s",
                    headers={"Retry-After": str(verdict.retry_after_s)},
                )
            return caller

        return Depends(check)

    @app.exception_handler(TaskRefused)
    def refused(request: Request, exc: TaskRefused) -> JSONResponse:
        return _problem(request, 422, f"refused: {exc}")

    @app.exception_handler(WebserverUnavailable)
    def no_webserver(request: Request, exc: WebserverUnavailable) -> JSONResponse:
        return _problem(request, 503, str(exc))

    @app.exception_handler(Unavailable)
    def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return _problem(request, 503, str(exc))

    @app.exception_handler(WarehouseBusy)
    def busy(request: Request, exc: WarehouseBusy) -> JSONResponse:
        return _problem(
            request,
            503,
            f"the warehouse is busy, try again: {exc}",
            **{"Retry-After": str(BUSY_RETRY_AFTER_S)},
        )

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        request.state.audit_detail = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors
        )
        return JSONResponse({"detail": errors}, 422)

    def launched(request: Request, task: Task) -> models.Launched:
        run_id = launch(task, config.dagster_host, config.dagster_port)
        request.state.audit_run_id = run_id
        queue, priority = queue_and_priority(task)
        return models.Launched(
            run_id=run_id,
            job=task.job_name,
            name=task.name,
            queue=queue,
            priority=priority,
            run_url=f"{API}/runs/{run_id}",
        )

    submit = [guard("submit")]
    read = [guard("read")]

    @app.post(
        f"{API}/orchestrate/{{mode}}",
        dependencies=submit,
        tags=["orchestrate"],
        summary="Run the whole graph",
    )
    def orchestrate(
        request: Request,
        mode: Literal["sequential", "parallel"],
        body: models.OrchestrateRequest | None = None,
    ) -> models.Launched:
        """Run the whole graph, ``sequential`` or ``parallel``, through the queue."""
        body = body or models.OrchestrateRequest()
        task = plan_orchestration(mode, body.max_concurrent, body.priority, body.partition)
        return launched(request, task)

    @app.post(
        f"{API}/tasks", dependencies=submit, tags=["tasks"], summary="Launch a job or an asset"
    )
    def tasks(request: Request, body: models.TaskRequest) -> models.Launched:
        """A job or an asset (``group/name``), with a priority, symbols, a partition, runs
        it waits for and run config. Returns the run id and the queue it joined."""
        task = plan_task(
            body.target, body.priority, body.symbols, body.partition, body.config, body.after
        )
        return launched(request, task)

    def analysis(name: str, summary: str, doc: str) -> None:
        model = models.RecommendationsRequest if name == "recommendations" else None

        if model is not None:

            def endpoint(
                request: Request, body: models.RecommendationsRequest | None = None
            ) -> models.Launched:
                body = body or models.RecommendationsRequest()
                task = plan_analysis(
                    name, body.priority, body.symbols, body.risk_tolerance, body.max_recommendations
                )
                return launched(request, task)

        else:

            def endpoint(  # type: ignore[misc]
                request: Request, body: models.AnalysisRequest | None = None
            ) -> models.Launched:
                body = body or models.AnalysisRequest()
                return launched(request, plan_analysis(name, body.priority, body.symbols))

        endpoint.__doc__ = doc
        app.post(
            f"{API}/ai/{name}",
            dependencies=submit,
            tags=["ai"],
            name=f"ai_{name}",
            summary=summary,
        )(endpoint)

    analysis(
        "recommendations",
        "Trade recommendations",
        "Trade recommendations and the strategy analysis, at the seed's priority 9.",
    )
    analysis("morning-prep", "The morning brief", "The pre-market brief, at the seed's priority 8.")
    analysis(
        "evening-review",
        "The evening review",
        "The end-of-day review with the scorecard and the risk assessment, at priority 7.",
    )

    @app.get(f"{API}/scheduling/status", dependencies=read, tags=["read"], summary="The run queue")
    def scheduling_status(
        finished: Annotated[int, Query(ge=0, le=500)] = 10,
        target: Annotated[str | None, Query(max_length=200)] = None,
    ) -> models.SchedulingStatus:
        """The run queue, as ``robo-dagster tasks --json`` shows it; with ``target`` (a job,
        or an asset as ``group/name``) only that target's runs."""
        from robo_dagster.tasks.status import queue_status

        is_asset = False
        if target is not None:
            jobs, assets = target_names()
            if target not in jobs | assets:
                raise _query_error("target", unknown_target(target, jobs, assets))
            is_asset = target in assets
        status = queue_status(
            instance(), finished=finished, target=target, target_is_asset=is_asset
        )
        return models.SchedulingStatus.model_validate(status)

    @app.get(
        f"{API}/monitoring/status", dependencies=read, tags=["read"], summary="Health and status"
    )
    def monitoring_status() -> models.MonitoringStatus:
        """Health, open alerts by severity, the last run per job and the backlog."""
        return models.MonitoringStatus.model_validate(collect_status(instance(), config.database))

    @app.get(
        f"{API}/monitoring/alerts", dependencies=read, tags=["read"], summary="The alert history"
    )
    def monitoring_alerts(
        severity: str | None = None,
        unresolved: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> list[models.AlertRow]:
        """The alert history, newest first: at least ``severity``, open ones only."""
        try:
            floor = Severity.parse(severity) if severity else None
        except ValueError as exc:
            raise _query_error("severity", str(exc)) from None
        rows = list_alerts(config.database, floor, unresolved, limit)
        return [models.AlertRow.model_validate(r) for r in rows]

    @app.post(
        f"{API}/monitoring/alerts/resolve",
        dependencies=submit,
        tags=["monitoring"],
        summary="Resolve alerts by hand",
        responses={404: {"model": models.Problem, "description": "no such alert or run"}},
    )
    def monitoring_resolve(
        request: Request, body: models.ResolveRequest
    ) -> list[models.ResolvedAlert]:
        """Resolve alerts no later run resolves (a failed one-off run's), as ``robo-dagster
        alerts resolve`` does: ``ids``, or every open alert of ``run_id``. The caller's
        token name is kept as who resolved them. An alert already resolved comes back with
        ``already`` and its first resolution."""
        if (body.ids is None) == (body.run_id is None):
            raise RequestValidationError(
                [
                    {
                        "loc": ("body",),
                        "msg": "give ids or run_id, one of the two",
                        "type": "value_error",
                    }
                ]
            )
        try:
            dagster = instance()
        except Unavailable:
            dagster = None  # no instance to report to: the next sensor tick reports it
        try:
            resolved = resolve_alerts_by_hand(
                config.database,
                body.ids or (),
                body.run_id,
                by=f"api:{request.state.token_name}",
                reason=body.reason,
                deadline_s=EVENT_WRITE_DEADLINE_S,
                instance=dagster,
            )
        except UnknownAlert as exc:
            return _problem(request, 404, str(exc))  # type: ignore[return-value]
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ("body", "run_id"), "msg": str(exc), "type": "value_error"}]
            ) from None
        done = [str(r.id) for r in resolved if not r.already]
        request.state.audit_detail = f"resolved alert(s) {', '.join(done) or 'none (already)'}"
        return [models.ResolvedAlert.model_validate(r._asdict()) for r in resolved]

    @app.get(
        f"{API}/monitoring/metrics", dependencies=read, tags=["read"], summary="Recorded metrics"
    )
    def monitoring_metrics(
        name: str | None = None,
        since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 50,
    ) -> list[models.MetricRow]:
        """Recorded metrics, newest first; ``since`` is an ISO time or an age (30m)."""
        try:
            moment = parse_since(since) if since else None
        except ValueError as exc:
            raise _query_error("since", str(exc)) from None
        rows = list_metrics(config.database, name, moment, limit)
        return [models.MetricRow.model_validate(r) for r in rows]

    @app.get(f"{API}/runs/{{run_id}}", dependencies=read, tags=["read"], summary="One run")
    def run(run_id: str) -> models.RunView:
        """One run's status, queue, priority, times and the assets it materialized."""
        if not RUN_ID.fullmatch(run_id):
            raise _query_error("run_id", f"not a run id: {run_id[:80]!r}", where="path")
        return _run_view(instance(), run_id)

    @app.post(
        f"{API}/events",
        dependencies=[guard("events")],
        tags=["events"],
        summary="Push a market event",
        status_code=201,
        responses={200: {"model": models.EventAccepted, "description": "a repeated push"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": MarketEvent.model_json_schema()}},
            }
        },
    )
    async def events(
        request: Request,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> models.EventAccepted:
        """A market event for the inbox (``domain.market_events.MarketEvent``). Its
        ``Idempotency-Key`` header, or else its ``external_id``, makes a retried push
        return the first event's id (200) instead of storing it twice (201)."""
        body = await request.body()
        try:
            MarketEvent.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(
                [e | {"loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        try:
            pushed = await run_in_threadpool(
                push_event_once,
                body.decode(),
                f"api:{request.state.token_name}",
                config.database,
                idempotency_key,
                known_symbols_only=True,
                deadline_s=EVENT_WRITE_DEADLINE_S,
            )
        except UnknownSymbol as exc:
            raise RequestValidationError(
                [{"loc": ("body", "symbol"), "msg": str(exc), "type": "unknown_symbol"}]
            ) from None
        except IdempotencyConflict as exc:
            request.state.audit_event_id = exc.event_id
            return _problem(request, 409, str(exc))  # type: ignore[return-value]
        request.state.audit_event_id = pushed.id
        if pushed.duplicate:
            request.state.audit_outcome = "duplicate"
            response.status_code = 200
        return models.EventAccepted(event_id=pushed.id, duplicate=pushed.duplicate)

    @app.websocket(f"{API}/ws")
    async def live(websocket: WebSocket) -> None:
        """Run status changes and alerts opened or resolved, as JSON messages."""
        await _live(websocket, config, audit, authenticate, instance)

    return app


def _query_error(name: str, message: str, where: str = "query") -> RequestValidationError:
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])


def _run_view(instance: Any, run_id: str) -> models.RunView:
    from dagster import DagsterEventType

    from robo_dagster.tasks.queues import PRIORITY_TAG, QUEUE_TAG
    from robo_dagster.tasks.run_names import RunNamer
    from robo_dagster.tasks.submission import PARTITION_TAG

    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise HTTPException(404, f"no run {run_id} on this instance")
    run = record.dagster_run
    events = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    keys = {
        e.event_log_entry.dagster_event.asset_key.to_user_string()
        for e in events
        if e.event_log_entry.dagster_event is not None
        and e.event_log_entry.dagster_event.asset_key is not None
    }

    def moment(stamp: float | None) -> dt.datetime | None:
        return dt.datetime.fromtimestamp(stamp, dt.timezone.utc) if stamp else None

    priority = run.tags.get(PRIORITY_TAG)
    return models.RunView(
        run_id=run.run_id,
        job=run.job_name,
        name=RunNamer(instance).name(run),
        status=run.status.value,
        queue=run.tags.get(QUEUE_TAG),
        priority=int(priority) if priority and priority.lstrip("-").isdigit() else None,
        partition=run.tags.get(PARTITION_TAG),
        created_at=record.create_timestamp,
        started_at=moment(record.start_time),
        ended_at=moment(record.end_time),
        assets_materialized=sorted(keys),
    )


async def _live(
    websocket: WebSocket,
    config: ApiConfig,
    audit: AuditLog,
    authenticate: Callable[[str | None, str], str],
    instance: Callable[[], Any],
) -> None:
    from robo_dagster.api.live import LiveFeed

    client = websocket.client.host if websocket.client else None

    async def refuse(code: int, detail: str, caller: str | None = None) -> None:
        audit.record(
            audit_row(
                method="WS",
                endpoint=websocket.url.path,
                status=code,
                outcome=OUTCOMES[code],
                token_name=caller,
                client=client,
                detail=detail,
            )
        )
        await websocket.close(code=1008, reason=detail[:120])

    try:
        caller = authenticate(websocket.headers.get("authorization"), "read")
    except HTTPException as exc:
        await refuse(exc.status_code, str(exc.detail), getattr(exc, "caller", None))
        return
    verdict = config.rate_limits.hit("read", caller)
    if not verdict.allowed:
        await refuse(429, f"over the read rate limit; retry in {verdict.retry_after_s} s", caller)
        return
    try:
        feed = LiveFeed(await run_in_threadpool(instance), config.database)
    except Unavailable as exc:
        await websocket.accept()
        await websocket.close(code=1011, reason=str(exc)[:120])
        return
    await websocket.accept()
    cursor = await run_in_threadpool(feed.start)
    await websocket.send_json({"type": "hello", "caller": caller, "poll_s": config.poll_s})
    try:
        while True:
            messages, cursor = await run_in_threadpool(feed.poll, cursor)
            for message in messages:
                await websocket.send_text(json.dumps(message, default=str))
            await _wait_or_disconnect(websocket.receive_text, config.poll_s)
    except WebSocketDisconnect:
        return


async def _wait_or_disconnect(receive: Callable[[], Awaitable[str]], seconds: float) -> None:
    """Sleep ``seconds``, noticing a client that disconnects meanwhile (messages a
    client sends are ignored)."""
    try:
        await asyncio.wait_for(receive(), timeout=seconds)
    except asyncio.TimeoutError:
        return

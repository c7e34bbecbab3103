"""The LLM analyst against real HTTP servers on 127.0.0.1 that speak both wire formats.

Each server replays a per-test script of responses (status, headers, body, delay, a body cut
short) and records every request it receives. The clients are the vendors' SDKs; only the
sleeping between retries is patched (``sleeps``, to record delays); the HTTP is real.
"""

import json
import logging
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest

from robo_dagster.domain.analysis_models import FEATURE_COLUMNS, RecommendationRequest
from robo_dagster.providers import llm
from robo_dagster.providers.llm import LLMAnalyst, LLMError, LLMResult

API_KEY = "sk-test-SECRET-0123456789abcdef"
UNIVERSE = ["AAPL", "MSFT", "JPM", "SPY"]
MAX_WEIGHT = 0.25
CASH_FLOOR = 0.02
REQUEST = RecommendationRequest(risk_tolerance="moderate", max_recommendations=3)

VALID = {
    "recommendations": [
        {
            "symbol": "AAPL",
            "action": "BUY",
            "target_weight": 0.2,
            "confidence": 0.7,
            "horizon_days": 20,
            "rationale": "Momentum and positive news.",
            "signals": ["momentum +0.62", "sentiment +0.40"],
        },
        {
            "symbol": "JPM",
            "action": "HOLD",
            "target_weight": 0.1,
            "confidence": 0.5,
            "horizon_days": 10,
            "rationale": "Neutral.",
            "signals": [],
        },
    ]
}
VALID_TEXT = json.dumps(VALID)


# ------------------------------------------------------------------------------ the servers


@dataclass
class Scripted:
    status: int = 200
    body: Any = None  # dict -> JSON, str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut: bool = False  # announce the whole body, send half of it, and hang up


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fmt: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fmt = fmt
        self.script: queue.Queue[Scripted] = queue.Queue()
        self.requests: list[Recorded] = []
        self.stop = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        root = f"http://{host!s}:{port}"
        return root if self.fmt == "anthropic" else f"{root}/v1"

    def push(self, *responses: Scripted) -> None:
        for response in responses:
            self.script.put(response)


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        self.server.requests.append(
            Recorded(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw),
            )
        )
        try:
            scripted = self.server.script.get_nowait()
        except queue.Empty:
            scripted = Scripted(500, {"error": "script exhausted"})
        if scripted.delay and self.server.stop.wait(scripted.delay):
            return  # the test is over
        body = scripted.body
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(scripted.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in scripted.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2] if scripted.cut else payload)
            if scripted.cut:
                self.wfile.flush()
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(fmt: str) -> Iterator[ScriptedServer]:
    server = ScriptedServer(fmt)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(params=["anthropic", "openai"])
def server(request: pytest.FixtureRequest) -> Iterator[ScriptedServer]:
    yield from _serve(request.param)


@pytest.fixture()
def anthropic_server() -> Iterator[ScriptedServer]:
    yield from _serve("anthropic")


@pytest.fixture()
def openai_server() -> Iterator[ScriptedServer]:
    yield from _serve("openai")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------------------ helpers


def ok(fmt: str, text: str, tokens_in: int = 100, tokens_out: int = 50) -> Scripted:
    if fmt == "anthropic":
        body: dict[str, Any] = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-test-20250101",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }
    else:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-test-0001",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
    return Scripted(200, body)


def err(
    fmt: str,
    status: int,
    error_type: str,
    message: str = "something went wrong",
    headers: dict[str, str] | None = None,
) -> Scripted:
    if fmt == "anthropic":
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": error_type, "message": message},
        }
    else:
        body = {"error": {"message": message, "type": error_type, "code": None}}
    return Scripted(status, body, headers or {})


def served_model(fmt: str) -> str:
    return "claude-test-20250101" if fmt == "anthropic" else "gpt-test-0001"


def analyst(srv: ScriptedServer, **overrides: Any) -> LLMAnalyst:
    config: dict[str, Any] = {
        "provider": srv.fmt,
        "model": "claude-test" if srv.fmt == "anthropic" else "gpt-test",
        "api_key": API_KEY,
        "base_url": srv.base_url,
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 1.0,
    }
    config.update(overrides)
    return LLMAnalyst(**config)


def features() -> pd.DataFrame:
    rows = []
    for i, (symbol, sector) in enumerate(
        [
            ("AAPL", "Information Technology"),
            ("MSFT", "Information Technology"),
            ("JPM", "Financials"),
            ("SPY", "Benchmark"),
        ]
    ):
        row: dict[str, Any] = dict.fromkeys(FEATURE_COLUMNS, 0.01 * (i + 1))
        row.update(
            symbol=symbol,
            sector=sector,
            is_benchmark=symbol == "SPY",
            held=symbol in {"AAPL", "JPM"},
            close=100.0 + i,
            rsi_14=55.5 + i,
            news_count=3 + i,
            pe_ratio=np.nan if symbol == "SPY" else 20.0 + i,
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=FEATURE_COLUMNS)


def recommend(resource: LLMAnalyst, frame: pd.DataFrame | None = None) -> LLMResult:
    return resource.recommend(
        features() if frame is None else frame,
        REQUEST,
        max_position_weight=MAX_WEIGHT,
        cash_floor_pct=CASH_FLOOR,
        universe=UNIVERSE,
    )


def conversation(req: Recorded) -> list[dict[str, str]]:
    """The user/assistant turns of a recorded request, whatever the wire format."""
    messages = req.body["messages"]
    return [m for m in messages if m["role"] != "system"]


def system_prompt(req: Recorded) -> str:
    if "system" in req.body:
        return str(req.body["system"])
    return str(req.body["messages"][0]["content"])


# ------------------------------------------------------------------------------ success


def test_valid_reply_parses_and_request_is_well_formed(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    server.push(ok(server.fmt, VALID_TEXT, tokens_in=321, tokens_out=45))
    frame = features()

    result = recommend(analyst(server), frame)

    assert [r.symbol for r in result.recommendations.recommendations] == ["AAPL", "JPM"]
    assert result.recommendations.recommendations[0].target_weight == 0.2
    assert (result.input_tokens, result.output_tokens) == (321, 45)
    assert result.model == served_model(server.fmt)
    assert result.attempts == 1
    assert result.prompt_version == llm.PROMPT_VERSION == "recommendations-v1"
    assert result.latency_s > 0
    assert sleeps == []

    [req] = server.requests
    assert req.headers["content-type"] == "application/json"
    # The SDKs' own retries are off: ours retry, with our backoff.
    assert req.headers.get("x-stainless-retry-count", "0") == "0"
    if server.fmt == "anthropic":
        assert req.path == "/v1/messages"
        # What the anthropic SDK sends: the key as a bearer token, its API version.
        assert req.headers["authorization"] == f"Bearer {API_KEY}"
        assert req.headers["anthropic-version"]
        assert req.body["model"] == "claude-test"
        assert req.body["max_tokens"] == 2000
        assert [m["role"] for m in req.body["messages"]] == ["user"]
        # The SDK no longer takes a temperature.
        assert set(req.body) == {"model", "max_tokens", "system", "messages"}
    else:
        assert req.path == "/v1/chat/completions"
        assert req.headers["authorization"] == f"Bearer {API_KEY}"
        assert "x-api-key" not in req.headers
        assert req.body["model"] == "gpt-test"
        assert [m["role"] for m in req.body["messages"]] == ["system", "user"]
        assert req.body["response_format"] == {"type": "json_object"}
        assert req.body["temperature"] == 0.0

    system = system_prompt(req)
    assert "long-only" in system.lower()
    assert "SPY" in system
    user = conversation(req)[0]["content"]
    # the features travel as compact JSON records, NaN as null
    sent = json.loads(user.split("<features>\n", 1)[1].split("\n</features>", 1)[0])
    assert sent == json.loads(llm.features_json(frame))
    assert [row["symbol"] for row in sent] == ["AAPL", "MSFT", "JPM", "SPY"]
    assert list(sent[0]) == FEATURE_COLUMNS
    assert sent[3]["pe_ratio"] is None
    # options, limits, allowed symbols (benchmark removed) and the exact schema
    assert '"risk_tolerance":"moderate"' in user
    assert '"max_recommendations":3' in user
    assert '"max_position_weight":0.25' in user
    assert '"cash_floor_pct":0.02' in user
    assert '["AAPL","MSFT","JPM"]' in user
    schema = json.loads(user.split("<schema>\n", 1)[1].split("\n</schema>", 1)[0])
    assert schema == llm.RecommendationSet.model_json_schema()
    assert "JSON" in user


def test_fenced_json_is_accepted(server: ScriptedServer, sleeps: list[float]) -> None:
    server.push(ok(server.fmt, f"Here you go:\n```json\n{VALID_TEXT}\n```\n"))
    result = recommend(analyst(server))
    assert len(result.recommendations.recommendations) == 2
    assert result.attempts == 1


def test_openai_without_key_sends_no_authorization(
    openai_server: ScriptedServer, sleeps: list[float]
) -> None:
    """Local servers (Ollama, vLLM, LM Studio) take no key: no Authorization header at all."""
    openai_server.push(ok("openai", VALID_TEXT))
    recommend(analyst(openai_server, api_key=""))
    assert "authorization" not in openai_server.requests[0].headers


# ------------------------------------------------------------------------------ retries


def test_429_honours_retry_after(server: ScriptedServer, sleeps: list[float]) -> None:
    server.push(
        err(server.fmt, 429, "rate_limit_error", "slow down", {"retry-after": "2"}),
        ok(server.fmt, VALID_TEXT),
    )
    result = recommend(analyst(server))
    assert result.attempts == 2
    assert len(sleeps) == 1
    assert sleeps[0] >= 2.0
    assert len(server.requests) == 2


def test_5xx_retried_with_growing_backoff(server: ScriptedServer, sleeps: list[float]) -> None:
    server.push(
        err(server.fmt, 500, "api_error"),
        err(server.fmt, 503, "overloaded" if server.fmt == "openai" else "api_error"),
        Scripted(502, "<html>bad gateway</html>"),  # a proxy's body, not the provider's
        ok(server.fmt, VALID_TEXT, tokens_in=10, tokens_out=5),
    )
    result = recommend(analyst(server))
    assert result.attempts == 4
    assert (result.input_tokens, result.output_tokens) == (10, 5)
    assert sleeps == pytest.approx([0.01, 0.02, 0.04])
    assert sleeps == sorted(sleeps)


def test_backoff_is_capped(server: ScriptedServer, sleeps: list[float]) -> None:
    server.push(*[err(server.fmt, 500, "api_error")] * 4, ok(server.fmt, VALID_TEXT))
    result = recommend(analyst(server, max_retries=4, backoff_max_s=0.03))
    assert result.attempts == 5
    assert sleeps == pytest.approx([0.01, 0.02, 0.03, 0.03])


def test_anthropic_529_overloaded_then_success(
    anthropic_server: ScriptedServer, sleeps: list[float]
) -> None:
    anthropic_server.push(
        err("anthropic", 529, "overloaded_error", "Overloaded"),
        ok("anthropic", VALID_TEXT),
    )
    result = recommend(analyst(anthropic_server))
    assert result.attempts == 2
    assert sleeps == pytest.approx([0.01])


def test_retries_exhausted(server: ScriptedServer, sleeps: list[float]) -> None:
    server.push(*[err(server.fmt, 500, "api_error", "boom")] * 3)
    with pytest.raises(LLMError, match=r"after 3 attempt\(s\): HTTP 500 api_error: boom") as info:
        recommend(analyst(server, max_retries=2))
    assert info.value.status == 500
    assert info.value.attempts == 3
    assert len(server.requests) == 3
    assert sleeps == pytest.approx([0.01, 0.02])


def test_hang_past_timeout_is_retried_then_fails(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    server.push(*[Scripted(200, "{}", delay=3.0)] * 2)
    with pytest.raises(LLMError, match="timeout") as info:
        recommend(analyst(server, timeout_s=0.5, max_retries=1))
    assert info.value.error_type == "timeout"
    assert info.value.attempts == 2
    assert len(server.requests) == 2
    assert len(sleeps) == 1


def test_connection_refused_is_retried(sleeps: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resource = LLMAnalyst(
        provider="openai",
        model="m",
        base_url=f"http://127.0.0.1:{port}/v1",
        max_retries=2,
        backoff_base_s=0.01,
    )
    with pytest.raises(LLMError, match="transport error") as info:
        recommend(resource)
    assert info.value.attempts == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("cut", ["connection", "json"])
def test_a_200_body_cut_short_is_retried_not_sent_to_the_fallback(
    server: ScriptedServer, sleeps: list[float], cut: str
) -> None:
    """The defect: a truncated 200 went straight to the rules. A body cut short (the
    connection closed mid-body, or a complete response whose JSON stops half-way) is now
    retried with the backoff, and the retry's answer stands."""
    whole = ok(server.fmt, VALID_TEXT, tokens_in=7, tokens_out=3)
    if cut == "connection":
        broken = Scripted(200, whole.body, cut=True)
    else:
        text = json.dumps(whole.body)
        broken = Scripted(200, text[: len(text) // 2])
    server.push(broken, whole)
    result = recommend(analyst(server))
    assert result.attempts == 2
    assert len(server.requests) == 2
    assert sleeps == pytest.approx([0.01])
    assert [r.symbol for r in result.recommendations.recommendations] == ["AAPL", "JPM"]


def test_bodies_cut_short_every_time_fail_after_the_retries(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    server.push(*[Scripted(200, '{"id": "msg_01", "cont')] * 3)
    with pytest.raises(LLMError, match=r"after 3 attempt\(s\): a reply body cut short") as info:
        recommend(analyst(server, max_retries=2))
    assert info.value.error_type == "truncated_body"


def test_a_hanging_server_ends_at_the_deadline(server: ScriptedServer) -> None:
    """The defect: a server that hangs held the run for about 5 minutes. The deadline
    bounds the whole call: each request's timeout is cut to the time left, and no retry
    starts after it. Real sleeps here (the backoff is 10 ms)."""
    server.push(*[Scripted(200, "{}", delay=30.0)] * 20)
    resource = analyst(server, timeout_s=0.4, max_retries=50, deadline_s=1.0)
    with pytest.raises(LLMError, match=r"the 1 s deadline \(ROBO_LLM_DEADLINE_S\) passed") as info:
        recommend(resource)
    assert info.value.error_type == "deadline"
    # 0.4 s timeouts in 1.0 s: two whole attempts, and a third cut to what was left.
    assert 2 <= info.value.attempts <= 3
    assert len(server.requests) == info.value.attempts


def test_past_the_deadline_the_rules_answer(server: ScriptedServer) -> None:
    from robo_dagster.ai_analysis.analysts import LLMBackedAnalyst

    server.push(*[Scripted(200, "{}", delay=30.0)] * 5)
    backed = LLMBackedAnalyst(llm=analyst(server, timeout_s=0.3, deadline_s=0.5))
    frame = features().assign(is_benchmark=lambda f: f["symbol"] == "SPY")
    output = backed.recommend(
        frame, REQUEST, max_position_weight=MAX_WEIGHT, cash_floor_pct=CASH_FLOOR
    )
    assert output.fallback_reason is not None
    assert "deadline" in output.fallback_reason
    assert set(output.frame["source"]) == {"fallback"}
    assert set(output.frame["symbol"]) <= {"AAPL", "MSFT", "JPM"}


def test_the_environment_sets_timeout_retries_and_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from robo_dagster.resources import build_analyst

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("ROBO_LLM_TIMEOUT_S", "7.5")
    monkeypatch.setenv("ROBO_LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("ROBO_LLM_DEADLINE_S", "30")
    resource = build_analyst("openai").llm  # type: ignore[attr-defined]
    assert (resource.timeout_s, resource.max_retries, resource.deadline_s) == (7.5, 1, 30.0)
    for name, value in [
        ("ROBO_LLM_TIMEOUT_S", "0"),
        ("ROBO_LLM_TIMEOUT_S", "soon"),
        ("ROBO_LLM_MAX_RETRIES", "-1"),
        ("ROBO_LLM_DEADLINE_S", "nan"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            build_analyst("openai")
        monkeypatch.delenv(name)


def test_anthropic_without_a_key_is_a_clear_error(sleeps: list[float]) -> None:
    resource = LLMAnalyst(provider="anthropic", model="m", base_url="http://127.0.0.1:9")
    with pytest.raises(LLMError, match="set ANTHROPIC_API_KEY"):
        recommend(resource)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, "authentication_error"),
        (400, "invalid_request_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
    ],
)
def test_client_errors_fail_at_once(
    server: ScriptedServer, sleeps: list[float], status: int, error_type: str
) -> None:
    server.push(err(server.fmt, status, error_type, "nope"), ok(server.fmt, VALID_TEXT))
    with pytest.raises(LLMError) as info:
        recommend(analyst(server))
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert error_type in message
    assert info.value.status == status
    assert info.value.attempts == 1
    assert len(server.requests) == 1
    assert sleeps == []


# ------------------------------------------------------------------------------ invalid output


def test_malformed_then_valid_asks_once_with_the_error(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    server.push(
        ok(server.fmt, "Sure! I recommend buying Apple.", tokens_in=100, tokens_out=10),
        ok(server.fmt, VALID_TEXT, tokens_in=150, tokens_out=40),
    )
    result = recommend(analyst(server))
    assert result.attempts == 2
    assert (result.input_tokens, result.output_tokens) == (250, 50)
    assert sleeps == []

    first, second = server.requests
    turns = conversation(second)
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0] == conversation(first)[0]
    assert turns[1]["content"] == "Sure! I recommend buying Apple."
    assert "Invalid JSON" in turns[2]["content"]  # pydantic's validation error text
    assert "corrected JSON" in turns[2]["content"]


def test_limit_breaches_are_invalid_output(server: ScriptedServer, sleeps: list[float]) -> None:
    bad = {
        "recommendations": [
            {**VALID["recommendations"][0], "symbol": "TSLA"},
            {**VALID["recommendations"][0], "symbol": "SPY"},
            {**VALID["recommendations"][0], "symbol": "MSFT", "target_weight": 0.4},
        ]
    }
    server.push(ok(server.fmt, json.dumps(bad)), ok(server.fmt, VALID_TEXT))
    result = recommend(analyst(server))
    assert result.attempts == 2
    feedback = conversation(server.requests[1])[2]["content"]
    assert "TSLA: not an allowed symbol" in feedback
    assert "SPY: not an allowed symbol" in feedback
    assert "MSFT: target_weight 0.4 above max_position_weight 0.25" in feedback


def test_malformed_twice_fails(server: ScriptedServer, sleeps: list[float]) -> None:
    server.push(
        ok(server.fmt, "not json"),
        ok(server.fmt, '{"recommendations": [{"symbol": "AAPL"}]}'),
        ok(server.fmt, VALID_TEXT),  # never asked for
    )
    with pytest.raises(LLMError, match=r"^invalid output: ") as info:
        recommend(analyst(server))
    assert "Field required" in str(info.value)
    assert info.value.attempts == 2
    assert len(server.requests) == 2


# ------------------------------------------------------------------------------ the key stays secret


def test_api_key_never_leaks(
    server: ScriptedServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Servers that echo the key in error messages; we log, raise and repr without it."""
    echo = f"Incorrect API key provided: {API_KEY}"
    caplog.set_level(logging.DEBUG)
    resource = analyst(server)
    texts = [repr(resource), str(resource)]

    server.push(
        err(server.fmt, 429, "rate_limit_error", echo, {"retry-after": "0"}),
        err(server.fmt, 500, "api_error", echo),
        ok(server.fmt, f"no JSON here, but {API_KEY}"),
        ok(server.fmt, VALID_TEXT),
    )
    result = recommend(resource)
    texts += [repr(result), str(result.as_metadata())]

    server.push(err(server.fmt, 401, "authentication_error", echo))
    with pytest.raises(LLMError) as info:
        recommend(resource)
    texts += [str(info.value), repr(info.value)]

    server.push(ok(server.fmt, f"still no JSON {API_KEY}"), ok(server.fmt, f"nope {API_KEY}"))
    with pytest.raises(LLMError) as invalid:
        recommend(resource)
    texts += [str(invalid.value)]

    retry_logs = [r for r in caplog.records if r.name == llm.__name__]
    assert len(retry_logs) >= 3  # the 429, the 500 and the first invalid reply were logged
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    assert "[redacted]" in str(info.value)
    for text in texts:
        assert API_KEY not in text
    assert "api_key" not in repr(resource)  # the field is declared repr=False


def test_envvar_wiring_and_dagster_metadata(
    server: ScriptedServer, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through Dagster: the key comes from an EnvVar and stays out of the event log."""
    from dagster import DagsterInstance, EnvVar, MaterializeResult, asset, materialize

    monkeypatch.setenv("ROBO_TEST_LLM_KEY", API_KEY)
    server.push(ok(server.fmt, VALID_TEXT))

    @asset
    def recommendations(analyst: LLMAnalyst) -> MaterializeResult:
        result = recommend(analyst)
        return MaterializeResult(metadata=result.as_metadata())

    resource = LLMAnalyst(
        provider=server.fmt,  # type: ignore[arg-type]
        model="m",
        api_key=EnvVar("ROBO_TEST_LLM_KEY"),
        base_url=server.base_url,
    )
    with DagsterInstance.ephemeral() as instance:
        outcome = materialize([recommendations], resources={"analyst": resource}, instance=instance)
        assert outcome.success
        events = instance.all_logs(outcome.run_id)
        dump = "\n".join(repr(e) for e in events)
    [materialization] = outcome.asset_materializations_for_node("recommendations")
    assert materialization.metadata["llm_attempts"].value == 1
    assert materialization.metadata["prompt_version"].value == "recommendations-v1"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in dump


# ------------------------------------------------------------------------------ small pieces


def test_missing_feature_columns_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="rsi_14"):
        llm.features_json(features().drop(columns=["rsi_14"]))

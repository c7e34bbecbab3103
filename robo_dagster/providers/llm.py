"""An LLM-backed analyst: the features go in, a validated ``RecommendationSet`` comes out.

Two wire formats are spoken over plain httpx, each described by pydantic models below:

- ``anthropic``: the Anthropic Messages API, ``POST {base_url}/v1/messages``;
- ``openai``: the OpenAI-compatible Chat Completions API, ``POST {base_url}/chat/completions``
  (OpenAI itself, or a local Ollama / vLLM / LM Studio server; leave ``api_key`` empty for
  those and no ``Authorization`` header is sent).

Transport errors, timeouts, 429 and 5xx (and Anthropic's 529 "overloaded") are retried with
exponential backoff and full jitter, honouring ``retry-after``. A reply that is not valid JSON
for ``RecommendationSet`` (or breaks the desk's limits) is sent back once with the validation
error; a second invalid reply raises ``LLMError``.

The API key never leaves the request headers: the field has ``repr=False``, it is never logged,
and any text from the server that we put in a log line or an exception is redacted.
"""

import datetime as dt
import email.utils
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Literal

import httpx
import pandas as pd
from dagster import ConfigurableResource
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from robo_dagster import redaction
from robo_dagster.domain.analysis_models import (
    FEATURE_COLUMNS,
    RecommendationRequest,
    RecommendationSet,
)
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL

logger = logging.getLogger(__name__)

PROMPT_VERSION = "recommendations-v1"

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
OPENAI_BASE_URL = "https://api.openai.com/v1"

BENCHMARKS = frozenset({BENCHMARK_SYMBOL})
# Retried statuses: rate limit, server errors, Anthropic "overloaded".
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
# A retry-after longer than this is clamped: an asset should not hang for an hour.
MAX_RETRY_AFTER_S = 300.0
# How much of a server message / validation error goes into logs, exceptions and the re-ask.
MAX_ERROR_CHARS = 500
MAX_FEEDBACK_CHARS = 2000


def _sleep(seconds: float) -> None:
    """Wait between retries. Tests monkeypatch this module attribute to record the delays."""
    time.sleep(seconds)


def _jitter() -> float:
    """Full jitter: a uniform factor in [0, 1). Tests monkeypatch it to make delays exact."""
    return random.random()


class LLMError(RuntimeError):
    """The LLM call failed for good (after retries where they apply).

    The message says why: the HTTP status and error type, ``timeout``, or
    ``invalid output: ...``. It never contains the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.attempts = attempts


@dataclass(frozen=True)
class LLMResult:
    """A validated recommendation set and what it cost."""

    recommendations: RecommendationSet
    model: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    attempts: int
    prompt_version: str

    def as_metadata(self) -> dict[str, str | int | float]:
        """Plain values for Dagster output metadata (no secrets in here by construction)."""
        return {
            "llm_model": self.model,
            "llm_input_tokens": self.input_tokens,
            "llm_output_tokens": self.output_tokens,
            "llm_latency_s": round(self.latency_s, 3),
            "llm_attempts": self.attempts,
            "prompt_version": self.prompt_version,
            "recommendation_count": len(self.recommendations.recommendations),
        }


# --------------------------------------------------------------------------------------------
# Wire payloads. Requests are strict (what we send); responses ignore unknown fields, because
# providers add fields over time and local servers add their own.


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AnthropicRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    max_tokens: int
    system: str
    messages: list[ChatMessage]
    temperature: float


class AnthropicContentBlock(_Response):
    type: str
    text: str | None = None


class AnthropicUsage(_Response):
    input_tokens: int = 0
    output_tokens: int = 0


class AnthropicResponse(_Response):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[AnthropicContentBlock]
    stop_reason: str | None = None
    usage: AnthropicUsage = AnthropicUsage()


class AnthropicErrorDetail(_Response):
    type: str
    message: str = ""


class AnthropicErrorBody(_Response):
    type: Literal["error"]
    error: AnthropicErrorDetail


class OpenAIResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["json_object"] = "json_object"


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage]
    temperature: float
    response_format: OpenAIResponseFormat = OpenAIResponseFormat()


class OpenAIResponseMessage(_Response):
    role: str = "assistant"
    content: str | None = None


class OpenAIChoice(_Response):
    index: int = 0
    message: OpenAIResponseMessage
    finish_reason: str | None = None


class OpenAIUsage(_Response):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class OpenAIChatResponse(_Response):
    id: str = ""
    object: str = "chat.completion"
    model: str
    choices: list[OpenAIChoice] = Field(min_length=1)
    usage: OpenAIUsage | None = None  # some local servers leave it out


class OpenAIErrorDetail(_Response):
    message: str = ""
    type: str | None = None
    code: str | int | None = None


class OpenAIErrorBody(_Response):
    error: OpenAIErrorDetail


# --------------------------------------------------------------------------------------------
# Prompt and output parsing (pure functions, tested through the resource).

SYSTEM_PROMPT = """\
You are the analyst of a small, long-only equity trading desk. You receive computed features \
for a universe of stocks and return trade recommendations as JSON only.

Rules:
- Long-only: actions are BUY, SELL (reduce or exit a held position) or HOLD; no short \
positions, no leverage, no derivatives.
- Recommend only the allowed symbols. Never recommend the benchmark ({benchmarks}); it is \
in the features for comparison only.
- target_weight is the position's share of equity after the trade: 0 <= target_weight <= \
max_position_weight. The target weights together must not exceed 1 - cash_floor_pct.
- At most max_recommendations recommendations, one per symbol, best first.
- confidence is in [0, 1]; horizon_days in [1, 252]; the rationale is short and cites the \
features; signals name the drivers, e.g. "momentum +0.62".
- Match the risk tolerance: conservative favours low volatility and smaller weights, \
aggressive accepts more.
- Reply with one JSON object that validates against the given JSON schema. No prose, no \
markdown."""


class InvalidOutput(ValueError):
    """The model's reply is not an acceptable ``RecommendationSet``."""


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def features_json(features: pd.DataFrame) -> str:
    """The features as compact JSON records, in ``FEATURE_COLUMNS`` order (NaN -> null)."""
    missing = [column for column in FEATURE_COLUMNS if column not in features.columns]
    if missing:
        raise ValueError(f"features frame lacks columns {missing}")
    return str(features.loc[:, FEATURE_COLUMNS].to_json(orient="records", double_precision=6))


def benchmark_symbols(features: pd.DataFrame) -> set[str]:
    """SPY plus every symbol the features flag as a benchmark."""
    flagged = set()
    if "is_benchmark" in features.columns and "symbol" in features.columns:
        flagged = {
            str(symbol)
            for symbol, is_benchmark in zip(
                features["symbol"], features["is_benchmark"], strict=True
            )
            if not pd.isna(is_benchmark) and bool(is_benchmark)
        }
    return set(BENCHMARKS) | flagged


def build_user_prompt(
    features: pd.DataFrame,
    request: RecommendationRequest,
    *,
    max_position_weight: float,
    cash_floor_pct: float,
    allowed: list[str],
) -> str:
    """The user turn: options, limits, allowed symbols, features and the output schema."""
    options = {
        "risk_tolerance": request.risk_tolerance,
        "max_recommendations": request.max_recommendations,
    }
    limits = {
        "max_position_weight": max_position_weight,
        "cash_floor_pct": cash_floor_pct,
        "max_total_target_weight": round(1.0 - cash_floor_pct, 6),
    }
    schema = json.dumps(RecommendationSet.model_json_schema(), separators=(",", ":"))
    compact = (",", ":")
    return (
        f"Request options:\n{json.dumps(options, separators=compact)}\n\n"
        f"Limits:\n{json.dumps(limits, separators=compact)}\n\n"
        f"Allowed symbols:\n{json.dumps(allowed, separators=compact)}\n\n"
        f"Features, one object per symbol (columns: {', '.join(FEATURE_COLUMNS)}):\n"
        f"<features>\n{features_json(features)}\n</features>\n\n"
        f"JSON schema of the reply (RecommendationSet):\n<schema>\n{schema}\n</schema>\n\n"
        "Reply with the JSON object only."
    )


def extract_json_text(text: str) -> str:
    """A bare JSON object, or the content of a ```json fenced block."""
    stripped = text.strip()
    fenced = _FENCE.search(stripped)
    if fenced and not stripped.startswith("{"):
        return fenced.group(1).strip()
    return stripped


def parse_recommendations(
    text: str,
    *,
    allowed: list[str],
    max_position_weight: float,
    cash_floor_pct: float,
    max_recommendations: int,
) -> RecommendationSet:
    """Validate a reply; ``InvalidOutput`` says what is wrong, for the model to correct."""
    candidate = extract_json_text(text)
    if not candidate:
        raise InvalidOutput("empty reply; expected a JSON object")
    try:
        result = RecommendationSet.model_validate_json(candidate)
    except ValidationError as exc:
        raise InvalidOutput(str(exc)) from None
    problems: list[str] = []
    allowed_set = set(allowed)
    seen: set[str] = set()
    for rec in result.recommendations:
        if rec.symbol not in allowed_set:
            problems.append(f"{rec.symbol}: not an allowed symbol")
        if rec.symbol in seen:
            problems.append(f"{rec.symbol}: recommended more than once")
        seen.add(rec.symbol)
        if rec.target_weight > max_position_weight + 1e-9:
            problems.append(
                f"{rec.symbol}: target_weight {rec.target_weight:g} above "
                f"max_position_weight {max_position_weight:g}"
            )
    if len(result.recommendations) > max_recommendations:
        problems.append(
            f"{len(result.recommendations)} recommendations, more than "
            f"max_recommendations {max_recommendations}"
        )
    total = sum(rec.target_weight for rec in result.recommendations)
    if total > 1.0 - cash_floor_pct + 1e-9:
        problems.append(
            f"target weights sum to {total:g}, above 1 - cash_floor_pct = {1.0 - cash_floor_pct:g}"
        )
    if problems:
        raise InvalidOutput("; ".join(problems))
    return result


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def _retry_after_s(headers: httpx.Headers) -> float | None:
    """``retry-after`` in seconds (delta-seconds or an HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@dataclass
class _Reply:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    truncated: bool


@dataclass
class _Tally:
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


# --------------------------------------------------------------------------------------------


class LLMAnalyst(ConfigurableResource):
    """Asks an LLM (Anthropic Messages or an OpenAI-compatible server) for recommendations.

    Wire ``api_key`` from ``dagster.EnvVar``; it is excluded from ``repr`` and never logged.
    """

    provider: Literal["anthropic", "openai"] = Field(
        description="Wire format: the Anthropic Messages API or OpenAI-compatible chat completions."
    )
    model: str = Field(description="Model name, e.g. a Claude model or 'llama3.1' on Ollama.")
    api_key: str = Field(
        default="",
        repr=False,
        description="API key (use dagster.EnvVar). Empty for local OpenAI-compatible servers.",
    )
    base_url: str | None = Field(
        default=None,
        description="Endpoint root; None uses the provider's public API "
        "(Ollama: http://127.0.0.1:11434/v1).",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Per-request timeout in seconds.")
    max_retries: int = Field(
        default=4, ge=0, description="Retries of transport errors, timeouts, 429, 5xx, 529."
    )
    backoff_base_s: float = Field(default=1.0, ge=0, description="First backoff ceiling (s).")
    backoff_max_s: float = Field(default=30.0, ge=0, description="Largest backoff ceiling (s).")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=2000, gt=0, description="Reply token limit (Anthropic).")

    # ---- public

    def recommend(
        self,
        features: pd.DataFrame,
        request: RecommendationRequest,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
        universe: list[str],
    ) -> LLMResult:
        """Recommendations for ``universe`` from ``features``; raises ``LLMError`` on failure."""
        started = time.monotonic()
        benchmarks = benchmark_symbols(features)
        allowed = [symbol for symbol in universe if symbol not in benchmarks]
        system = SYSTEM_PROMPT.format(benchmarks=", ".join(sorted(benchmarks)))
        messages = [
            ChatMessage(
                role="user",
                content=build_user_prompt(
                    features,
                    request,
                    max_position_weight=max_position_weight,
                    cash_floor_pct=cash_floor_pct,
                    allowed=allowed,
                ),
            )
        ]
        tally = _Tally()
        with httpx.Client(timeout=httpx.Timeout(self.timeout_s)) as client:
            for turn in range(2):
                reply = self._exchange(client, system, messages, tally)
                try:
                    recommendations = parse_recommendations(
                        reply.text,
                        allowed=allowed,
                        max_position_weight=max_position_weight,
                        cash_floor_pct=cash_floor_pct,
                        max_recommendations=request.max_recommendations,
                    )
                except InvalidOutput as exc:
                    reason = self._redact(str(exc))
                    if reply.truncated:
                        reason = f"reply truncated at the token limit; {reason}"
                    if turn == 0:
                        logger.warning(
                            "%s model %s returned invalid output (%s); asking once for "
                            "corrected JSON",
                            self.provider,
                            self.model,
                            _truncate(reason, MAX_ERROR_CHARS),
                        )
                        messages = [
                            *messages,
                            ChatMessage(role="assistant", content=reply.text or "(empty reply)"),
                            ChatMessage(
                                role="user",
                                content=(
                                    "Your reply was not valid. Validation error:\n"
                                    f"{_truncate(reason, MAX_FEEDBACK_CHARS)}\n\n"
                                    "Reply again with the corrected JSON object only, matching "
                                    "the schema and the limits."
                                ),
                            ),
                        ]
                        continue
                    raise LLMError(
                        f"invalid output: {_truncate(reason, MAX_ERROR_CHARS)}",
                        error_type="invalid_output",
                        attempts=tally.attempts,
                    ) from None
                return LLMResult(
                    recommendations=recommendations,
                    model=reply.model or self.model,
                    input_tokens=tally.input_tokens,
                    output_tokens=tally.output_tokens,
                    latency_s=time.monotonic() - started,
                    attempts=tally.attempts,
                    prompt_version=PROMPT_VERSION,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- one request, with retries

    def _exchange(
        self, client: httpx.Client, system: str, messages: list[ChatMessage], tally: _Tally
    ) -> _Reply:
        url, headers, payload = self._request(system, messages)
        for attempt in range(self.max_retries + 1):
            tally.attempts += 1
            retry_after: float | None = None
            status: int | None = None
            error_type: str | None = None
            try:
                response = client.post(url, headers=headers, content=payload)
            except httpx.TimeoutException as exc:
                error_type = "timeout"
                reason = f"timeout after {self.timeout_s:g}s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                error_type = "transport_error"
                reason = f"transport error ({type(exc).__name__}: {self._redact(str(exc))})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    reply = self._parse_success(response, tally)
                    tally.input_tokens += reply.input_tokens
                    tally.output_tokens += reply.output_tokens
                    return reply
                error_type, message = self._parse_error(response)
                reason = self._redact(f"HTTP {status} {error_type}: {message}")
                if status not in RETRYABLE_STATUSES:
                    raise LLMError(
                        f"{self.provider} request failed: {reason}",
                        status=status,
                        error_type=error_type,
                        attempts=tally.attempts,
                    )
                retry_after = _retry_after_s(response.headers)
            reason = self._redact(reason)
            if attempt >= self.max_retries:
                raise LLMError(
                    f"{self.provider} request failed after {attempt + 1} attempt(s): {reason}",
                    status=status,
                    error_type=error_type,
                    attempts=tally.attempts,
                )
            delay = self._backoff_s(attempt, retry_after)
            logger.warning(
                "%s model %s: %s; retry %d/%d in %.2fs",
                self.provider,
                self.model,
                reason,
                attempt + 1,
                self.max_retries,
                delay,
            )
            _sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff_s(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter on ``base * 2**attempt`` (capped); a longer ``retry-after`` wins."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
        delay = ceiling * _jitter()
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return delay

    # ---- wire formats

    def _request(self, system: str, messages: list[ChatMessage]) -> tuple[str, dict[str, str], str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.provider == "anthropic":
            base = (self.base_url or ANTHROPIC_BASE_URL).rstrip("/")
            headers["x-api-key"] = self.api_key
            headers["anthropic-version"] = ANTHROPIC_VERSION
            body: BaseModel = AnthropicRequest(
                model=self.model,
                max_tokens=self.max_tokens,
                system=system,
                messages=messages,
                temperature=self.temperature,
            )
            return f"{base}/v1/messages", headers, body.model_dump_json()
        base = (self.base_url or OPENAI_BASE_URL).rstrip("/")
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        body = OpenAIChatRequest(
            model=self.model,
            messages=[ChatMessage(role="system", content=system), *messages],
            temperature=self.temperature,
        )
        return f"{base}/chat/completions", headers, body.model_dump_json()

    def _parse_success(self, response: httpx.Response, tally: _Tally) -> _Reply:
        try:
            if self.provider == "anthropic":
                message = AnthropicResponse.model_validate_json(response.content)
                return _Reply(
                    text="".join(
                        block.text or "" for block in message.content if block.type == "text"
                    ),
                    model=message.model,
                    input_tokens=message.usage.input_tokens,
                    output_tokens=message.usage.output_tokens,
                    truncated=message.stop_reason == "max_tokens",
                )
            completion = OpenAIChatResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise LLMError(
                f"{self.provider} returned an unexpected response body (HTTP "
                f"{response.status_code}): {_truncate(self._redact(str(exc)), MAX_ERROR_CHARS)}",
                status=response.status_code,
                error_type="unexpected_response",
                attempts=tally.attempts,
            ) from None
        choice = completion.choices[0]
        usage = completion.usage or OpenAIUsage()
        return _Reply(
            text=choice.message.content or "",
            model=completion.model,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            truncated=choice.finish_reason == "length",
        )

    def _parse_error(self, response: httpx.Response) -> tuple[str, str]:
        """(error type, message) from an error body of either format, redacted and truncated."""
        error_type = "unknown_error"
        message = response.text
        try:
            if self.provider == "anthropic":
                anthropic_error = AnthropicErrorBody.model_validate_json(response.content)
                error_type, message = anthropic_error.error.type, anthropic_error.error.message
            else:
                openai_error = OpenAIErrorBody.model_validate_json(response.content)
                error_type = str(
                    openai_error.error.type or openai_error.error.code or "unknown_error"
                )
                message = openai_error.error.message
        except ValidationError:
            pass
        return error_type, _truncate(self._redact(message.strip()), MAX_ERROR_CHARS)

    def _redact(self, text: str) -> str:
        """Remove the API key, and any run of 8 or more of its characters, from text that
        came from elsewhere (servers echo keys back, and error formatting cuts them)."""
        redaction.register_secret(self.api_key)
        return redaction.redact(text)

"""An LLM-backed analyst: the features go in, a validated ``RecommendationSet`` comes out.

The vendors' official SDKs speak the wire formats:

- ``anthropic``: the Anthropic Messages API through the ``anthropic`` SDK;
- ``openai``: the Chat Completions API through the ``openai`` SDK: OpenAI itself, or a
  local Ollama / vLLM / LM Studio server at ``base_url``. Leave ``api_key`` empty for
  those, and no ``Authorization`` header is sent.

The SDKs' own retries are off (``max_retries=0``): every call retries through
``robo_dagster.call_retries``, with our backoff (full jitter on ``backoff_base_s * 2**n``,
capped at ``backoff_max_s``), honouring ``retry-after``. Retried: timeouts, dropped
connections, 429, 5xx, Anthropic's 529 "overloaded", and a 200 whose body was cut short.
Other 4xx fail at once. ``timeout_s`` bounds each request and ``deadline_s`` the whole
``recommend`` call, retries and the re-ask included: once it has passed, ``LLMError``
says so and the rules answer for every symbol (one request covers the whole universe,
so no symbol has an answer yet). The environment sets all three (``ROBO_LLM_TIMEOUT_S``,
``ROBO_LLM_MAX_RETRIES``, ``ROBO_LLM_DEADLINE_S``; ``robo_dagster.settings``).

A reply that is not valid JSON for ``RecommendationSet`` (or breaks the desk's limits) is
sent back once with the validation error; a second invalid reply raises ``LLMError``.

The SDKs are imported when a client is built, not with this module: a run that uses the
rules never pays for them.

The API key never leaves the SDK's request headers: the field has ``repr=False``, it is
never logged, and any text from the server that we put in a log line or an exception is
redacted.
"""

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field, ValidationError

from robo_dagster import redaction
from robo_dagster.call_retries import Backoff, GaveUp, Transient, call_with_retries, retry_after_s
from robo_dagster.domain.analysis_models import (
    FEATURE_COLUMNS,
    RecommendationRequest,
    RecommendationSet,
)
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL

logger = logging.getLogger(__name__)

PROMPT_VERSION = "recommendations-v1"

BENCHMARKS = frozenset({BENCHMARK_SYMBOL})
# Retried statuses: rate limit, server errors, Anthropic "overloaded".
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
# A retry-after longer than this is clamped: an asset should not hang for an hour.
MAX_RETRY_AFTER_S = 300.0
# How much of a server message / validation error goes into logs, exceptions and the re-ask.
MAX_ERROR_CHARS = 500
MAX_FEEDBACK_CHARS = 2000


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
        description="Endpoint root; None uses the SDK's default, the provider's public API "
        "(Ollama: http://127.0.0.1:11434/v1).",
    )
    timeout_s: float = Field(
        default=60.0, gt=0, description="Per-request timeout in seconds (ROBO_LLM_TIMEOUT_S)."
    )
    max_retries: int = Field(
        default=4,
        ge=0,
        description="Retries of timeouts, dropped connections, 429, 5xx, 529 and cut-short "
        "bodies (ROBO_LLM_MAX_RETRIES).",
    )
    deadline_s: float = Field(
        default=120.0,
        gt=0,
        description="The whole call's time limit, retries and the re-ask included; then the "
        "rules answer (ROBO_LLM_DEADLINE_S).",
    )
    backoff_base_s: float = Field(default=1.0, ge=0, description="First backoff ceiling (s).")
    backoff_max_s: float = Field(default=30.0, ge=0, description="Largest backoff ceiling (s).")
    temperature: float = Field(
        default=0.0,
        ge=0,
        le=2,
        description="OpenAI-compatible servers only: the Anthropic SDK no longer takes it.",
    )
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
        deadline = started + self.deadline_s
        benchmarks = benchmark_symbols(features)
        allowed = [symbol for symbol in universe if symbol not in benchmarks]
        system = SYSTEM_PROMPT.format(benchmarks=", ".join(sorted(benchmarks)))
        messages = [
            {
                "role": "user",
                "content": build_user_prompt(
                    features,
                    request,
                    max_position_weight=max_position_weight,
                    cash_floor_pct=cash_floor_pct,
                    allowed=allowed,
                ),
            }
        ]
        with self._client() as client:  # closes the SDK's connection pool
            return self._converse(
                client,
                system,
                messages,
                _Tally(),
                (started, deadline),
                allowed,
                request,
                max_position_weight=max_position_weight,
                cash_floor_pct=cash_floor_pct,
            )

    def _converse(
        self,
        client: Any,
        system: str,
        messages: list[dict[str, str]],
        tally: _Tally,
        window: tuple[float, float],
        allowed: list[str],
        request: RecommendationRequest,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
    ) -> LLMResult:
        """The request, and once more with the validation error if the reply is invalid.
        ``window``: when the call started and its deadline (``time.monotonic()``)."""
        started, deadline = window
        for turn in range(2):
            reply = self._exchange(client, system, messages, tally, deadline)
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
                if turn == 1:
                    raise LLMError(
                        f"invalid output: {_truncate(reason, MAX_ERROR_CHARS)}",
                        error_type="invalid_output",
                        attempts=tally.attempts,
                    ) from None
                logger.warning(
                    "%s model %s returned invalid output (%s); asking once for corrected JSON",
                    self.provider,
                    self.model,
                    _truncate(reason, MAX_ERROR_CHARS),
                )
                # Redacted: a reply that echoes the key must not carry it into the next
                # request, or into the SDK's debug log of it.
                messages = [*messages, *_correction(self._redact(reply.text), reason)]
                continue
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
        self,
        client: Any,
        system: str,
        messages: list[dict[str, str]],
        tally: _Tally,
        deadline: float,
    ) -> _Reply:
        backoff = Backoff(self.max_retries, self.backoff_base_s, self.backoff_max_s)

        def attempt() -> _Reply:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Transient("no time left", error_type="deadline")
            tally.attempts += 1
            return self._send(client, system, messages, timeout=min(self.timeout_s, remaining))

        try:
            reply, _ = call_with_retries(
                attempt,
                backoff,
                what=f"{self.provider} model {self.model}",
                log=logger,
                deadline=deadline,
            )
        except GaveUp as exc:
            last = exc.last
            if exc.deadline_passed or last.error_type == "deadline":
                message = (
                    f"{self.provider} gave up: the {self.deadline_s:g} s deadline "
                    f"(ROBO_LLM_DEADLINE_S) passed after {tally.attempts} attempt(s); "
                    f"last: {last.reason}"
                )
                error_type = "deadline"
            else:
                message = (
                    f"{self.provider} request failed after {exc.attempts} attempt(s): {last.reason}"
                )
                error_type = last.error_type or "unknown_error"
            raise LLMError(
                message, status=last.status, error_type=error_type, attempts=tally.attempts
            ) from None
        except LLMError as exc:
            exc.attempts = tally.attempts
            raise
        tally.input_tokens += reply.input_tokens
        tally.output_tokens += reply.output_tokens
        return reply

    def _client(self) -> Any:
        """The SDK's client, with its own retries off: ``call_retries`` retries."""
        sdk = _sdk(self.provider)
        if self.provider == "anthropic":
            if not self.api_key:
                raise LLMError(
                    "no Anthropic API key: set ANTHROPIC_API_KEY", error_type="configuration"
                )
            return sdk.Anthropic(
                api_key=self.api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout_s,
            )
        # A keyless local server: the SDK insists on a key, so it gets a placeholder,
        # and every request omits the Authorization header it would carry.
        return sdk.OpenAI(
            api_key=self.api_key or "no-key",
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout_s,
        )

    def _send(
        self, client: Any, system: str, messages: list[dict[str, str]], *, timeout: float
    ) -> _Reply:
        """One request: the reply, ``Transient`` for what a retry may cure, or ``LLMError``."""
        sdk = _sdk(self.provider)
        try:
            if self.provider == "anthropic":
                message = client.messages.create(
                    model=self.model,
                    max_tokens=self.max_tokens,
                    system=system,
                    messages=messages,
                    timeout=timeout,
                )
                return self._anthropic_reply(message)
            completion = client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, *messages],
                temperature=self.temperature,
                response_format={"type": "json_object"},
                timeout=timeout,
                extra_headers=None if self.api_key else {"Authorization": sdk.Omit()},
            )
            return self._openai_reply(completion)
        except sdk.APITimeoutError:
            raise Transient(f"timeout after {timeout:g}s", error_type="timeout") from None
        except sdk.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise Transient(
                self._redact(f"transport error ({type(cause).__name__}: {cause})"),
                error_type="transport_error",
            ) from None
        except sdk.APIStatusError as exc:
            raise self._status_failure(exc) from None
        except ValueError as exc:  # the SDK's json.loads of a body cut short
            raise Transient(
                "a reply body cut short (HTTP 200, not valid JSON: "
                f"{_truncate(self._redact(str(exc)), MAX_ERROR_CHARS)})",
                error_type="truncated_body",
            ) from None

    def _status_failure(self, exc: Any) -> Exception:
        """An HTTP error status as ``Transient`` (429, 5xx, 529) or a final ``LLMError``."""
        status = int(exc.status_code)
        error_type, message = _error_parts(exc.body, exc.response.text)
        reason = self._redact(f"HTTP {status} {error_type}: {_truncate(message, MAX_ERROR_CHARS)}")
        if status in RETRYABLE_STATUSES:
            wait = retry_after_s(exc.response.headers, MAX_RETRY_AFTER_S)
            return Transient(reason, retry_after=wait, status=status, error_type=error_type)
        return LLMError(
            f"{self.provider} request failed: {reason}", status=status, error_type=error_type
        )

    def _anthropic_reply(self, message: Any) -> _Reply:
        try:
            return _Reply(
                text="".join(block.text or "" for block in message.content if block.type == "text"),
                model=str(message.model),
                input_tokens=int(message.usage.input_tokens or 0),
                output_tokens=int(message.usage.output_tokens or 0),
                truncated=message.stop_reason == "max_tokens",
            )
        except (AttributeError, TypeError) as exc:
            raise self._unexpected(exc) from None

    def _openai_reply(self, completion: Any) -> _Reply:
        try:
            choice = completion.choices[0]
            usage = completion.usage
            return _Reply(
                text=choice.message.content or "",
                model=str(completion.model),
                input_tokens=int(usage.prompt_tokens or 0) if usage else 0,
                output_tokens=int(usage.completion_tokens or 0) if usage else 0,
                truncated=choice.finish_reason == "length",
            )
        except (AttributeError, IndexError, TypeError) as exc:
            raise self._unexpected(exc) from None

    def _unexpected(self, exc: Exception) -> "LLMError":
        """A complete JSON body of the wrong shape: a wrong ``base_url`` or an incompatible
        server, which retrying will not change."""
        return LLMError(
            f"{self.provider} returned an unexpected response body (HTTP 200): "
            f"{_truncate(self._redact(f'{type(exc).__name__}: {exc}'), MAX_ERROR_CHARS)}",
            status=200,
            error_type="unexpected_response",
        )

    def _redact(self, text: str) -> str:
        """Remove the API key, and any run of 8 or more of its characters, from text that
        came from elsewhere (servers echo keys back, and error formatting cuts them)."""
        redaction.register_secret(self.api_key)
        return redaction.redact(text)


def _sdk(provider: str) -> Any:
    """The SDK module, whose error classes the request's failures are sorted by."""
    if provider == "anthropic":
        import anthropic

        return anthropic
    import openai

    return openai


def _error_parts(body: object, text: str) -> tuple[str, str]:
    """(error type, message) from an error body: Anthropic's ``{"type": "error", "error":
    {...}}``, OpenAI's ``error`` object (the SDK hands over its inside), or a proxy's page."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and (body.get("type") or body.get("code") or body.get("message")):
        error_type = str(body.get("type") or body.get("code") or "unknown_error")
        return error_type, str(body.get("message") or "").strip()
    return "unknown_error", text.strip()


def _correction(reply_text: str, reason: str) -> list[dict[str, str]]:
    """The two turns that send an invalid reply back with its validation error."""
    return [
        {"role": "assistant", "content": reply_text or "(empty reply)"},
        {
            "role": "user",
            "content": (
                "Your reply was not valid. Validation error:\n"
                f"{_truncate(reason, MAX_FEEDBACK_CHARS)}\n\n"
                "Reply again with the corrected JSON object only, matching the schema and "
                "the limits."
            ),
        },
    ]

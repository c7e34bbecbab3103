"""The analyst resource: who writes the trade recommendations.

``RuleBasedAnalyst`` is the default: deterministic and explainable. ``LLMBackedAnalyst``
asks Claude or any OpenAI-compatible model and falls back to the rules, marking the rows
``source = "fallback"`` with the reason, when the model fails for good.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import ConfigurableResource

from robo_dagster.domain.analysis_models import RecommendationRequest, RecommendationSet
from robo_dagster.domain.analyst import recommend as recommend_by_rules
from robo_dagster.providers.llm import LLMAnalyst, LLMError


@dataclass
class AnalystOutput:
    """Recommendation rows and what to record about how they were made."""

    frame: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None


class Analyst(ConfigurableResource):
    """The interface: recommendations from the computed features."""

    def recommend(
        self,
        features: pd.DataFrame,
        request: RecommendationRequest,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
    ) -> AnalystOutput:
        raise NotImplementedError


def _rules(
    features: pd.DataFrame,
    request: RecommendationRequest,
    max_position_weight: float,
    cash_floor_pct: float,
    source: str,
) -> pd.DataFrame:
    frame = recommend_by_rules(
        features, request, max_position_weight=max_position_weight, cash_floor_pct=cash_floor_pct
    )
    return frame.assign(source=source, model="rules")


class RuleBasedAnalyst(Analyst):
    """A composite score of momentum, RSI, MACD, trend, news, earnings, valuation and
    options signals with documented weights (``robo_dagster.domain.analyst``)."""

    def recommend(
        self,
        features: pd.DataFrame,
        request: RecommendationRequest,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
    ) -> AnalystOutput:
        frame = _rules(features, request, max_position_weight, cash_floor_pct, "rules")
        return AnalystOutput(frame, {"analyst": "rules"})


class LLMBackedAnalyst(Analyst):
    """Recommendations from a language model, validated against the same pydantic models
    as the rules; the rule-based analyst answers when the model fails for good."""

    llm: LLMAnalyst

    def recommend(
        self,
        features: pd.DataFrame,
        request: RecommendationRequest,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
    ) -> AnalystOutput:
        universe = features.loc[~features["is_benchmark"].astype(bool), "symbol"].tolist()
        try:
            result = self.llm.recommend(
                features,
                request,
                max_position_weight=max_position_weight,
                cash_floor_pct=cash_floor_pct,
                universe=universe,
            )
        except LLMError as exc:
            frame = _rules(features, request, max_position_weight, cash_floor_pct, "fallback")
            return AnalystOutput(
                frame,
                {"analyst": self.llm.provider, "model": self.llm.model, "fallback": str(exc)},
                fallback_reason=str(exc),
            )
        frame = _llm_frame(result.recommendations, features, result.model)
        return AnalystOutput(
            frame,
            {
                "analyst": self.llm.provider,
                "model": result.model,
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
                "latency_s": round(result.latency_s, 3),
                "attempts": result.attempts,
                "prompt_version": result.prompt_version,
            },
        )


def _llm_frame(recs: RecommendationSet, features: pd.DataFrame, model: str) -> pd.DataFrame:
    current = features.set_index("symbol")["current_weight"]
    rows = [
        {
            "symbol": r.symbol,
            "action": r.action,
            "target_weight": r.target_weight,
            "current_weight": float(current.get(r.symbol, 0.0)),
            "confidence": r.confidence,
            "horizon_days": r.horizon_days,
            "score": float("nan"),
            "rationale": r.rationale,
            "signals": json.dumps(r.signals),
            "source": "llm",
            "model": model,
        }
        for r in recs.recommendations
    ]
    return pd.DataFrame(rows)

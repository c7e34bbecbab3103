"""The analyst's contract: what a recommendation is, whoever (rules or an LLM) makes it.

Pydantic validates every recommendation, so an LLM's reply and the rule-based analyst's
output pass through the same gate before anything is stored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["BUY", "SELL", "HOLD"]
RiskTolerance = Literal["conservative", "moderate", "aggressive"]
Source = Literal["rules", "llm", "fallback"]

# The features the analyst sees, one row per symbol (built by ``analyst.build_features``).
FEATURE_COLUMNS: list[str] = [
    "symbol",
    "sector",
    "is_benchmark",
    "held",
    "current_weight",
    "close",
    "return_1d",
    "return_20d",
    "rsi_14",
    "macd_hist",
    "close_vs_sma_50",
    "close_vs_sma_200",
    "realized_vol_20",
    "news_sentiment",
    "news_count",
    "max_news_impact",
    "earnings_surprise_pct",
    "days_to_next_earnings",
    "pe_ratio",
    "pe_vs_sector",
    "put_call_volume_ratio",
    "skew_25d",
    "atm_iv",
]

# The stored recommendation rows (``ai_analysis.trade_recommendations``). ``signals`` and
# ``signals_against`` are JSON lists of tags ("momentum +0.62"): the signals that push the
# way the action points, and those that push the other way.
RECOMMENDATION_COLUMNS: list[str] = [
    "symbol",
    "action",
    "target_weight",
    "current_weight",
    "confidence",
    "horizon_days",
    "score",
    "rationale",
    "signals",
    "signals_against",
    "source",
    "model",
    "session",
]


class Recommendation(BaseModel):
    """One recommendation. ``signals`` names what drove it, e.g. ``"momentum +0.62"``."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=10)
    action: Action
    target_weight: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    horizon_days: int = Field(ge=1, le=252)
    rationale: str = Field(min_length=1, max_length=2000)
    signals: list[str] = Field(default_factory=list)


class RecommendationSet(BaseModel):
    """What an analyst returns: recommendations, best first."""

    model_config = ConfigDict(extra="forbid")

    recommendations: list[Recommendation]


class RecommendationRequest(BaseModel):
    """The seed's request options for ``POST /ai/recommendations``."""

    risk_tolerance: RiskTolerance = "moderate"
    max_recommendations: int = Field(default=5, ge=1, le=20)

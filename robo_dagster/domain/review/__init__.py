"""The desk's reviews: morning brief, risk assessment, evening review and scorecard.

These back the AI-analysis assets. They are rules over the tables the pipeline already
stores (bars, news, earnings, positions, risk, P&L, past recommendations), so an LLM or
the rule-based analyst reads the same facts a person reads in the UI. Every figure is
computed over all symbols at once (pivots, group-bys, merges); Python only loops to
format text.

One module per report, plus what several of them share:

- ``morning``: ``morning_brief``, the pre-market brief (moves, gaps, news, earnings,
  limits and the names whose recommendation needs a refresh).
- ``risk_assessment``: ``assess_risk``, stress scenarios on the book and its severity.
- ``attribution``: ``pnl_attribution``, today's P&L by position and by sector.
- ``scorecard``: ``recommendation_scorecard`` and ``summarize_scorecard``, how past
  recommendations turned out.
- ``evening``: ``evening_review``, the after-close review, and ``reconcile_review``,
  its check against the portfolio's P&L.
- ``limits``: ``limit_checks`` and the limit severity table, shared by the morning
  brief and the risk assessment.
- ``common``: the conventions every review follows (units, signs, severities, dates)
  and the small helpers they share.

Every public name is re-exported here, so callers import from
``robo_dagster.domain.review``.
"""

from robo_dagster.domain.review.attribution import (
    ATTRIBUTION_COLUMNS,
    SECTOR_ATTRIBUTION_COLUMNS,
    pnl_attribution,
)
from robo_dagster.domain.review.common import SEVERITIES, SessionLike
from robo_dagster.domain.review.evening import (
    RECONCILE_TOLERANCE,
    RECONCILED_ITEMS,
    REVIEW_COLUMNS,
    TOP_MOVERS,
    evening_review,
    reconcile_review,
)
from robo_dagster.domain.review.limits import (
    HARD_BREACH,
    NEAR_LIMIT,
    VAR_ERROR_FRACTION,
    limit_checks,
)
from robo_dagster.domain.review.morning import (
    BRIEF_COLUMNS,
    CRITICAL_IMPACT,
    EARNINGS_ACTION_SESSIONS,
    EARNINGS_HORIZON_SESSIONS,
    HIGH_IMPACT,
    LARGE_MOVE_SIGMAS,
    MIN_VOL_OBSERVATIONS,
    VOL_WINDOW,
    morning_brief,
)
from robo_dagster.domain.review.risk_assessment import (
    BETA_WINDOW_SESSIONS,
    MARKET_CRASH_VAR_MULTIPLE,
    MARKET_SHOCKS,
    MIN_BETA_OBSERVATIONS,
    SCENARIO_COLUMNS,
    SCENARIOS,
    VOL_SPIKE_MULTIPLIER,
    assess_risk,
)
from robo_dagster.domain.review.scorecard import (
    ACTIONS,
    CONFIDENCE_BUCKETS,
    HOLD_BAND,
    RECOMMENDATION_INPUT_COLUMNS,
    SCORECARD_COLUMNS,
    SCORECARD_SUMMARY_COLUMNS,
    recommendation_scorecard,
    summarize_scorecard,
)

__all__ = [
    "ACTIONS",
    "ATTRIBUTION_COLUMNS",
    "BETA_WINDOW_SESSIONS",
    "BRIEF_COLUMNS",
    "CONFIDENCE_BUCKETS",
    "CRITICAL_IMPACT",
    "EARNINGS_ACTION_SESSIONS",
    "EARNINGS_HORIZON_SESSIONS",
    "HARD_BREACH",
    "HIGH_IMPACT",
    "HOLD_BAND",
    "LARGE_MOVE_SIGMAS",
    "MARKET_CRASH_VAR_MULTIPLE",
    "MARKET_SHOCKS",
    "MIN_BETA_OBSERVATIONS",
    "MIN_VOL_OBSERVATIONS",
    "NEAR_LIMIT",
    "RECOMMENDATION_INPUT_COLUMNS",
    "RECONCILED_ITEMS",
    "RECONCILE_TOLERANCE",
    "REVIEW_COLUMNS",
    "SCENARIOS",
    "SCENARIO_COLUMNS",
    "SCORECARD_COLUMNS",
    "SCORECARD_SUMMARY_COLUMNS",
    "SECTOR_ATTRIBUTION_COLUMNS",
    "SEVERITIES",
    "TOP_MOVERS",
    "VAR_ERROR_FRACTION",
    "VOL_SPIKE_MULTIPLIER",
    "VOL_WINDOW",
    "SessionLike",
    "assess_risk",
    "evening_review",
    "limit_checks",
    "morning_brief",
    "pnl_attribution",
    "recommendation_scorecard",
    "reconcile_review",
    "summarize_scorecard",
]

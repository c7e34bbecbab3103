"""News sentiment with VADER, a lexicon- and rule-based scorer that ships its lexicon.

VADER's compound score is in [-1, 1]; the conventional thresholds (+-0.05) split
positive, neutral and negative. Headlines repeat across symbols and days, so each
distinct text is scored once.

VADER was built on social-media text and misses the idiom of market headlines: it scores
"beats expectations" and "surges" as neutral and reads "demand" as negative. A small
overlay of finance terms (the approach finvader takes, without its run-time download)
is added to VADER's own lexicon; its valences are on VADER's -4..+4 scale.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


FINANCE_LEXICON: dict[str, float] = {
    "beat": 1.8,
    "beats": 1.8,
    "jump": 1.5,
    "jumps": 1.5,
    "surge": 2.0,
    "surges": 2.0,
    "soar": 2.2,
    "soars": 2.2,
    "rally": 1.8,
    "rallies": 1.8,
    "upgrade": 1.8,
    "upgrades": 1.8,
    "raises": 1.0,
    "outperform": 1.8,
    "buyback": 1.0,
    "breakthrough": 1.8,
    "record": 0.8,
    "miss": -1.5,
    "misses": -1.5,
    "slump": -2.0,
    "slumps": -2.0,
    "plunge": -2.5,
    "plunges": -2.5,
    "downgrade": -1.8,
    "downgrades": -1.8,
    "probe": -1.2,
    "recall": -1.2,
    "cuts": -1.0,
    "resigns": -1.0,
    "lawsuit": -1.8,
    "demand": 0.0,
}


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(FINANCE_LEXICON)
    return analyzer


# The columns ``score_texts`` adds, with their dtypes.
SENTIMENT_SCHEMA = {
    "sentiment": "float64",
    "sentiment_positive": "float64",
    "sentiment_negative": "float64",
    "sentiment_neutral": "float64",
    "sentiment_label": "object",
}


def score_texts(texts: pd.Series) -> pd.DataFrame:
    """VADER scores (compound, positive, negative, neutral) and a label per text."""
    if texts.empty:
        return pd.DataFrame(
            {name: pd.Series(dtype=kind) for name, kind in SENTIMENT_SCHEMA.items()},
            index=texts.index,
        )
    analyzer = _analyzer()
    distinct = pd.Series(texts.astype(str).unique())
    scores = pd.DataFrame([analyzer.polarity_scores(t) for t in distinct], index=distinct)
    scored = scores.reindex(texts.astype(str).to_numpy())
    out = pd.DataFrame(
        {
            "sentiment": scored["compound"].to_numpy(),
            "sentiment_positive": scored["pos"].to_numpy(),
            "sentiment_negative": scored["neg"].to_numpy(),
            "sentiment_neutral": scored["neu"].to_numpy(),
        },
        index=texts.index,
    )
    out["sentiment_label"] = "neutral"
    out.loc[out["sentiment"] >= POSITIVE_THRESHOLD, "sentiment_label"] = "positive"
    out.loc[out["sentiment"] <= NEGATIVE_THRESHOLD, "sentiment_label"] = "negative"
    return out

"""Bar validation and VADER sentiment."""

import numpy as np
import pandas as pd

from robo_dagster.domain.quality import split_valid_bars
from robo_dagster.domain.sentiment import score_texts


def test_split_valid_bars_names_each_problem() -> None:
    day = pd.Timestamp("2026-11-25")
    bars = pd.DataFrame(
        {
            "date": [day] * 6,
            "symbol": ["OK", "NAN", "NEG", "LOW", "VOL", "OK"],
            "open": [10.0, np.nan, 10.0, 10.0, 10.0, 10.0],
            "high": [11.0, 11.0, 11.0, 11.0, 11.0, 11.0],
            "low": [9.0, 9.0, -1.0, 10.5, 9.0, 9.0],
            "close": [10.5, 10.5, 10.5, 10.6, 10.5, 10.5],
            "volume": [100, 100, 100, 100, 0, 100],
        }
    )
    valid, rejected = split_valid_bars(bars)
    assert valid["symbol"].tolist() == ["OK"]
    assert dict(zip(rejected["symbol"], rejected["reason"], strict=True)) == {
        "NAN": "non-finite price",
        "NEG": "non-positive price",
        "LOW": "low above open or close",
        "VOL": "non-positive or missing volume",
        "OK": "duplicate (symbol, date)",
    }


def test_split_valid_bars_rejects_non_sessions_unreadable_dates_and_conflicting_copies() -> None:
    bar = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100}
    bars = pd.DataFrame(
        [
            {"date": "2026-11-25", "symbol": "AAA", **bar},
            {"date": "2026-11-26", "symbol": "AAA", **bar},  # Thanksgiving
            {"date": "2026-11-28", "symbol": "AAA", **bar},  # a Saturday
            {"date": None, "symbol": "AAA", **bar},
            {"date": "2026-11-24", "symbol": "BBB", **bar},
            {"date": "2026-11-24", "symbol": "BBB", **{**bar, "close": 10.7}},
            {"date": "2026-11-24", "symbol": "CCC", **bar},
            {"date": "2026-11-24", "symbol": "CCC", **bar},
        ]
    )
    sessions = pd.DatetimeIndex(["2026-11-24", "2026-11-25", "2026-11-27"])
    valid, rejected = split_valid_bars(bars, sessions)
    assert valid[["symbol", "date"]].values.tolist() == [
        ["AAA", "2026-11-25"],
        ["CCC", "2026-11-24"],
    ]
    assert rejected["reason"].tolist() == [
        "not a trading session",
        "not a trading session",
        "missing or unreadable date",
        # Two different bars for one session: nothing says which is right, so neither.
        "conflicting duplicate (symbol, date)",
        "conflicting duplicate (symbol, date)",
        # An exact copy keeps its first row.
        "duplicate (symbol, date)",
    ]


def test_vader_scores_clear_headlines() -> None:
    texts = pd.Series(
        [
            "Apple beats expectations as revenue jumps",
            "Tesla plunges after fraud probe and losses",
            "Apple files annual report",
            "Apple beats expectations as revenue jumps",
        ],
        index=[10, 11, 12, 13],
    )
    scores = score_texts(texts)
    assert list(scores.index) == [10, 11, 12, 13]
    assert scores.loc[10, "sentiment"] > 0.05 and scores.loc[10, "sentiment_label"] == "positive"
    assert scores.loc[11, "sentiment"] < -0.05 and scores.loc[11, "sentiment_label"] == "negative"
    assert scores.loc[12, "sentiment_label"] == "neutral"
    assert scores.loc[13, "sentiment"] == scores.loc[10, "sentiment"]
    assert scores["sentiment"].between(-1, 1).all()

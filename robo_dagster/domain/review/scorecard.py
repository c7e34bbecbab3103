"""The recommendation scorecard: how past recommendations turned out, and hit rates by
action and by confidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from robo_dagster.domain.analysis_models import RECOMMENDATION_COLUMNS
from robo_dagster.domain.review.common import SessionLike, _dates, _day, _empty

# A HOLD is right when the name went nowhere: within +-2 % over the horizon, which is
# about one daily standard deviation of a large-cap stock, i.e. "no trade was needed".
HOLD_BAND = 0.02
ACTIONS = ("BUY", "SELL", "HOLD")
CONFIDENCE_BUCKETS = ("<0.5", "0.5-0.7", ">=0.7")

# What the scorecard needs of a stored recommendation (not the free text).
RECOMMENDATION_INPUT_COLUMNS = [
    c
    for c in RECOMMENDATION_COLUMNS
    if c not in ("rationale", "signals", "signals_against", "model")
]
SCORECARD_COLUMNS = [
    "entry_date",
    "exit_date",
    "entry_close",
    "exit_close",
    "realized_return",
    "matured",
    "hit",
]
SCORECARD_SUMMARY_COLUMNS = ["group_type", "group", "count", "matured", "hit_rate", "avg_return"]


def recommendation_scorecard(
    recommendations: pd.DataFrame, bars: pd.DataFrame, as_of: SessionLike
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How past recommendations turned out.

    ``detail``: each recommendation with the realized close-to-close return from its
    ``session`` to ``horizon_days`` sessions later, counted in the symbol's own bars
    (entry on the first bar on or after the session, for a session without a bar).
    Only bars up to ``as_of`` are used, so nothing is scored on the future. It is
    ``matured`` when the exit bar exists by ``as_of``; unmatured rows keep a NaN return
    and a null ``hit``. A hit is a BUY that rose, a SELL that fell, or a HOLD that
    stayed within +-``HOLD_BAND`` (2 %): holding was right when there was nothing to
    trade.

    ``summary`` (``SCORECARD_SUMMARY_COLUMNS``): one row per action (BUY, SELL, HOLD)
    and per confidence bucket ('<0.5', '0.5-0.7', '>=0.7') that occurs; ``count`` all
    rows, ``matured`` those scored, ``hit_rate`` and ``avg_return`` (the raw return, so
    a good SELL has a negative one) over matured rows only. Empty input gives empty
    frames with these columns.
    """
    base_columns = list(recommendations.columns) or RECOMMENDATION_INPUT_COLUMNS
    if recommendations.empty:
        return _empty(
            base_columns + [c for c in SCORECARD_COLUMNS if c not in base_columns]
        ), _empty(SCORECARD_SUMMARY_COLUMNS)
    cutoff = _day(as_of)
    recs = recommendations.drop(
        columns=[c for c in SCORECARD_COLUMNS if c in recommendations], errors="ignore"
    ).reset_index(drop=True)
    recs["session"] = _dates(recs["session"])
    exits = _entries_and_exits(recs, _numbered_closes(bars, cutoff))

    matured = exits["exit_close"].notna().to_numpy()
    realized = np.where(matured, exits["exit_close"] / exits["entry_close"] - 1.0, np.nan)
    detail = recs.assign(
        entry_date=exits["entry_date"].to_numpy(),
        exit_date=exits["exit_date"].to_numpy(),
        entry_close=exits["entry_close"].to_numpy(dtype=float),
        exit_close=exits["exit_close"].to_numpy(dtype=float),
        realized_return=realized,
        matured=matured,
        hit=_hits(recs["action"], matured, realized),
    )
    return detail, summarize_scorecard(detail)


def _numbered_closes(bars: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Each symbol's closes up to ``cutoff`` with ``pos``, the bar's number in the
    symbol's own sequence, so a horizon counts the symbol's bars, not calendar days."""
    history = bars[["symbol", "date", "close"]].assign(date=lambda f: _dates(f["date"]))
    history = history[history["date"] <= cutoff].drop_duplicates(["symbol", "date"], keep="last")
    history = history.sort_values(["symbol", "date"], ignore_index=True)
    history["pos"] = history.groupby("symbol").cumcount().astype(float)
    history["symbol"] = history["symbol"].astype(str)
    return history


def _entries_and_exits(recs: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Per recommendation, in ``recs`` order: its entry bar (the first on or after its
    session) and its exit bar (``horizon_days`` bars later; null when not there yet)."""
    left = pd.DataFrame(
        {
            "_row": np.arange(len(recs)),
            "symbol": recs["symbol"].astype(str),
            "session": recs["session"],
        }
    ).sort_values("session", kind="stable")
    entry = pd.merge_asof(
        left,
        history.rename(
            columns={"date": "entry_date", "close": "entry_close", "pos": "entry_pos"}
        ).sort_values("entry_date", kind="stable"),
        left_on="session",
        right_on="entry_date",
        by="symbol",
        direction="forward",
    ).sort_values("_row")
    entry["exit_pos"] = entry["entry_pos"] + recs["horizon_days"].astype(float).to_numpy()
    return entry.merge(
        history.rename(columns={"date": "exit_date", "close": "exit_close", "pos": "exit_pos"}),
        on=["symbol", "exit_pos"],
        how="left",
    ).sort_values("_row", ignore_index=True)


def _hits(actions: pd.Series, matured: np.ndarray, realized: np.ndarray) -> pd.arrays.BooleanArray:
    """Whether each recommendation was right (see ``HOLD_BAND``); null when it has not
    matured or its action is none of ``ACTIONS``."""
    action = actions.astype(str).str.upper().to_numpy()
    hit_values = np.select(
        [action == "BUY", action == "SELL", action == "HOLD"],
        [realized > 0, realized < 0, np.abs(realized) < HOLD_BAND],
        default=False,
    )
    scored = matured & np.isin(action, ACTIONS)
    hit = pd.array(np.where(scored, hit_values, False), dtype="boolean")
    hit[~scored] = pd.NA
    return hit


def _confidence_bucket(confidence: pd.Series) -> np.ndarray:
    values = confidence.astype(float)
    return np.select(
        [values < 0.5, values < 0.7, values >= 0.7], list(CONFIDENCE_BUCKETS), default=""
    )


def summarize_scorecard(detail: pd.DataFrame) -> pd.DataFrame:
    """Hit rate and average realized return by action and by confidence bucket, from the
    rows of ``recommendation_scorecard``; unmatured rows count but score nothing."""
    if detail.empty:
        return _empty(SCORECARD_SUMMARY_COLUMNS)
    action = detail["action"].to_numpy()
    matured = detail["matured"].to_numpy(dtype=bool)
    realized = detail["realized_return"].to_numpy(dtype=float)
    hits = detail["hit"].to_numpy(dtype=float, na_value=np.nan)
    long = pd.concat(
        [
            pd.DataFrame({"group_type": "action", "group": action}),
            pd.DataFrame(
                {"group_type": "confidence", "group": _confidence_bucket(detail["confidence"])}
            ),
        ],
        ignore_index=True,
    ).assign(
        matured=np.tile(matured, 2),
        hit=np.tile(hits, 2),
        realized_return=np.tile(realized, 2),
    )
    long = long[long["group"] != ""]
    summary = long.groupby(["group_type", "group"], as_index=False).agg(
        count=("matured", "size"),
        matured=("matured", "sum"),
        hits=("hit", "sum"),
        avg_return=("realized_return", "mean"),
    )
    summary["hit_rate"] = summary["hits"] / summary["matured"].where(summary["matured"] > 0)
    order = {name: i for i, name in enumerate((*ACTIONS, *CONFIDENCE_BUCKETS))}
    summary = summary.assign(_order=summary["group"].map(order).fillna(len(order))).sort_values(
        ["group_type", "_order", "group"], ignore_index=True
    )
    summary["matured"] = summary["matured"].astype(int)
    return summary[SCORECARD_SUMMARY_COLUMNS]

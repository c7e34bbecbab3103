"""Recommendations: the latest ones with their target weights and the signals for and
against each; the scorecard over time by action and confidence; one symbol's history."""

import pandas as pd
import streamlit as st

from robo_dagster.dashboard import charts, formatting, queries, ui
from robo_dagster.domain.review.scorecard import summarize_scorecard


def confidence(value: object) -> str:
    return formatting.number(value, 2)


def latest(database: str) -> pd.DataFrame | None:
    """The latest recommendations, each with its signals for and against."""
    st.subheader("Latest recommendations")
    ui.asset_links("ai_analysis/trade_recommendations")
    recs = ui.load("read_recommendations", database)
    if recs is None:
        return None
    signals = queries.signals_for_and_against(recs)
    # The stored JSON lists give way to the text of each side.
    stored = recs.drop(columns=["signals", "signals_against"], errors="ignore")
    shown = stored.merge(queries.signal_summary(signals), on="symbol", how="left")
    shown[["signals_for", "signals_against"]] = shown[["signals_for", "signals_against"]].fillna("")
    shown["change"] = shown["target_weight"] - shown["current_weight"]
    sessions = sorted({formatting.timestamp(s) for s in recs["session"]})
    st.caption(f"Session {', '.join(sessions)}; analyst {', '.join(sorted(set(recs['model'])))}")
    ui.table(
        shown,
        {
            "symbol": ("Symbol", None),
            "action": ("Action", None),
            "current_weight": ("Current", ui.pct),
            "target_weight": ("Target", ui.pct),
            "change": ("Change", ui.signed_pct),
            "confidence": ("Confidence", confidence),
            "horizon_days": ("Horizon (days)", lambda v: formatting.number(v, 0)),
            "signals_for": ("Signals for", None),
            "signals_against": ("Signals against", None),
            "rationale": ("Rationale", None),
        },
    )
    ui.chart(charts.target_weights(recs))
    return signals


def scorecard(database: str) -> None:
    """Hit rates over time, by action and by confidence bucket."""
    st.subheader("Scorecard")
    ui.asset_links("ai_analysis/recommendation_scorecard", "ai_analysis/recommendation_history")
    card = ui.load("read_scorecard", database)
    if card is None:
        return
    matured = int(card["matured"].sum())
    st.caption(
        f"{len(card)} recommendations over {card['session'].nunique()} sessions, "
        f"{matured} matured (their horizon has passed) and scored."
    )
    over_time = queries.scorecard_over_time(card)
    if over_time["hit_rate"].notna().any():
        left, right = st.columns(2)
        with left:
            ui.chart(charts.scorecard_over_time(over_time, "action"))
        with right:
            ui.chart(charts.scorecard_over_time(over_time, "confidence"))
    else:
        st.info("No recommendation has matured yet: the hit rates appear once a horizon passes.")
    ui.table(
        summarize_scorecard(card),
        {
            "group_type": ("By", None),
            "group": ("Group", None),
            "count": ("Recommendations", lambda v: formatting.number(v, 0)),
            "matured": ("Matured", lambda v: formatting.number(v, 0)),
            "hit_rate": ("Hit rate", ui.pct),
            "avg_return": ("Average return", lambda v: formatting.percent(v, 2, signed=True)),
        },
    )


def symbol_detail(database: str, signals: pd.DataFrame | None) -> None:
    """One symbol's signals today and its recommendations over time, with outcomes."""
    st.subheader("By symbol")
    history = ui.load("read_recommendation_history", database)
    if history is None:
        return
    symbols = sorted(history["symbol"].unique())
    symbol = st.selectbox("Symbol", symbols, key="recommendation_symbol")
    if symbol is None:
        return
    if signals is not None and (signals["symbol"] == symbol).any():
        ui.chart(charts.signals(signals, symbol))
    mine = history[history["symbol"] == symbol]
    ui.chart(charts.recommendation_history(mine, symbol))
    card = ui.load("read_scorecard", database, symbol, empty=f"No scorecard rows for {symbol}.")
    if card is not None:
        outcomes = card[["session", "run_id", "realized_return", "matured", "hit"]]
        mine = mine.merge(outcomes, on=["session", "run_id"], how="left")
    else:
        mine = mine.assign(realized_return=float("nan"), hit=pd.NA)
    # As words: Streamlit draws a boolean column as checkboxes.
    hit = mine["hit"].map(lambda v: formatting.MISSING if pd.isna(v) else ("yes" if v else "no"))
    mine = mine.assign(hit=hit).sort_values("session", ascending=False)
    ui.table(
        mine,
        {
            "session": ("Session", ui.day),
            "action": ("Action", None),
            "current_weight": ("Current", ui.pct),
            "target_weight": ("Target", ui.pct),
            "confidence": ("Confidence", confidence),
            "horizon_days": ("Horizon (days)", lambda v: formatting.number(v, 0)),
            "realized_return": ("Realized return", lambda v: formatting.percent(v, 2, signed=True)),
            "hit": ("Hit", None),
            "rationale": ("Rationale", None),
        },
    )


def render() -> None:
    st.title("Recommendations")
    database = ui.database()
    signals = latest(database)
    scorecard(database)
    symbol_detail(database, signals)


render()

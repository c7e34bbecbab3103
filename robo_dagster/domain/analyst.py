"""The rule-based analyst: a deterministic, explainable scoring of every symbol.

Three steps, each a whole-table operation over every symbol at once:

1. ``build_features`` reduces the market-data tables to one row of facts per universe
   symbol as of a session (``FEATURE_COLUMNS``). A fact that cannot be read from the
   data stays NaN; nothing is filled in with a guess.
2. ``score_signals`` turns the facts into eight signals in [-1, 1] and a weighted
   composite score (``SIGNAL_WEIGHTS``). A signal missing for one symbol counts as 0
   and lowers the ``coverage``, the share of the weight that had data. A signal whose
   dataset the source does not provide at all (``signals_not_provided``: Alpaca has no
   earnings, a folder may have no news) is left out, and the weights are renormalised
   over the signals present.
3. ``recommend`` maps scores to BUY / SELL / HOLD with a risk profile, sizes the
   target weights within the desk's limits, and explains each recommendation with the
   strongest signals for it and, apart, those against it. ``strategy_analysis`` reads
   the same signals as four strategies.

The same input always gives the same output: sorts are stable and ties go to the symbol.
Nothing here knows Dagster; the assets feed it the DuckDB tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robo_dagster.domain.analysis_models import (
    FEATURE_COLUMNS,
    RECOMMENDATION_COLUMNS,
    RecommendationRequest,
)
from robo_dagster.domain.formatting import format_percent, format_percent_points

TRADING_DAYS_PER_YEAR = 252

# ---------------------------------------------------------------------------- signals
SIGNAL_WEIGHTS: dict[str, float] = {
    # Price action carries half the weight: it is the freshest and most complete data.
    "momentum": 0.20,  # 20-day return in units of its own 20-day volatility
    "rsi": 0.10,  # mean reversion: RSI 14 above 60 is negative, below 40 positive
    "macd": 0.10,  # MACD histogram in units of a daily move (close x daily vol)
    "trend": 0.15,  # close vs SMA 50 and SMA 200
    # Events: what the news and the last report say about the business.
    "news": 0.15,  # impact-weighted headline sentiment, scaled by the top impact
    "earnings": 0.10,  # the latest EPS surprise reported within EARNINGS_LOOKBACK_DAYS
    # Slow-moving context.
    "valuation": 0.10,  # P/E vs the sector median P/E; cheaper is positive
    "options": 0.10,  # put/call volume ratio and 25-delta skew; heavy puts are negative
}

# How long a view driven by each signal is expected to take to play out (trading days).
SIGNAL_HORIZON_DAYS: dict[str, int] = {
    "momentum": 20,
    "trend": 20,
    "macd": 10,
    "rsi": 5,
    "news": 10,
    "earnings": 10,
    "options": 10,
    "valuation": 60,
}
DEFAULT_HORIZON_DAYS = 20

# Scales of the squashing functions: the feature value at which a signal reaches
# tanh(1) ~ 0.76, i.e. a reading a desk would call strong.
MOMENTUM_Z_SCALE = 1.5  # a 1.5-sigma 20-day move
VOL_FLOOR = 0.10  # annualized; a perfectly smooth series must not divide by ~0
REFERENCE_VOL = 0.25  # annualized; stands in only when the volatility itself is missing
RSI_NEUTRAL_BAND = 10.0  # RSI within 50 +/- 10 says nothing
RSI_SCALE = 10.0  # so RSI 70 / 30 read -0.76 / +0.76
MACD_SCALE = 0.5  # a histogram of half a daily move
TREND_SCALE_SMA_50 = 0.05  # 5 % above the 50-day average
TREND_SCALE_SMA_200 = 0.10  # 10 % above the 200-day average
NEWS_GAIN = 2.0  # sentiment +0.8 with a 0.9-impact headline reads +0.89
EARNINGS_SURPRISE_SCALE = 10.0  # a 10 % EPS beat
VALUATION_LOG_SCALE = 0.4  # P/E 1.5x the sector median reads about -0.76
PUT_CALL_NEUTRAL = 0.8  # typical single-stock put/call volume ratio
PUT_CALL_LOG_SCALE = 0.4
SKEW_NEUTRAL = 0.15  # 25d put IV - call IV, as a share of ATM IV
SKEW_SCALE = 0.15

# Feature windows.
EARNINGS_LOOKBACK_DAYS = 90  # an older surprise is already in the price
UNSCORED_IMPACT = 0.5  # the impact of a headline whose vendor gives none
NEWS_LOOKBACK_DAYS = 7  # calendar days, about the news asset's 5 sessions
# published_at is naive UTC; a session's headlines run until ~21:30 New York time,
# which is the next UTC day, so the window closes 6 hours into the next UTC day.
NEWS_CUTOFF_AFTER_SESSION = pd.Timedelta(days=1, hours=6)
MAX_BAR_AGE_DAYS = 10  # older indicator rows are stale: a halted or delisted symbol
MIN_SECTOR_PEERS = 2  # a P/E compared only with itself says nothing
MOMENTUM_DAYS = 20


# ---------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class RiskProfile:
    """How a risk tolerance turns scores into trades.

    ``buy_threshold`` / ``sell_threshold``: the score at or above which to add, at or
    below which to reduce a held position (twice ``sell_threshold`` exits it).
    ``max_weight_scale``: the share of the desk's ``max_position_weight`` that BUYs may
    build up to. ``step``: the weight (share of equity) one recommendation adds or sells.
    """

    buy_threshold: float
    sell_threshold: float
    max_weight_scale: float
    step: float


RISK_PROFILES: dict[str, RiskProfile] = {
    # Wants a clear case to add, adds little, stays well under the limit, cuts early.
    "conservative": RiskProfile(
        buy_threshold=0.30, sell_threshold=-0.15, max_weight_scale=0.50, step=0.02
    ),
    "moderate": RiskProfile(
        buy_threshold=0.20, sell_threshold=-0.20, max_weight_scale=0.75, step=0.03
    ),
    # Acts on weaker signals, in bigger steps, up to the desk's full limit, and gives a
    # held position more room before selling.
    "aggressive": RiskProfile(
        buy_threshold=0.12, sell_threshold=-0.25, max_weight_scale=1.00, step=0.05
    ),
}

STRATEGIES: dict[str, dict[str, float]] = {
    # Strategy -> the signals (and relative weights) it reads; see strategy_analysis.
    "momentum": {"momentum": 0.20, "trend": 0.15, "macd": 0.10},
    "mean_reversion": {"rsi": 0.7, "reversal": 0.3},
    "value": {"valuation": 1.0},
    "event_driven": {"news": 0.15, "earnings": 0.10, "options": 0.10},
}
STRATEGY_CALL = 0.25  # a strategy score beyond +/- this counts as a bullish/bearish call
MIN_TRADE_WEIGHT = 1e-3  # a BUY scaled below 0.1 % of equity is not worth an order
# |score| at which confidence reaches tanh(1) ~ 0.76 of what the coverage allows.
CONFIDENCE_SCORE_SCALE = 0.25

# Which signal each optional dataset feeds: a dataset the source does not provide
# removes its signal from the score (see ``score_signals``).
DATASET_SIGNALS: dict[str, str] = {
    "news": "news",
    "earnings": "earnings",
    "fundamentals": "valuation",
    "options_summary": "options",
}
# The feature column that lists the signals whose datasets were not provided (the same
# comma-separated names on every row; empty when everything was).
NOT_PROVIDED_COLUMN = "signals_not_provided"

_RECOMMEND_OUTPUT = [c for c in RECOMMENDATION_COLUMNS if c not in ("source", "model", "session")]


# ---------------------------------------------------------------------------- features
def _has(frame: pd.DataFrame | None, columns: list[str]) -> bool:
    """Whether ``frame`` has rows and all ``columns`` (an empty table may lack its schema)."""
    return frame is not None and len(frame) > 0 and all(c in frame.columns for c in columns)


def _naive_utc(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC, whether stored naive (UTC) or tz-aware."""
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def _indicator_features(indicators: pd.DataFrame, session: pd.Timestamp) -> pd.DataFrame:
    """Latest indicator row per symbol on or before ``session``, plus the 20-day return."""
    columns = ["close", "return_1d", "rsi_14", "macd_hist", "sma_50", "sma_200"]
    columns += ["realized_vol_20", "return_20d"]
    if not _has(indicators, ["symbol", "date", "close"]):
        return pd.DataFrame(columns=columns, index=pd.Index([], name="symbol"), dtype=float)
    hist = indicators.assign(date=pd.to_datetime(indicators["date"]))
    hist = hist[hist["date"] <= session]
    hist = hist.sort_values(["symbol", "date"], kind="stable").drop_duplicates(
        ["symbol", "date"], keep="last"
    )
    symbols = hist["symbol"].to_numpy()
    last = np.flatnonzero(np.r_[symbols[1:] != symbols[:-1], True]) if len(hist) else np.array([])
    last = last.astype(int)
    # The bar MOMENTUM_DAYS sessions back, when that symbol has that much history.
    back = last - MOMENTUM_DAYS
    has_back = back >= 0
    has_back[has_back] = symbols[back[has_back]] == symbols[last[has_back]]
    close = hist["close"].to_numpy(dtype=float)
    past_close = np.full(len(last), np.nan)
    past_close[has_back] = close[back[has_back]]
    latest = hist.iloc[last].set_index("symbol")
    out = pd.DataFrame(index=latest.index)
    for col in columns[:-1]:
        out[col] = latest[col].astype(float) if col in latest.columns else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out["return_20d"] = np.where(past_close > 0, close[last] / past_close - 1.0, np.nan)
    stale = (session - latest["date"]).dt.days > MAX_BAR_AGE_DAYS
    out.loc[stale.to_numpy(), :] = np.nan
    return out


def _news_features(news: pd.DataFrame, session: pd.Timestamp) -> pd.DataFrame:
    """Impact-weighted sentiment, headline count and top impact over the news window."""
    columns = ["news_sentiment", "news_count", "max_news_impact"]
    if not _has(news, ["symbol", "published_at", "impact", "sentiment"]):
        return pd.DataFrame(columns=columns, index=pd.Index([], name="symbol"), dtype=float)
    cutoff = session + NEWS_CUTOFF_AFTER_SESSION
    published = _naive_utc(news["published_at"])
    window = (published <= cutoff) & (published > cutoff - pd.Timedelta(days=NEWS_LOOKBACK_DAYS))
    recent = news.loc[window.to_numpy(), ["symbol", "impact", "sentiment"]].astype(
        {"impact": float, "sentiment": float}
    )
    # A vendor that scores no impact (Alpaca) leaves it NaN: such a headline counts as
    # UNSCORED_IMPACT, a middling weight, rather than as no news at all.
    recent["impact"] = recent["impact"].fillna(UNSCORED_IMPACT)
    scored = recent["sentiment"].notna()
    weight = recent["impact"].clip(lower=0.0).where(scored, 0.0)
    grouped = recent.assign(
        weighted=weight * recent["sentiment"].fillna(0.0), weight=weight
    ).groupby("symbol", sort=True)
    totals = grouped[["weighted", "weight"]].sum()
    out = pd.DataFrame(index=totals.index)
    # All-zero impact leaves nothing to weight by: the sentiment stays unknown.
    out["news_sentiment"] = totals["weighted"] / totals["weight"].where(totals["weight"] > 0)
    out["news_count"] = grouped.size()
    out["max_news_impact"] = grouped["impact"].max()
    return out


def _earnings_features(earnings: pd.DataFrame, session: pd.Timestamp) -> pd.DataFrame:
    """Latest surprise within the lookback and calendar days to the next report."""
    columns = ["earnings_surprise_pct", "days_to_next_earnings"]
    if not _has(earnings, ["symbol", "report_date", "surprise_pct"]):
        return pd.DataFrame(columns=columns, index=pd.Index([], name="symbol"), dtype=float)
    frame = earnings.assign(report_date=pd.to_datetime(earnings["report_date"]).dt.normalize())
    surprise = frame["surprise_pct"].astype(float)
    # Point in time: only reports dated on or before the session count, whatever their
    # status says today (the table may have been fetched after the session).
    done = (
        surprise.notna()
        & (frame["report_date"] <= session)
        & (frame["report_date"] > session - pd.Timedelta(days=EARNINGS_LOOKBACK_DAYS))
    )
    latest = (
        frame.loc[done, ["symbol", "report_date"]]
        .assign(surprise=surprise[done])
        .sort_values(["symbol", "report_date"], kind="stable")
        .drop_duplicates("symbol", keep="last")
        .set_index("symbol")
    )
    status = frame["status"] if "status" in frame.columns else pd.Series("", index=frame.index)
    upcoming = (frame["report_date"] > session) | (
        (frame["report_date"] == session) & (status != "reported")
    )
    next_date = frame.loc[upcoming].groupby("symbol", sort=True)["report_date"].min()
    out = pd.DataFrame(index=latest.index.union(next_date.index))
    out["earnings_surprise_pct"] = latest["surprise"]
    out["days_to_next_earnings"] = ((next_date - session).dt.days).astype(float)
    return out


def build_features(
    indicators: pd.DataFrame,
    news: pd.DataFrame,
    earnings: pd.DataFrame,
    fundamentals: pd.DataFrame,
    options_summary: pd.DataFrame,
    universe: pd.DataFrame,
    positions: pd.DataFrame,
    session: dt.date,
    not_provided: Collection[str] = (),
) -> pd.DataFrame:
    """One row of facts per universe symbol as of ``session`` (``FEATURE_COLUMNS``,
    then ``signals_not_provided``: the signals in ``not_provided``, names of
    ``SIGNAL_WEIGHTS``, whose datasets the source did not provide).

    * Price features come from the latest ``technical_indicators`` row on or before the
      session (NaN when it is more than ``MAX_BAR_AGE_DAYS`` old): ``return_20d`` is
      close over the close 20 bars earlier, minus 1; ``close_vs_sma_50/200`` is
      close / SMA - 1.
    * ``news_sentiment`` is the impact-weighted mean VADER compound of the headlines
      published in the ``NEWS_LOOKBACK_DAYS`` up to the session's evening;
      ``news_count`` counts them (0 without news) and ``max_news_impact`` is the top
      vendor impact.
    * ``earnings_surprise_pct`` is the latest surprise (percent) reported within
      ``EARNINGS_LOOKBACK_DAYS``; ``days_to_next_earnings`` counts calendar days.
    * ``pe_vs_sector`` is P/E over the median P/E of the symbol's sector (positive P/Es,
      benchmark excluded) minus 1; NaN with fewer than ``MIN_SECTOR_PEERS``.
    * ``held`` / ``current_weight`` come from ``positions`` (not held: False / 0).

    Sorted by symbol. A fact the data does not give stays NaN.
    """
    session_ts = pd.Timestamp(session).normalize()
    base = universe.loc[:, ["symbol", "sector", "is_benchmark"]].drop_duplicates("symbol")
    base = base.sort_values("symbol", kind="stable").set_index("symbol")
    out = pd.DataFrame(index=base.index)
    out["sector"] = base["sector"]
    out["is_benchmark"] = base["is_benchmark"].fillna(False).astype(bool)

    if _has(positions, ["symbol", "weight"]):
        quantity = (
            positions["quantity"].astype(float)
            if "quantity" in positions.columns
            else pd.Series(1.0, index=positions.index)
        )
        book = (
            positions.assign(quantity=quantity, weight=positions["weight"].astype(float))
            .groupby("symbol")[["quantity", "weight"]]
            .sum(min_count=1)
        )
        out["held"] = (book["quantity"].reindex(out.index) > 0).fillna(False).astype(bool)
        # An unheld symbol's weight is a fact: zero.
        out["current_weight"] = book["weight"].reindex(out.index).where(out["held"], 0.0)
    else:
        out["held"] = False
        out["current_weight"] = 0.0

    prices = _indicator_features(indicators, session_ts).reindex(out.index)
    for col in ("close", "return_1d", "rsi_14", "macd_hist", "realized_vol_20", "return_20d"):
        out[col] = prices[col]
    with np.errstate(divide="ignore", invalid="ignore"):
        for period in (50, 200):
            sma = prices[f"sma_{period}"].where(prices[f"sma_{period}"] > 0)
            out[f"close_vs_sma_{period}"] = prices["close"] / sma - 1.0

    headlines = _news_features(news, session_ts).reindex(out.index)
    out["news_sentiment"] = headlines["news_sentiment"]
    out["news_count"] = headlines["news_count"].fillna(0).astype("int64")
    out["max_news_impact"] = headlines["max_news_impact"]

    reports = _earnings_features(earnings, session_ts).reindex(out.index)
    out["earnings_surprise_pct"] = reports["earnings_surprise_pct"]
    out["days_to_next_earnings"] = reports["days_to_next_earnings"]

    if _has(fundamentals, ["symbol", "pe_ratio"]):
        funda = fundamentals.drop_duplicates("symbol", keep="last").set_index("symbol")
        if "sector" in funda.columns:
            out["sector"] = out["sector"].fillna(funda["sector"].reindex(out.index))
        pe = funda["pe_ratio"].astype(float).reindex(out.index)
        out["pe_ratio"] = pe.where(pe > 0)
    else:
        out["pe_ratio"] = np.nan
    peers = out["pe_ratio"].where(~out["is_benchmark"])
    by_sector = peers.groupby(out["sector"])
    median = by_sector.transform("median")
    count = by_sector.transform("count")
    out["pe_vs_sector"] = (out["pe_ratio"] / median - 1.0).where(count >= MIN_SECTOR_PEERS)

    opt_cols = ["put_call_volume_ratio", "skew_25d", "atm_iv"]
    if _has(options_summary, ["symbol"]):
        opts = options_summary.drop_duplicates("symbol", keep="last").set_index("symbol")
        for col in opt_cols:
            out[col] = opts[col].astype(float).reindex(out.index) if col in opts else np.nan
    else:
        for col in opt_cols:
            out[col] = np.nan

    out = out.reset_index()
    float_cols = [c for c in FEATURE_COLUMNS[4:] if c != "news_count"]
    out[float_cols] = out[float_cols].astype(float)
    unknown = sorted(set(not_provided) - set(SIGNAL_WEIGHTS))
    if unknown:
        raise ValueError(f"build_features: unknown signal(s) {unknown} in not_provided")
    absent = ",".join(name for name in SIGNAL_WEIGHTS if name in set(not_provided))
    out = out.loc[:, FEATURE_COLUMNS].reset_index(drop=True)
    out[NOT_PROVIDED_COLUMN] = absent
    return out


def signals_not_provided(features: pd.DataFrame) -> list[str]:
    """The signals whose datasets the source did not provide, in ``SIGNAL_WEIGHTS``
    order (none when ``features`` has no ``signals_not_provided`` column)."""
    if NOT_PROVIDED_COLUMN not in features.columns or features.empty:
        return []
    named = {
        name.strip()
        for cell in features[NOT_PROVIDED_COLUMN].dropna().astype(str)
        for name in cell.split(",")
        if name.strip()
    }
    return [name for name in SIGNAL_WEIGHTS if name in named]


# ---------------------------------------------------------------------------- scoring
def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    return features[name].to_numpy(dtype=float)


def _mean_available(*parts: np.ndarray) -> np.ndarray:
    """Row-wise mean of the non-NaN parts; NaN where every part is NaN."""
    stack = np.vstack(parts)
    present = np.isfinite(stack)
    n = present.sum(axis=0)
    total = np.where(present, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _daily_vol(features: pd.DataFrame) -> np.ndarray:
    """Daily volatility for scaling moves: floored, and a typical level if unknown."""
    annual = _col(features, "realized_vol_20")
    annual = np.where(np.isfinite(annual), np.maximum(annual, VOL_FLOOR), REFERENCE_VOL)
    return annual / np.sqrt(TRADING_DAYS_PER_YEAR)


def _signal_matrix(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every signal as an array over the rows of ``features`` (NaN where no data)."""
    daily_vol = _daily_vol(features)
    close = _col(features, "close")
    with np.errstate(invalid="ignore", divide="ignore"):
        momentum_z = _col(features, "return_20d") / (daily_vol * np.sqrt(MOMENTUM_DAYS))
        rsi_off = _col(features, "rsi_14") - 50.0
        rsi_excess = np.sign(rsi_off) * np.maximum(np.abs(rsi_off) - RSI_NEUTRAL_BAND, 0.0)
        macd_units = _col(features, "macd_hist") / np.where(close > 0, close * daily_vol, np.nan)
        trend = _mean_available(
            np.tanh(_col(features, "close_vs_sma_50") / TREND_SCALE_SMA_50),
            np.tanh(_col(features, "close_vs_sma_200") / TREND_SCALE_SMA_200),
        )
        # Low-impact chatter should not move the score like a profit warning does.
        news = np.tanh(
            NEWS_GAIN * _col(features, "news_sentiment") * _col(features, "max_news_impact")
        )
        earnings = np.tanh(_col(features, "earnings_surprise_pct") / EARNINGS_SURPRISE_SCALE)
        # Log ratio so that twice and half the sector's P/E read symmetrically.
        valuation = -np.tanh(np.log1p(_col(features, "pe_vs_sector")) / VALUATION_LOG_SCALE)
        pcr = _col(features, "put_call_volume_ratio")
        put_call = -np.tanh(
            np.log(np.where(pcr > 0, pcr, np.nan) / PUT_CALL_NEUTRAL) / PUT_CALL_LOG_SCALE
        )
        # Skew relative to the ATM level: 5 vol points is steep at 20 % IV, flat at 60 %.
        atm = _col(features, "atm_iv")
        skew_rel = _col(features, "skew_25d") / np.where(atm > 0, atm, np.nan)
        skew = -np.tanh((skew_rel - SKEW_NEUTRAL) / SKEW_SCALE)
    return {
        "momentum": np.tanh(momentum_z / MOMENTUM_Z_SCALE),
        "rsi": -np.tanh(rsi_excess / RSI_SCALE),
        "macd": np.tanh(macd_units / MACD_SCALE),
        "trend": trend,
        "news": news,
        "earnings": earnings,
        "valuation": valuation,
        "options": _mean_available(put_call, skew),
    }


def score_signals(features: pd.DataFrame) -> pd.DataFrame:
    """Signals in [-1, 1] per symbol, their weighted composite and the data coverage.

    Columns: ``symbol``, one per ``SIGNAL_WEIGHTS`` key (NaN when its data is missing,
    which is how a missing signal is reported), ``score`` = sum of weight x signal with
    missing signals counted as 0 (in [-1, 1] since the weights sum to 1), and
    ``coverage`` = the share of the weight whose signal had data.

    A signal the source does not provide (``signals_not_provided``) is NaN for every
    symbol and takes no weight: the others are scaled up to sum to 1, so that a source
    without news scores on price, earnings, valuation and options alone. ``coverage``
    stays a share of all eight signals' weight, so confidence still reflects how much
    the desk knows.
    """
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"score_signals: features lack columns {missing}")
    signals = _signal_matrix(features)
    out = pd.DataFrame({"symbol": features["symbol"].to_numpy()})
    weights = np.array(list(SIGNAL_WEIGHTS.values()))
    absent = set(signals_not_provided(features))
    provided = np.array([name not in absent for name in SIGNAL_WEIGHTS])
    stack = np.vstack(
        [
            np.clip(signals[name], -1.0, 1.0) if name not in absent else np.full(len(out), np.nan)
            for name in SIGNAL_WEIGHTS
        ]
    )
    for i, name in enumerate(SIGNAL_WEIGHTS):
        out[name] = stack[i]
    present = np.isfinite(stack)
    scoring = np.where(provided, weights, 0.0)
    scoring = scoring / scoring.sum() if scoring.sum() > 0 else scoring
    out["score"] = np.clip(scoring @ np.where(present, stack, 0.0), -1.0, 1.0)
    out["coverage"] = np.clip(weights @ present.astype(float), 0.0, 1.0)
    return out


# ---------------------------------------------------------------------------- recommend
def _fmt(value: float, spec: str) -> str:
    return "n/a" if not np.isfinite(value) else format(value, spec)


def _pct(value: float, decimals: int = 1) -> str:
    return format_percent(value, decimals, signed=True)


def _signal_detail(name: str, row: pd.Series) -> str:
    """The facts behind one signal, in words a trader reads."""
    if name == "momentum":
        return f"20-day return {_pct(row['return_20d'])}"
    if name == "rsi":
        return f"RSI {_fmt(row['rsi_14'], '.0f')}"
    if name == "macd":
        return f"MACD histogram {_fmt(row['macd_hist'], '+.2f')}"
    if name == "trend":
        return (
            f"close {_pct(row['close_vs_sma_50'])} vs SMA 50, "
            f"{_pct(row['close_vs_sma_200'])} vs SMA 200"
        )
    if name == "news":
        count = int(row["news_count"])
        return (
            f"sentiment {_fmt(row['news_sentiment'], '+.2f')} over {count} "
            f"headline{'s' if count != 1 else ''}, top impact {_fmt(row['max_news_impact'], '.2f')}"
        )
    if name == "earnings":
        return (
            f"last EPS surprise {format_percent_points(row['earnings_surprise_pct'], signed=True)}"
        )
    if name == "valuation":
        return f"P/E {_fmt(row['pe_ratio'], '.1f')}, {_pct(row['pe_vs_sector'], 0)} vs sector"
    return (
        f"put/call {_fmt(row['put_call_volume_ratio'], '.2f')}, "
        f"25d skew {_fmt(row['skew_25d'] * 100, '.1f')} vol pts"
    )


def signal_direction(action: str, score: float) -> int:
    """Which way a recommendation points: +1 for a BUY, -1 for a SELL, and for a HOLD
    the sign of its score (0 when the score is 0 or unknown, as an LLM's is)."""
    if action == "BUY":
        return 1
    if action == "SELL":
        return -1
    return int(np.sign(score)) if np.isfinite(score) else 0


def _tag_sign(tag: str) -> int:
    """The sign of the number a signal tag ends with: "rsi -0.74" -> -1, and "+0.00" /
    "-0.00" keep the sign they were written with (a push too small to round away from 0);
    0 for a tag without a number."""
    last = (str(tag).split() or [""])[-1]
    try:
        value = float(last)
    except ValueError:
        return 0
    if value != 0:
        return 1 if value > 0 else -1
    return -1 if last.startswith("-") else 1 if last.startswith("+") else 0


def split_signal_tags(tags: list[str], direction: int) -> tuple[list[str], list[str]]:
    """``tags`` (e.g. ``["momentum +0.62", "rsi -0.74"]``) split into those for a
    recommendation pointing ``direction`` and those against it, each in the given order.
    A tag is against when its number has the opposite sign; one without a number, or a
    recommendation without a direction, leaves the tag where the analyst put it (for)."""
    against = [t for t in tags if direction * _tag_sign(t) < 0]
    return [t for t in tags if t not in against], against


def _tag_list(text: object, symbol: object) -> list[str]:
    """A stored ``signals`` cell (a JSON list of tags) as a list; anything else raises
    and names the recommendation."""
    try:
        tags = json.loads(str(text))
    except ValueError:
        tags = None
    if not isinstance(tags, list):
        raise ValueError(f"{symbol}: signals must be a JSON list of tags, got {text!r}")
    return [str(tag) for tag in tags]


def with_signals_against(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``signals_against`` column: unchanged when it has one, otherwise
    each row's ``signals`` split by ``split_signal_tags`` (an LLM, or any analyst that
    lists its drivers in one list, gets the same two lists as the rules)."""
    if "signals_against" in frame.columns:
        return frame
    parts = [
        split_signal_tags(_tag_list(tags, symbol), signal_direction(str(action), float(score)))
        for tags, action, score, symbol in zip(
            frame["signals"],
            frame["action"],
            frame["score"].astype(float),
            frame["symbol"],
            strict=True,
        )
    ]
    return frame.assign(
        signals=[json.dumps(pro) for pro, _ in parts],
        signals_against=[json.dumps(con) for _, con in parts],
    )


def recommendation_overview(frame: pd.DataFrame) -> pd.DataFrame:
    """Recommendation rows as a person scans them: symbol, action, target and current
    weight, confidence, horizon, then the signals ``for`` and ``against`` the call (the
    JSON lists joined with commas; "none" when empty) and the rationale."""
    rows = with_signals_against(frame)

    def joined(column: str) -> list[str]:
        return [
            ", ".join(_tag_list(tags, symbol)) or "none"
            for tags, symbol in zip(rows[column], rows["symbol"], strict=True)
        ]

    columns = ["symbol", "action", "target_weight", "current_weight", "confidence"]
    return rows[[*columns, "horizon_days"]].assign(
        **{"for": joined("signals"), "against": joined("signals_against")},
        rationale=rows["rationale"],
    )


def _drivers(described: list[str], against: list[str]) -> str:
    """The rationale's middle: the strongest signals for the call, then those against."""
    if not described and not against:
        return "no signal has data"
    if not described:
        text = "no signal points this way"
    elif len(described) == 1:
        text = f"the strongest signal for it is {described[0]}"
    else:
        text = f"the strongest signals for it are {', '.join(described[:-1])} and {described[-1]}"
    if against:
        text += f"; against: {', '.join(against)}"
    return text


def _explain(
    row: pd.Series, scored: pd.Series, note: str, not_provided: Collection[str] = ()
) -> tuple[str, str, str]:
    """Rationale sentence and the JSON lists of signals for and against one recommendation.

    A signal is *for* the call when it pushes the way the call points
    (``signal_direction``), *against* it when it pushes the other way; each list is sorted
    by absolute contribution and the rationale names the three strongest of each. A
    signal at exactly 0 pushes neither way and is in neither list."""
    names = list(SIGNAL_WEIGHTS)
    values = np.array([scored[n] for n in names], dtype=float)
    contrib = np.abs(np.nan_to_num(values) * np.array([SIGNAL_WEIGHTS[n] for n in names]))
    # Stable sort on -|contribution| keeps SIGNAL_WEIGHTS order among ties.
    order = [i for i in np.argsort(-contrib, kind="stable") if np.isfinite(values[i])]
    direction = signal_direction(str(row["action"]), float(scored["score"]))
    if direction:
        pro = [i for i in order if values[i] * direction > 0]
        con = [i for i in order if values[i] * direction < 0]
    else:  # a HOLD at a score of exactly 0 points nowhere: every driver is listed
        pro, con = [i for i in order if values[i] != 0], []

    def tag(i: int) -> str:
        return f"{names[i]} {values[i]:+.2f}"

    def described(indices: list[int]) -> list[str]:
        return [f"{tag(i)} ({_signal_detail(names[i], row)})" for i in indices[:3]]

    absent = [
        n
        for n, v in zip(names, values, strict=True)
        if not np.isfinite(v) and n not in not_provided
    ]
    drivers = _drivers(described(pro), described(con)) if order else "no signal has data"
    text = (
        f"{row['action']} {row['symbol']}: {drivers}; score {scored['score']:+.2f} "
        f"with {format_percent(scored['coverage'], 0)} of the signal weight covered"
    )
    if absent:
        text += f" (no data for {', '.join(absent)})"
    if not_provided:
        text += (
            f"; not provided by the source: {', '.join(not_provided)}, so the weights are "
            "renormalised over the other signals"
        )
    text += f". {note}"
    return text, json.dumps([tag(i) for i in pro]), json.dumps([tag(i) for i in con])


def recommend(
    features: pd.DataFrame,
    request: RecommendationRequest,
    *,
    max_position_weight: float,
    cash_floor_pct: float,
) -> pd.DataFrame:
    """BUY / SELL / HOLD recommendations from the rule-based scores, best first.

    Rules, with the profile ``RISK_PROFILES[request.risk_tolerance]``:

    * The benchmark is never recommended. The book is long-only: only a held symbol
      can be a SELL, and an unheld symbol without a BUY is left out.
    * ``score >= buy_threshold``: BUY, target = current + ``step``, at most
      ``max_position_weight * max_weight_scale``; a name already at that cap is a HOLD.
    * Held and ``score <= sell_threshold``: SELL, target = current - ``step`` (not
      below 0), or 0 when ``score <= 2 * sell_threshold``.
    * A held position above ``max_position_weight`` is a SELL down to the limit
      whatever its score: the desk's limit comes first. Otherwise a held symbol is a
      HOLD at its current weight.
    * Candidates are ranked by |score| (ties by symbol) and the first
      ``request.max_recommendations`` are returned.
    * Cash floor: after the trades, the returned targets plus the current weights of
      held symbols not returned must stay within ``1 - cash_floor_pct``. SELLs free
      room first; the BUY increments are then scaled down by one common factor to fit,
      and a BUY left with less than ``MIN_TRADE_WEIGHT`` becomes a HOLD. BUYs never
      add exposure to a book already above the floor (they cannot fix it either).
    * ``confidence = tanh(|score| / 0.25) * (0.5 + 0.5 * coverage)``: it grows with the
      strength of the score and with the share of the signals that had data.
    * ``horizon_days`` follows the signal with the largest contribution
      (``SIGNAL_HORIZON_DAYS``: momentum/trend 20, RSI 5, events 10, valuation 60).
    * ``rationale`` names the three strongest signals *for* the call with their values,
      then the strongest *against* it ("against: rsi -0.74 (RSI 72)"). ``signals`` is a
      JSON list of the signals that push the way the call points (``signal_direction``:
      up for a BUY, down for a SELL, the score's way for a HOLD), such as
      ``["momentum +0.62", "news +0.40"]``, and ``signals_against`` those that push the
      other way, each sorted by absolute contribution (signals without data, or at 0,
      are in neither).

    Columns: ``RECOMMENDATION_COLUMNS`` without ``source``, ``model`` and ``session``.
    """
    profile = RISK_PROFILES[request.risk_tolerance]
    limit = float(max_position_weight)
    budget = 1.0 - float(cash_floor_pct)
    scores = score_signals(features)
    score = scores["score"].to_numpy()
    current = np.clip(np.nan_to_num(_col(features, "current_weight")), 0.0, None)
    held = features["held"].fillna(False).to_numpy(dtype=bool) & (current > 0)
    benchmark = features["is_benchmark"].fillna(False).to_numpy(dtype=bool)
    cap = min(limit * profile.max_weight_scale, limit)

    buy_target = np.minimum(current + profile.step, cap)
    wants_buy = (score >= profile.buy_threshold) & (buy_target > current)
    exits = score <= 2.0 * profile.sell_threshold
    wants_sell = held & (score <= profile.sell_threshold)
    over_limit = held & (current > limit)
    sell_target = np.where(exits, 0.0, np.maximum(current - profile.step, 0.0))
    sell_target = np.where(wants_sell, np.minimum(sell_target, limit), limit)

    action = np.where(wants_sell | over_limit, "SELL", np.where(wants_buy, "BUY", "HOLD"))
    target = np.where(action == "SELL", sell_target, np.where(action == "BUY", buy_target, current))
    note = np.where(
        over_limit & ~wants_sell,
        f"Trimmed to the {format_percent(limit, 0)} position limit.",
        "",
    ).astype(object)
    eligible = ~benchmark & (held | (action == "BUY"))

    # Rank by |score|, ties by symbol; lexsort's last key is the primary one.
    symbols = features["symbol"].astype(str).to_numpy()
    idx = np.flatnonzero(eligible)
    idx = idx[np.lexsort((symbols[idx], -np.abs(score[idx])))][: request.max_recommendations]

    chosen = np.zeros(len(features), dtype=bool)
    chosen[idx] = True
    is_buy = chosen & (action == "BUY")
    committed = target[chosen & ~is_buy].sum() + current[is_buy].sum()
    committed += current[held & ~chosen].sum()
    increments = np.where(is_buy, target - current, 0.0)
    wanted = increments.sum()
    room = max(budget - committed, 0.0)
    factor = 1.0 if wanted <= room else room / wanted
    scaled = increments * factor
    too_small = is_buy & (scaled < MIN_TRADE_WEIGHT)
    target = np.where(is_buy, current + np.where(too_small, 0.0, scaled), target)
    action = np.where(too_small, "HOLD", action)
    if factor < 1.0:
        note = np.where(
            is_buy & ~too_small,
            f"Buy size scaled to {format_percent(factor, 0)} to keep the "
            f"{format_percent(cash_floor_pct, 0)} cash floor.",
            note,
        )
        note = np.where(too_small, "Buy signal, but no room above the cash floor.", note)

    weights = np.array(list(SIGNAL_WEIGHTS.values()))
    stack = scores[list(SIGNAL_WEIGHTS)].to_numpy(dtype=float)
    contrib = np.abs(np.nan_to_num(stack) * weights)
    dominant = np.argmax(contrib, axis=1)  # first maximum: SIGNAL_WEIGHTS order breaks ties
    horizons = np.array([SIGNAL_HORIZON_DAYS[n] for n in SIGNAL_WEIGHTS])
    horizon = np.where(contrib.max(axis=1) > 0, horizons[dominant], DEFAULT_HORIZON_DAYS)
    coverage = scores["coverage"].to_numpy()
    confidence = np.tanh(np.abs(score) / CONFIDENCE_SCORE_SCALE) * (0.5 + 0.5 * coverage)

    out = pd.DataFrame(
        {
            "symbol": symbols[idx],
            "action": action[idx],
            "target_weight": np.clip(target[idx], 0.0, 1.0),
            "current_weight": current[idx],
            "confidence": np.clip(confidence[idx], 0.0, 1.0),
            "horizon_days": horizon[idx].astype("int64"),
            "score": score[idx],
        }
    )
    sizing = [
        f"Target {format_percent(t)} from {format_percent(c)}. {n}".strip()
        for t, c, n in zip(out["target_weight"], out["current_weight"], note[idx], strict=True)
    ]
    # Words are built per returned row (at most 20), after the vectorized decisions.
    facts = features.iloc[idx].reset_index(drop=True).assign(action=out["action"])
    not_provided = signals_not_provided(features)
    explained = [
        _explain(facts.iloc[k], scores.iloc[i], sizing[k], not_provided) for k, i in enumerate(idx)
    ]
    out["rationale"] = [text for text, _, _ in explained]
    out["signals"] = [pro for _, pro, _ in explained]
    out["signals_against"] = [con for _, _, con in explained]
    return out.loc[:, _RECOMMEND_OUTPUT]


# ---------------------------------------------------------------------------- strategies
def _strategy_scores(features: pd.DataFrame, scores: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-symbol score of each strategy: the weighted mean of the signals it reads."""
    merged = features[["symbol", "return_1d", "realized_vol_20"]].merge(
        scores, on="symbol", how="left", validate="one_to_one"
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        # Short-term reversal: fade the last day's move, in units of a daily move.
        reversal = -np.tanh(_col(merged, "return_1d") / (2.0 * _daily_vol(merged)))
    columns = {name: _col(merged, name) for name in SIGNAL_WEIGHTS}
    columns["reversal"] = reversal
    out: dict[str, np.ndarray] = {}
    for strategy, mix in STRATEGIES.items():
        stack = np.vstack([columns[name] for name in mix])
        weights = np.array(list(mix.values()))[:, None]
        present = np.isfinite(stack)
        total = (np.where(present, stack, 0.0) * weights).sum(axis=0)
        norm = (present * weights).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[strategy] = np.where(norm > 0, total / norm, np.nan)
    return out


def strategy_analysis(features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """How four classic strategies read today's market, and how the book sits with them.

    Each strategy scores every symbol with the weighted mean of the signals it reads
    (``STRATEGIES``): momentum (momentum, trend, MACD), mean_reversion (RSI and a fade
    of the last day's move), value (P/E vs sector) and event_driven (news, earnings,
    options positioning). The benchmark is left out of the market read.

    Columns: ``strategy``; ``signal`` (mean strategy score over symbols with data);
    ``bullish`` / ``bearish`` (symbols above +0.25 / below -0.25); ``top_long`` /
    ``top_short`` (up to three symbols, strongest first, comma-separated);
    ``portfolio_exposure`` (sum over held symbols of current weight x strategy score:
    positive when the book leans with the strategy); ``summary`` (one sentence).
    """
    per_symbol = _strategy_scores(features, scores)
    market = ~features["is_benchmark"].fillna(False).to_numpy(dtype=bool)
    held = features["held"].fillna(False).to_numpy(dtype=bool)
    weight = np.nan_to_num(_col(features, "current_weight"))
    symbols = features["symbol"].astype(str).to_numpy()
    rows = []
    for strategy, values in per_symbol.items():
        has = market & np.isfinite(values)
        vals, names = values[has], symbols[has]
        signal = float(vals.mean()) if len(vals) else float("nan")
        longs = np.lexsort((names, -vals))
        shorts = np.lexsort((names, vals))
        top_long = names[longs][vals[longs] > 0][:3].tolist()
        top_short = names[shorts][vals[shorts] < 0][:3].tolist()
        exposure = float((weight * np.nan_to_num(values))[held].sum())
        bullish = int((vals > STRATEGY_CALL).sum())
        bearish = int((vals < -STRATEGY_CALL).sum())
        label = strategy.replace("_", " ").capitalize()
        if not len(vals):
            summary = f"{label} has no data today."
        else:
            mood = "bullish" if signal > 0.1 else "bearish" if signal < -0.1 else "neutral"
            lean = "with" if exposure > 0 else "against" if exposure < 0 else "neither way on"
            summary = (
                f"{label} reads {mood} (mean {signal:+.2f}; {bullish} bullish, {bearish} bearish"
                f"{', best ' + top_long[0] if top_long else ''}"
                f"{', worst ' + top_short[0] if top_short else ''}) "
                f"and the book leans {lean} it ({exposure:+.3f})."
            )
        rows.append(
            {
                "strategy": strategy,
                "signal": signal,
                "bullish": bullish,
                "bearish": bearish,
                "top_long": ",".join(top_long),
                "top_short": ",".join(top_short),
                "portfolio_exposure": exposure,
                "summary": summary,
            }
        )
    return pd.DataFrame(rows)

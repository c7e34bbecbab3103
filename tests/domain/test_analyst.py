"""The rule-based analyst on small markets whose right answer is obvious."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.analysis_models import (
    FEATURE_COLUMNS,
    RECOMMENDATION_COLUMNS,
    Recommendation,
    RecommendationRequest,
)
from robo_dagster.domain.analyst import (
    NOT_PROVIDED_COLUMN,
    RISK_PROFILES,
    SIGNAL_WEIGHTS,
    UNSCORED_IMPACT,
    build_features,
    recommend,
    score_signals,
    signal_direction,
    split_signal_tags,
    strategy_analysis,
    with_signals_against,
)
from robo_dagster.domain.indicators import compute_indicators

SESSION = dt.date(2026, 11, 27)
LIMIT = 0.25
FLOOR = 0.02
OUTPUT_COLUMNS = [c for c in RECOMMENDATION_COLUMNS if c not in ("source", "model", "session")]


# ---------------------------------------------------------------------------- builders
def _closes(kind: str, n: int = 260) -> np.ndarray:
    """Closes of a named path; the zigzag keeps RSI away from 0 and 100."""
    t = np.arange(n)
    zig = 0.005 * (-1.0) ** t
    if kind == "up":  # +0.2 %/day drift: up 1.2 %, down 0.8 %, RSI about 60
        log_price = 0.002 * t + zig
    elif kind == "crash":  # flat, then -2 %/day for the last 30 sessions
        log_price = zig - 0.02 * np.clip(t - (n - 30), 0, None)
    else:  # flat
        log_price = zig
    return 100.0 * np.exp(log_price)


def _indicators(paths: dict[str, str]) -> pd.DataFrame:
    dates = pd.bdate_range(end=pd.Timestamp(SESSION), periods=260)
    bars = pd.concat(
        [
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": dates,
                    "close": (c := _closes(kind)),
                    "high": c * 1.004,
                    "low": c * 0.996,
                }
            )
            for symbol, kind in paths.items()
        ],
        ignore_index=True,
    )
    return compute_indicators(bars)


def _universe(symbols: list[str], sectors: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": symbols,
            "name": [f"{s} Inc." for s in symbols],
            "sector": [sectors[s] for s in symbols],
            "is_seed_symbol": True,
            "on_watchlist": False,
            "is_benchmark": [s == "SPY" for s in symbols],
        }
    )


def _news(rows: list[tuple[str, float, float, dt.datetime]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["symbol", "impact", "sentiment", "published_at"])
    frame["published_at"] = pd.to_datetime(frame["published_at"])
    frame["news_id"] = [f"n{i}" for i in range(len(frame))]
    frame["source"] = "SimWire"
    frame["headline"] = "headline"
    frame["tone"] = np.where(frame["sentiment"] > 0, "positive", "negative")
    return frame


def _earnings(rows: list[tuple[str, dt.date, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["symbol", "report_date", "surprise_pct"])
    frame["report_date"] = pd.to_datetime(frame["report_date"])
    reported = frame["report_date"] <= pd.Timestamp(SESSION)
    frame["status"] = np.where(reported, "reported", "scheduled")
    frame["surprise_pct"] = frame["surprise_pct"].where(reported)
    frame["eps_estimate"] = 1.0
    frame["eps_actual"] = (1.0 + frame["surprise_pct"] / 100.0).where(reported)
    return frame


def _fundamentals(pe: dict[str, float], sectors: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"symbol": list(pe), "sector": [sectors[s] for s in pe], "pe_ratio": list(pe.values())}
    )


def _options(rows: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(s, pcr, skew, iv) for s, (pcr, skew, iv) in rows.items()],
        columns=["symbol", "put_call_volume_ratio", "skew_25d", "atm_iv"],
    )


def _positions(weights: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": list(weights),
            "quantity": [100.0] * len(weights),
            "weight": list(weights.values()),
        }
    )


SECTORS = {"UP": "Tech", "PEER": "Tech", "CRASH": "Tech", "FLAT": "Utilities", "SPY": "Index"}
SESSION_NOON = dt.datetime(2026, 11, 27, 15, 0)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    """UP: steady uptrend, good news, a beat, cheap vs its peer, calls in demand.
    CRASH (held): 30-session slide, bad news, a miss, heavy puts. FLAT (held): nothing
    happens. PEER: flat, no news. SPY: the benchmark, rising like UP."""
    paths = {"UP": "up", "PEER": "flat", "CRASH": "crash", "FLAT": "flat", "SPY": "up"}
    return build_features(
        indicators=_indicators(paths),
        news=_news(
            [
                ("UP", 0.9, 0.8, SESSION_NOON),
                ("UP", 0.8, 0.7, SESSION_NOON - dt.timedelta(days=2)),
                ("CRASH", 0.9, -0.85, SESSION_NOON),
                ("CRASH", 0.7, -0.6, SESSION_NOON - dt.timedelta(days=1)),
                ("FLAT", 0.2, 0.0, SESSION_NOON),
            ]
        ),
        earnings=_earnings(
            [
                ("UP", SESSION - dt.timedelta(days=30), 12.0),
                ("CRASH", SESSION - dt.timedelta(days=10), -15.0),
                ("UP", SESSION + dt.timedelta(days=60), np.nan),
            ]
        ),
        fundamentals=_fundamentals(
            {"UP": 15.0, "PEER": 25.0, "CRASH": 40.0, "FLAT": 18.0, "SPY": np.nan}, SECTORS
        ),
        options_summary=_options(
            {
                "UP": (0.6, 0.03, 0.25),
                "CRASH": (1.6, 0.15, 0.50),
                "FLAT": (0.8, 0.04, 0.25),
                "PEER": (0.8, 0.04, 0.25),
            }
        ),
        universe=_universe(list(SECTORS), SECTORS),
        positions=_positions({"CRASH": 0.10, "FLAT": 0.10}),
        session=SESSION,
    )


def _run(
    features: pd.DataFrame,
    risk: str = "moderate",
    n: int = 20,
    limit: float = LIMIT,
    floor: float = FLOOR,
) -> pd.DataFrame:
    request = RecommendationRequest(risk_tolerance=risk, max_recommendations=n)
    return recommend(features, request, max_position_weight=limit, cash_floor_pct=floor)


def _validate(recs: pd.DataFrame) -> None:
    assert list(recs.columns) == OUTPUT_COLUMNS
    for row in recs.to_dict("records"):
        Recommendation.model_validate(
            {
                k: (json.loads(v) if k == "signals" else v)
                for k, v in row.items()
                if k in Recommendation.model_fields
            }
        )


# ---------------------------------------------------------------------------- constants
def test_weights_sum_to_one_and_profiles_are_ordered() -> None:
    assert sum(SIGNAL_WEIGHTS.values()) == pytest.approx(1.0)
    assert set(SIGNAL_WEIGHTS) == {
        "momentum",
        "rsi",
        "macd",
        "trend",
        "news",
        "earnings",
        "valuation",
        "options",
    }
    cons, mod, agg = (RISK_PROFILES[k] for k in ("conservative", "moderate", "aggressive"))
    assert cons.buy_threshold > mod.buy_threshold > agg.buy_threshold
    assert cons.step < mod.step < agg.step
    assert cons.max_weight_scale < mod.max_weight_scale <= agg.max_weight_scale <= 1.0


# ---------------------------------------------------------------------------- features
def test_build_features_computes_values_on_a_tiny_input() -> None:
    session = dt.date(2026, 3, 2)
    dates = pd.bdate_range(end=pd.Timestamp(session), periods=21)
    indicators = pd.DataFrame(
        {
            "symbol": "AAA",
            "date": dates,
            "close": np.linspace(100.0, 120.0, 21),
            "return_1d": 0.01,
            "rsi_14": 55.0,
            "macd_hist": 0.5,
            "sma_50": 100.0,
            "sma_200": 80.0,
            "realized_vol_20": 0.2,
        }
    )
    # BBB has only five bars: no 20-day return, but its latest close is known.
    short = indicators.tail(5).assign(symbol="BBB")
    # A bar after the session must not be seen.
    future = indicators.tail(1).assign(date=pd.Timestamp(session) + pd.Timedelta(days=1))
    noon = dt.datetime(2026, 3, 2, 15)
    news = _news(
        [
            ("AAA", 0.8, 0.5, noon),
            ("AAA", 0.2, -0.5, noon - dt.timedelta(days=1)),
            ("AAA", 1.0, -1.0, noon - dt.timedelta(days=30)),  # too old
            ("AAA", 1.0, -1.0, noon + dt.timedelta(days=3)),  # after the session
        ]
    )
    earnings = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA", "AAA", "BBB"],
            "report_date": pd.to_datetime(["2025-10-01", "2026-02-01", "2026-04-01", "2025-06-01"]),
            "status": ["reported", "reported", "scheduled", "reported"],
            "surprise_pct": [50.0, 4.0, np.nan, 9.0],
        }
    )
    sectors = {"AAA": "S1", "BBB": "S1", "CCC": "S1", "DDD": "S2", "SPY": "Index"}
    universe = _universe(list(sectors), sectors)
    fundamentals = _fundamentals({"AAA": 10.0, "BBB": 20.0, "CCC": 30.0, "DDD": 12.0}, sectors)
    options = _options({"AAA": (0.9, 0.05, 0.3)})
    positions = _positions({"AAA": 0.2})

    features = build_features(
        pd.concat([indicators, short, future], ignore_index=True),
        news,
        earnings,
        fundamentals,
        options,
        universe,
        positions,
        session,
    )

    assert list(features.columns) == [*FEATURE_COLUMNS, NOT_PROVIDED_COLUMN]
    assert features["symbol"].tolist() == ["AAA", "BBB", "CCC", "DDD", "SPY"]
    row = features.set_index("symbol")
    a = row.loc["AAA"]
    assert a["close"] == pytest.approx(120.0)
    assert a["return_20d"] == pytest.approx(0.2)
    assert a["close_vs_sma_50"] == pytest.approx(0.2)
    assert a["close_vs_sma_200"] == pytest.approx(0.5)
    assert a["news_sentiment"] == pytest.approx((0.8 * 0.5 + 0.2 * -0.5) / 1.0)
    assert a["news_count"] == 2
    assert a["max_news_impact"] == pytest.approx(0.8)
    assert a["earnings_surprise_pct"] == pytest.approx(4.0)  # the 50 % is over 90 days old
    assert a["days_to_next_earnings"] == (dt.date(2026, 4, 1) - session).days
    assert a["pe_vs_sector"] == pytest.approx(10.0 / 20.0 - 1.0)
    assert a["put_call_volume_ratio"] == pytest.approx(0.9)
    assert bool(a["held"]) and a["current_weight"] == pytest.approx(0.2)

    b = row.loc["BBB"]
    assert b["close"] == pytest.approx(120.0) and np.isnan(b["return_20d"])
    assert np.isnan(b["earnings_surprise_pct"]) and np.isnan(b["news_sentiment"])
    assert b["news_count"] == 0 and not bool(b["held"]) and b["current_weight"] == 0.0
    assert np.isnan(b["put_call_volume_ratio"])
    # CCC: no prices at all, still a row. DDD: alone in its sector, no comparison.
    assert row.loc["CCC", ["close", "rsi_14", "return_20d"]].isna().all()
    assert row.loc["CCC", "pe_vs_sector"] == pytest.approx(0.5)
    assert np.isnan(row.loc["DDD", "pe_vs_sector"])
    assert bool(row.loc["SPY", "is_benchmark"]) and np.isnan(row.loc["SPY", "pe_ratio"])


def test_build_features_survives_empty_tables() -> None:
    sectors = {"AAA": "S1", "SPY": "Index"}
    empty = pd.DataFrame()
    features = build_features(
        empty, empty, empty, empty, empty, _universe(list(sectors), sectors), empty, SESSION
    )
    assert list(features.columns) == [*FEATURE_COLUMNS, NOT_PROVIDED_COLUMN]
    assert len(features) == 2
    assert features["close"].isna().all() and (features["news_count"] == 0).all()
    assert _run(features).empty  # nothing held, no data: nothing to say


def test_stale_prices_are_not_used() -> None:
    old = _indicators({"AAA": "up"}).assign(date=lambda f: f["date"] - pd.Timedelta(days=60))
    sectors = {"AAA": "S1"}
    empty = pd.DataFrame()
    features = build_features(
        old, empty, empty, empty, empty, _universe(["AAA"], sectors), empty, SESSION
    )
    assert features[["close", "return_20d", "rsi_14"]].isna().all().all()


# ---------------------------------------------------------------------------- scoring
def test_signals_have_the_obvious_signs(market: pd.DataFrame) -> None:
    scores = score_signals(market).set_index("symbol")
    up, crash = scores.loc["UP"], scores.loc["CRASH"]
    for name in ("momentum", "trend", "news", "earnings", "valuation", "options"):
        assert up[name] > 0.2, name
        assert crash[name] < 0, name
    assert crash["rsi"] > 0  # oversold: the mean-reversion reading disagrees
    assert up["score"] > 0.3 and crash["score"] < -0.3
    assert abs(scores.loc["FLAT", "score"]) < 0.1
    assert scores.loc["UP", "coverage"] == pytest.approx(1.0)
    # FLAT has no earnings and is alone in its sector: 20 % of the weight is missing.
    assert scores.loc["FLAT", "coverage"] == pytest.approx(0.8)
    assert np.isnan(scores.loc["FLAT", "earnings"])


def _random_features(seed: int, n: int, nan_share: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "symbol": [f"S{i:02d}" for i in range(n)],
            "sector": rng.choice(["A", "B", "C"], n),
            "is_benchmark": np.arange(n) == 0,
            "held": False,
            "current_weight": 0.0,
            "close": rng.uniform(1, 1000, n),
            "return_1d": rng.normal(0, 0.05, n),
            "return_20d": rng.normal(0, 0.3, n),
            "rsi_14": rng.uniform(0, 100, n),
            "macd_hist": rng.normal(0, 20, n),
            "close_vs_sma_50": rng.normal(0, 0.3, n),
            "close_vs_sma_200": rng.normal(0, 0.5, n),
            "realized_vol_20": rng.uniform(0, 1.5, n),
            "news_sentiment": rng.uniform(-1, 1, n),
            "news_count": rng.integers(0, 10, n),
            "max_news_impact": rng.uniform(0, 1, n),
            "earnings_surprise_pct": rng.normal(0, 30, n),
            "days_to_next_earnings": rng.uniform(0, 120, n),
            "pe_ratio": rng.uniform(1, 200, n),
            "pe_vs_sector": rng.uniform(-0.99, 5, n),
            "put_call_volume_ratio": rng.uniform(0, 5, n),
            "skew_25d": rng.normal(0.05, 0.1, n),
            "atm_iv": rng.uniform(0, 2, n),
        }
    )
    numeric = FEATURE_COLUMNS[5:]
    numeric.remove("news_count")
    values = frame[numeric].to_numpy()
    values[rng.uniform(size=values.shape) < nan_share] = np.nan
    frame[numeric] = values
    return frame


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    nan_share=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_every_signal_and_score_is_within_bounds(seed: int, n: int, nan_share: float) -> None:
    scores = score_signals(_random_features(seed, n, nan_share))
    assert list(scores.columns) == ["symbol", *SIGNAL_WEIGHTS, "score", "coverage"]
    signals = scores[list(SIGNAL_WEIGHTS)].to_numpy()
    assert np.all(np.isnan(signals) | ((signals >= -1) & (signals <= 1)))
    assert scores["score"].between(-1, 1).all()
    assert scores["coverage"].between(0, 1).all()
    if nan_share == 1.0:
        assert (scores["score"] == 0).all() and (scores["coverage"] == 0).all()


def test_extreme_features_stay_bounded() -> None:
    features = _random_features(1, 4, 0.0)
    floats = [c for c in FEATURE_COLUMNS[5:] if c != "news_count"]
    features.loc[1, floats] = np.inf
    features.loc[2, floats] = -np.inf
    features.loc[3, ["realized_vol_20", "close", "atm_iv"]] = 0.0
    scores = score_signals(features)
    assert scores["score"].between(-1, 1).all()
    signals = scores[list(SIGNAL_WEIGHTS)].to_numpy()
    assert np.all(np.isnan(signals) | (np.abs(signals) <= 1))


# ---------------------------------------------------------------------------- recommend
def test_uptrend_buys_crash_sells_flat_holds(market: pd.DataFrame) -> None:
    recs = _run(market)
    _validate(recs)
    by = recs.set_index("symbol")
    assert by.loc["UP", "action"] == "BUY"
    assert by.loc["UP", "confidence"] > 0.6
    assert by.loc["UP", "target_weight"] == pytest.approx(RISK_PROFILES["moderate"].step)
    assert by.loc["CRASH", "action"] == "SELL"
    assert by.loc["CRASH", "target_weight"] < 0.10
    assert "FLAT" not in by.index or by.loc["FLAT", "action"] == "HOLD"
    assert "SPY" not in by.index  # rises like UP, but it is the benchmark
    assert "PEER" not in by.index  # unheld and no buy: nothing to do
    # Best first: the two strong calls lead.
    assert set(recs["symbol"].head(2)) == {"UP", "CRASH"}
    assert recs["score"].abs().is_monotonic_decreasing


def test_rationale_and_signals_explain_the_call(market: pd.DataFrame) -> None:
    up = _run(market).set_index("symbol").loc["UP"]
    pro, con = json.loads(up["signals"]), json.loads(up["signals_against"])
    assert all(isinstance(t, str) for t in pro + con)
    scores = score_signals(market).set_index("symbol").loc["UP"]
    # Every signal with data and a push is in exactly one list: with the BUY, or against.
    pushing = {n for n in SIGNAL_WEIGHTS if np.isfinite(scores[n]) and scores[n] != 0}
    assert {t.split()[0] for t in pro} | {t.split()[0] for t in con} == pushing
    assert {t.split()[0] for t in pro}.isdisjoint(t.split()[0] for t in con)
    for tags in (pro, con):
        names = [t.split()[0] for t in tags]
        contributions = [abs(scores[n] * SIGNAL_WEIGHTS[n]) for n in names]
        assert contributions == sorted(contributions, reverse=True)
    for name in [t.split()[0] for t in pro[:3]]:
        assert name in up["rationale"]
    assert f"{scores[pro[0].split()[0]]:+.2f}" in up["rationale"]
    assert up["rationale"].startswith("BUY UP: the strongest signals for it are ")
    assert up["horizon_days"] in (5, 10, 20, 60)


def _sign(tag: str) -> int:
    return -1 if tag.split()[-1].startswith("-") else 1


def _assert_split_by_direction(recs: pd.DataFrame) -> None:
    """Each row's ``signals`` push its way and its ``signals_against`` the other way,
    and the rationale shows the strongest against-signals apart, after "against:"."""
    for row in recs.itertuples():
        direction = signal_direction(row.action, row.score)
        pro, con = json.loads(row.signals), json.loads(row.signals_against)
        # The sign as written: a push of +0.004 is "+0.00" and still a push up.
        assert all(_sign(t) == direction for t in pro), (row.symbol, pro)
        assert all(_sign(t) == -direction for t in con), (row.symbol, con)
        drivers = row.rationale.split("; score ")[0]
        if con:
            for_part, against_part = drivers.split("; against: ")
            assert all(t in against_part for t in con[:3])
            assert not any(t in for_part for t in con)
        else:
            assert "against:" not in drivers


def test_signals_against_a_call_are_listed_apart(market: pd.DataFrame) -> None:
    # UP overbought (RSI 80): still a BUY on trend, news and momentum, but the RSI reads
    # down, so it is named against the call, not among its strongest signals.
    overbought = market.assign(rsi_14=market["rsi_14"].where(market["symbol"] != "UP", 80.0))
    recs = _run(overbought, n=20)
    _assert_split_by_direction(recs)
    up = recs.set_index("symbol").loc["UP"]
    rsi = score_signals(overbought).set_index("symbol").loc["UP", "rsi"]
    assert up["action"] == "BUY" and rsi < -0.5
    assert f"rsi {rsi:+.2f}" in json.loads(up["signals_against"])
    assert f"rsi {rsi:+.2f}" not in json.loads(up["signals"])
    assert f"; against: rsi {rsi:+.2f} (RSI 80)" in up["rationale"]
    crash = recs.set_index("symbol").loc["CRASH"]
    assert crash["action"] == "SELL"
    assert json.loads(crash["signals"]) and all(_sign(t) < 0 for t in json.loads(crash["signals"]))


def test_a_trim_against_every_signal_says_so(market: pd.DataFrame) -> None:
    # UP held at 30 % above a 25 % limit is sold down to it though every signal is bullish.
    over = market.assign(
        held=market["held"] | (market["symbol"] == "UP"),
        current_weight=np.where(market["symbol"] == "UP", 0.30, market["current_weight"]),
    )
    up = _run(over, floor=0.0).set_index("symbol").loc["UP"]
    assert up["action"] == "SELL" and up["score"] > 0
    pro, con = json.loads(up["signals"]), json.loads(up["signals_against"])
    assert all(_sign(t) < 0 for t in pro)
    assert con and all(_sign(t) > 0 for t in con)
    assert "Trimmed to the 25 % position limit." in up["rationale"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nan_share=st.sampled_from([0.0, 0.2]))
def test_every_recommendation_splits_its_signals_by_its_direction(
    seed: int, nan_share: float
) -> None:
    rng = np.random.default_rng(seed)
    held = rng.random(12) < 0.6
    features = _random_features(seed, 12, nan_share).assign(
        held=held, current_weight=np.where(held, rng.uniform(0.0, 0.3, 12), 0.0)
    )
    recs = _run(features, n=20)
    _assert_split_by_direction(recs)


def test_tags_of_another_analyst_are_split_by_their_sign() -> None:
    assert split_signal_tags(["momentum +0.62", "rsi -0.74", "news"], 1) == (
        ["momentum +0.62", "news"],
        ["rsi -0.74"],
    )
    assert split_signal_tags(["momentum +0.62", "rsi -0.74"], -1) == (
        ["rsi -0.74"],
        ["momentum +0.62"],
    )
    assert split_signal_tags(["macd -0.00", "trend +0.00", "news 0"], 1) == (
        ["trend +0.00", "news 0"],
        ["macd -0.00"],
    )
    assert split_signal_tags(["momentum +0.62", "rsi -0.74"], 0) == (
        ["momentum +0.62", "rsi -0.74"],
        [],
    )
    llm = pd.DataFrame(
        {
            "symbol": ["GOOGL", "MSFT"],
            "action": ["SELL", "HOLD"],
            "score": [float("nan"), float("nan")],
            "signals": [json.dumps(["trend -0.40", "earnings +0.30"]), json.dumps(["news +0.1"])],
        }
    )
    split = with_signals_against(llm)
    assert split["signals"].map(json.loads).tolist() == [["trend -0.40"], ["news +0.1"]]
    assert split["signals_against"].map(json.loads).tolist() == [["earnings +0.30"], []]
    # Rows that carry their own split are left as they are.
    assert with_signals_against(split).equals(split)
    # A signals cell that is no JSON list is refused, naming the recommendation.
    broken = llm.assign(symbol=["AAA", "BBB"], signals=["momentum +0.6", "[]"])
    with pytest.raises(ValueError, match="AAA: signals must be a JSON list of tags"):
        with_signals_against(broken)


def test_unheld_symbol_is_never_sold(market: pd.DataFrame) -> None:
    # CRASH not held: its sell signal has nowhere to go.
    unheld = market.assign(
        held=market["symbol"] != "CRASH",
        current_weight=market["current_weight"].where(market["symbol"] != "CRASH", 0.0),
    )
    recs = _run(unheld)
    assert "CRASH" not in recs["symbol"].tolist()


def test_very_negative_score_exits(market: pd.DataFrame) -> None:
    crash = _run(market, risk="aggressive").set_index("symbol").loc["CRASH"]
    score = crash["score"]
    assert score <= 2 * RISK_PROFILES["aggressive"].sell_threshold
    assert crash["action"] == "SELL" and crash["target_weight"] == 0.0


@pytest.mark.parametrize("n", [1, 20])
def test_max_recommendations_is_honoured(market: pd.DataFrame, n: int) -> None:
    recs = _run(market, n=n)
    assert 1 <= len(recs) <= n
    if n == 1:
        assert recs["symbol"].tolist() == [recs["symbol"].iloc[0]]
        best = score_signals(market).query("symbol != 'SPY'")["score"].abs().max()
        assert abs(recs["score"].iloc[0]) == pytest.approx(best)


def test_risk_tolerance_changes_sizing(market: pd.DataFrame) -> None:
    targets = {
        risk: _run(market, risk=risk).set_index("symbol")["target_weight"].get("UP", 0.0)
        for risk in ("conservative", "moderate", "aggressive")
    }
    assert targets["aggressive"] >= targets["moderate"] >= targets["conservative"]
    assert targets["aggressive"] > targets["conservative"]


def test_buys_stop_at_the_profile_cap_and_over_limit_is_trimmed(market: pd.DataFrame) -> None:
    at_cap = market.assign(
        held=market["held"] | (market["symbol"] == "UP"),
        current_weight=np.where(market["symbol"] == "UP", 0.30, market["current_weight"]),
    )
    recs = _run(at_cap, floor=0.0).set_index("symbol")
    assert recs.loc["UP", "action"] == "SELL"  # 30 % is above the 25 % limit
    assert recs.loc["UP", "target_weight"] == pytest.approx(LIMIT)
    near_cap = at_cap.assign(current_weight=np.where(at_cap["symbol"] == "UP", 0.18, 0.0))
    cap = LIMIT * RISK_PROFILES["moderate"].max_weight_scale
    up = _run(near_cap, floor=0.0).set_index("symbol").loc["UP"]
    assert up["action"] == "BUY" and up["target_weight"] == pytest.approx(cap)


def test_buys_are_scaled_to_keep_the_cash_floor(market: pd.DataFrame) -> None:
    # 103 % invested, 5 % floor: CRASH's exit frees 10 %, FLAT keeps 93 %, so UP may only
    # use the 2 % left of its 3 % step.
    full = market.assign(
        current_weight=np.where(market["symbol"] == "FLAT", 0.93, market["current_weight"])
    )
    recs = _run(full, risk="moderate", limit=1.0, floor=0.05).set_index("symbol")
    assert recs.loc["CRASH", "target_weight"] == 0.0
    assert recs.loc["FLAT", "action"] == "HOLD"
    assert recs["target_weight"].sum() == pytest.approx(0.95)
    assert recs.loc["UP", "action"] == "BUY"
    assert recs.loc["UP", "target_weight"] == pytest.approx(0.02)
    assert "cash floor" in recs.loc["UP", "rationale"]
    # No room at all: the buy signal becomes a HOLD that says why.
    no_room = _run(full, risk="moderate", limit=1.0, floor=0.07).set_index("symbol")
    assert no_room.loc["UP", "action"] == "HOLD"
    assert no_room.loc["UP", "target_weight"] == 0.0
    assert "no room" in no_room.loc["UP", "rationale"]


def test_recommend_is_deterministic_and_order_free(market: pd.DataFrame) -> None:
    first = _run(market)
    shuffled = market.sample(frac=1.0, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, _run(market))
    pd.testing.assert_frame_equal(first, _run(shuffled))


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 25),
    weights=st.lists(st.floats(0.0, 0.6), min_size=25, max_size=25),
    invested=st.floats(0.0, 1.1),
    limit=st.floats(0.01, 1.0),
    floor=st.floats(0.0, 0.5),
    risk=st.sampled_from(sorted(RISK_PROFILES)),
    max_recs=st.integers(1, 20),
)
def test_sizing_respects_limits(
    seed: int,
    n: int,
    weights: list[float],
    invested: float,
    limit: float,
    floor: float,
    risk: str,
    max_recs: int,
) -> None:
    features = _random_features(seed, n, 0.2)
    raw = np.array(weights[:n])
    # Book weights summing to ``invested`` (some symbols not held).
    book = raw * invested / raw.sum() if raw.sum() > 0 else raw
    features["held"] = book > 0
    features["current_weight"] = book
    recs = _run(features, risk=risk, n=max_recs, limit=limit, floor=floor)
    _validate(recs)

    assert len(recs) <= max_recs
    assert not recs["symbol"].isin(features.loc[features["is_benchmark"], "symbol"]).any()
    held = set(features.loc[features["held"], "symbol"])
    assert set(recs.loc[recs["action"] == "SELL", "symbol"]) <= held
    assert (recs["target_weight"] <= limit + 1e-12).all()
    assert (recs["target_weight"] >= 0).all()
    buys = recs[recs["action"] == "BUY"]
    assert (buys["target_weight"] > buys["current_weight"]).all()
    sells = recs[recs["action"] == "SELL"]
    assert (sells["target_weight"] < sells["current_weight"]).all()
    holds = recs[recs["action"] == "HOLD"]
    assert (holds["target_weight"] == holds["current_weight"]).all()

    before = float(book.sum())
    not_listed = features["held"] & ~features["symbol"].isin(recs["symbol"])
    after = recs["target_weight"].sum() + features.loc[not_listed, "current_weight"].sum()
    assert after <= max(1.0 - floor, before) + 1e-9
    if before <= 1.0 - floor:
        assert after <= 1.0 - floor + 1e-9
    assert recs["confidence"].between(0, 1).all()


# ---------------------------------------------------------------------------- strategies
def test_strategy_analysis_reads_a_momentum_market() -> None:
    paths = {"UP1": "up", "UP2": "up", "UP3": "up", "CRASH": "crash", "SPY": "flat"}
    sectors = dict.fromkeys(paths, "Tech") | {"SPY": "Index"}
    empty = pd.DataFrame()
    features = build_features(
        _indicators(paths),
        _news([("UP1", 0.9, 0.8, SESSION_NOON), ("CRASH", 0.9, -0.9, SESSION_NOON)]),
        empty,
        _fundamentals({"UP1": 10.0, "UP2": 20.0, "UP3": 20.0, "CRASH": 40.0}, sectors),
        empty,
        _universe(list(paths), sectors),
        _positions({"UP1": 0.2, "UP2": 0.2}),
        SESSION,
    )
    table = strategy_analysis(features, score_signals(features))
    assert table["strategy"].tolist() == ["momentum", "mean_reversion", "value", "event_driven"]
    assert list(table.columns) == [
        "strategy",
        "signal",
        "bullish",
        "bearish",
        "top_long",
        "top_short",
        "portfolio_exposure",
        "summary",
    ]
    by = table.set_index("strategy")
    momentum = by.loc["momentum"]
    assert momentum["signal"] > 0 and momentum["bullish"] == 3 and momentum["bearish"] == 1
    assert set(momentum["top_long"].split(",")) == {"UP1", "UP2", "UP3"}
    assert momentum["top_short"] == "CRASH"
    assert momentum["portfolio_exposure"] > 0  # the book holds two risers
    assert by.loc["mean_reversion", "top_long"].split(",")[0] == "CRASH"  # oversold
    assert by.loc["value", "top_long"].split(",")[0] == "UP1"  # cheapest P/E
    assert by.loc["value", "top_short"].split(",")[0] == "CRASH"
    assert by.loc["event_driven", "top_long"] == "UP1"
    assert by.loc["event_driven", "top_short"] == "CRASH"
    assert "SPY" not in ",".join(table["top_long"].tolist() + table["top_short"].tolist())
    for sentence in table["summary"]:
        assert sentence.endswith(".") and sentence.count(". ") == 0


# ---------------------------------------------------------------------------- not provided
def test_a_dataset_not_provided_renormalises_the_weights_over_the_signals_present() -> None:
    features = _random_features(3, 12, 0.0)
    full = score_signals(features)
    absent = ["earnings", "valuation"]
    reduced = score_signals(features.assign(**{NOT_PROVIDED_COLUMN: ",".join(absent)}))
    assert reduced[absent].isna().all().all()
    kept = [name for name in SIGNAL_WEIGHTS if name not in absent]
    weights = pd.Series({name: SIGNAL_WEIGHTS[name] for name in kept})
    expected = (full[kept] * (weights / weights.sum())).sum(axis=1).clip(-1, 1)
    np.testing.assert_allclose(reduced["score"], expected, rtol=1e-12)
    # Coverage stays a share of all eight signals: the desk knows less.
    np.testing.assert_allclose(reduced["coverage"], 1.0 - 0.20)
    # Without the marker the same NaNs would count as 0 at their full weight.
    nan_earnings = features.assign(earnings_surprise_pct=np.nan, pe_vs_sector=np.nan)
    assert not np.allclose(score_signals(nan_earnings)["score"], reduced["score"])


def test_the_rationale_names_the_signals_not_provided(market: pd.DataFrame) -> None:
    recs = _run(market.assign(**{NOT_PROVIDED_COLUMN: "news,options"}))
    assert len(recs)
    for text in recs["rationale"]:
        assert "not provided by the source: news, options" in text
        assert "renormalised" in text
    assert all("news " not in tags and "options " not in tags for tags in recs["signals"])


def _prices_only(not_provided: list[str]) -> pd.DataFrame:
    empty = pd.DataFrame()
    universe = _universe(["UP", "SPY"], {"UP": "Tech", "SPY": "Index"})
    return build_features(
        _indicators({"UP": "up", "SPY": "up"}),
        *(empty, empty, empty, empty),
        universe,
        empty,
        SESSION,
        not_provided=not_provided,
    )


def test_build_features_lists_what_was_not_provided() -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        _prices_only(["gossip"])
    assert set(_prices_only([])[NOT_PROVIDED_COLUMN]) == {""}
    features = _prices_only(["earnings", "news"])
    # In SIGNAL_WEIGHTS order, whatever order they came in.
    assert set(features[NOT_PROVIDED_COLUMN]) == {"news,earnings"}


def test_headlines_without_a_vendor_impact_count_at_the_unscored_weight() -> None:
    universe = _universe(["UP", "SPY"], {"UP": "Tech", "SPY": "Index"})
    news = _news(
        [
            ("UP", np.nan, 0.8, SESSION_NOON),
            ("UP", np.nan, 0.4, SESSION_NOON - dt.timedelta(days=1)),
        ]
    )
    empty = pd.DataFrame()
    features = build_features(
        _indicators({"UP": "up", "SPY": "up"}), news, empty, empty, empty, universe, empty, SESSION
    ).set_index("symbol")
    assert features.loc["UP", "news_sentiment"] == pytest.approx(0.6)
    assert features.loc["UP", "max_news_impact"] == pytest.approx(UNSCORED_IMPACT)
    assert features.loc["UP", "news_count"] == 2
    news_signal = score_signals(features.reset_index()).set_index("symbol").loc["UP", "news"]
    assert news_signal == pytest.approx(np.tanh(2.0 * 0.6 * UNSCORED_IMPACT))

"""compute_indicators: agreement with TA-Lib, hand-computed values, properties."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.indicators import INDICATOR_COLUMNS, compute_indicators

talib = pytest.importorskip("talib")

FLOATS = INDICATOR_COLUMNS[2:]
SETTLED = 300  # bars after which TA-Lib's differently seeded MACD has converged


def random_walk_bars(
    n_days: int, starts: dict[str, int], scales: dict[str, float], seed: int = 11
) -> pd.DataFrame:
    """Random-walk OHLC bars; symbol s starts starts[s] business days in, at price scale."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    frames = []
    for symbol, start in starts.items():
        n = n_days - start
        close = scales[symbol] * np.exp(np.cumsum(rng.normal(0.0002, 0.018, n)))
        open_ = close * np.exp(rng.normal(0, 0.006, n))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": dates[start:],
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": rng.integers(1_000, 100_000, n).astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def talib_reference(group: pd.DataFrame) -> dict[str, np.ndarray]:
    close, high, low = (group[c].to_numpy() for c in ("close", "high", "low"))
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    log_ret = np.log(close / np.r_[np.nan, close[:-1]])
    return {
        "return_1d": close / np.r_[np.nan, close[:-1]] - 1,
        "log_return_1d": log_ret,
        "sma_20": talib.SMA(close, 20),
        "sma_50": talib.SMA(close, 50),
        "sma_200": talib.SMA(close, 200),
        "ema_12": talib.EMA(close, 12),
        "ema_26": talib.EMA(close, 26),
        "rsi_14": talib.RSI(close, 14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "atr_14": talib.ATR(high, low, close, 14),
        "realized_vol_20": pd.Series(log_ret).rolling(20).std().to_numpy() * math.sqrt(252),
    }


# ------------------------------------------------------------------- against TA-Lib
STARTS = {"AAA": 0, "BBB": 37, "CCC": 250, "DDD": 600, "EEE": 1, "FFF": 0}
SCALES = {"AAA": 150.0, "BBB": 3.0, "CCC": 40.0, "DDD": 2500.0, "EEE": 0.5, "FFF": 80.0}


@pytest.fixture(scope="module")
def ragged() -> tuple[pd.DataFrame, pd.DataFrame]:
    bars = random_walk_bars(1000, STARTS, SCALES)
    shuffled = bars.sample(frac=1.0, random_state=5, ignore_index=True)
    return bars, compute_indicators(shuffled)


@pytest.mark.parametrize("symbol", list(STARTS))
def test_matches_talib_from_first_value(ragged, symbol):
    bars, out = ragged
    mine = out[out["symbol"] == symbol]
    ref = talib_reference(bars[bars["symbol"] == symbol])
    assert len(mine) == 1000 - STARTS[symbol]
    for column in FLOATS[1:]:
        got, want = mine[column].to_numpy(), ref[column]
        if column == "macd":  # ours starts with ema_26 on bar 25, TA-Lib's on bar 33
            assert np.isnan(got[:25]).all() and not np.isnan(got[25:]).any()
            continue
        # Same warm-up: NaN exactly where TA-Lib has NaN.
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=column)
        if column.startswith("macd"):
            continue  # TA-Lib seeds its MACD EMAs later; see the settled test
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * SCALES[symbol], err_msg=column)


@pytest.mark.parametrize("symbol", list(STARTS))
def test_matches_talib_after_warmup(ragged, symbol):
    bars, out = ragged
    mine = out[out["symbol"] == symbol].iloc[SETTLED:]
    ref = talib_reference(bars[bars["symbol"] == symbol])
    for column in FLOATS[1:]:
        np.testing.assert_allclose(
            mine[column].to_numpy(),
            ref[column][SETTLED:],
            rtol=1e-6,
            atol=1e-9 * SCALES[symbol],
            err_msg=column,
        )


def test_macd_is_the_difference_of_talib_emas_from_its_first_value(ragged):
    bars, out = ragged
    for symbol in STARTS:
        close = bars.loc[bars["symbol"] == symbol, "close"].to_numpy()
        want = talib.EMA(close, 12) - talib.EMA(close, 26)
        got = out.loc[out["symbol"] == symbol, "macd"].to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * SCALES[symbol])


def test_rsi_of_a_flat_series_is_what_talib_says():
    # TA-Lib returns 0 (not 50) when gains and losses are both 0; we follow it.
    close = np.full(40, 12.5)
    bars = pd.DataFrame(
        {"symbol": "X", "date": pd.bdate_range("2024-01-01", periods=40)}
        | {c: close for c in ("open", "high", "low", "close")}
    )
    out = compute_indicators(bars)
    np.testing.assert_array_equal(out["rsi_14"].to_numpy(), talib.RSI(close, 14))
    assert out["rsi_14"].iloc[14:].eq(0.0).all()


def test_leading_missing_bars_are_skipped_like_talib():
    bars = random_walk_bars(120, {"A": 0}, {"A": 30.0})
    bars.loc[:6, "close"] = np.nan
    out = compute_indicators(bars)
    close = bars["close"].to_numpy()
    for column, want in {
        "sma_20": talib.SMA(close, 20),
        "ema_12": talib.EMA(close, 12),
        "rsi_14": talib.RSI(close, 14),
    }.items():
        np.testing.assert_allclose(out[column].to_numpy(), want, rtol=1e-9, err_msg=column)


# ------------------------------------------------------------------ by hand
def frame(close: list[float], high: list[float] | None = None, low: list[float] | None = None):
    n = len(close)
    return pd.DataFrame(
        {
            "symbol": "H",
            "date": pd.bdate_range("2024-03-01", periods=n),
            "open": close,
            "high": high if high is not None else close,
            "low": low if low is not None else close,
            "close": close,
            "volume": 1.0,
        }
    )


def test_hand_computed_linear_series():
    # close = 1, 2, ..., 30; high = close + 1, low = close - 1.
    close = [float(k) for k in range(1, 31)]
    out = compute_indicators(frame(close, [c + 1 for c in close], [c - 1 for c in close]))

    assert out["return_1d"].iloc[1] == pytest.approx(1.0)  # 2 / 1 - 1
    assert out["log_return_1d"].iloc[3] == pytest.approx(math.log(4 / 3))
    assert out["sma_20"].iloc[:19].isna().all()
    assert out["sma_20"].iloc[19] == pytest.approx(10.5)  # mean(1..20)
    assert out["sma_20"].iloc[29] == pytest.approx(20.5)  # mean(11..30)
    assert out["sma_50"].isna().all()
    # EMA 12: seed mean(1..12) = 6.5 on bar 11, then 6.5 + 2/13 * (13 - 6.5) = 7.5, ...
    # for a straight line it trails the close by (1 - alpha) / alpha = 5.5.
    assert out["ema_12"].iloc[:11].isna().all()
    assert out["ema_12"].iloc[11] == pytest.approx(6.5)
    assert out["ema_12"].iloc[12] == pytest.approx(7.5)
    assert out["ema_12"].iloc[29] == pytest.approx(30 - 5.5)
    # EMA 26 trails by 12.5, so MACD = 7 from bar 25; its 9-EMA is 7 from bar 33.
    assert out["macd"].iloc[25] == pytest.approx(7.0)
    assert out["macd_signal"].iloc[:33].isna().all()
    # (no bar 33 in 30 bars: the signal is still warming up)
    assert out["macd_signal"].isna().all()
    # Population std of 20 consecutive integers is sqrt((20**2 - 1) / 12).
    half = 2 * math.sqrt(399 / 12)
    assert out["bb_upper"].iloc[19] == pytest.approx(10.5 + half)
    assert out["bb_lower"].iloc[29] == pytest.approx(20.5 - half)
    assert out["rsi_14"].iloc[14:].eq(100.0).all()  # no losses at all
    assert out["atr_14"].iloc[:14].isna().all()
    assert np.allclose(out["atr_14"].iloc[14:], 2.0)  # every true range is high - low


def test_hand_computed_rsi():
    # Changes +1, -1, +2, repeated. The first 14 are four rounds and then +1, -1:
    # gains 4 * 3 + 1 = 13 and losses 4 + 1 = 5, so the seeds are 13/14 and 5/14 and
    # RSI = 100 * 13 / (13 + 5).
    close = [10.0]
    for step in [1, -1, 2] * 5:
        close.append(close[-1] + step)
    out = compute_indicators(frame(close))
    rsi = out["rsi_14"]
    assert rsi.iloc[:14].isna().all()
    assert rsi.iloc[14] == pytest.approx(100 * 13 / 18)
    # Next change +2: gain (13/14 * 13 + 2) / 14 = 197/196, loss 5/14 * 13/14 = 65/196.
    assert rsi.iloc[15] == pytest.approx(100 * 197 / (197 + 65))


def test_hand_computed_realized_vol():
    # Log returns alternate +a, -a: 20 of them have mean 0 and sample variance
    # 20 a^2 / 19.
    a = 0.01
    close = [100.0 * math.exp(a * (k % 2)) for k in range(22)]
    out = compute_indicators(frame(close))
    assert out["realized_vol_20"].iloc[:20].isna().all()
    want = math.sqrt(20 * a * a / 19) * math.sqrt(252)
    assert out["realized_vol_20"].iloc[20] == pytest.approx(want, rel=1e-9)
    assert out["realized_vol_20"].iloc[21] == pytest.approx(want, rel=1e-9)


def test_a_flat_stretch_inside_a_moving_series_is_exact():
    # Closes 60..140 repeat close 59: every window inside the stretch has exactly the
    # close as SMA and bands and exactly zero spread; TA-Lib's running sums alone
    # would leave the last bits of the moves before it.
    bars = random_walk_bars(200, {"A": 0}, {"A": 37.3}, seed=9)
    bars.loc[60:140, "close"] = bars.loc[59, "close"]
    out = compute_indicators(bars)
    price = bars.loc[59, "close"]
    for column, first in {
        "sma_20": 59 + 19,
        "sma_50": 59 + 49,
        "bb_upper": 59 + 19,
        "bb_middle": 59 + 19,
        "bb_lower": 59 + 19,
    }.items():
        assert (out[column].iloc[first:141] == price).all(), column
        assert (out[column].iloc[141:] != price).all(), column
    assert (out["realized_vol_20"].iloc[59 + 20 : 141] == 0.0).all()
    assert (out["realized_vol_20"].iloc[141:] > 0.0).all()
    # Just before the stretch is complete, the window still holds a move.
    assert out["sma_20"].iloc[59 + 18] != price and out["realized_vol_20"].iloc[59 + 19] > 0


# ------------------------------------------------------------------ shape and input
def test_output_shape_order_and_dtypes(ragged):
    bars, out = ragged
    assert list(out.columns) == INDICATOR_COLUMNS
    assert len(out) == len(bars)
    assert isinstance(out.index, pd.RangeIndex) and out.index.start == 0
    assert out[["symbol", "date"]].equals(
        bars.sort_values(["symbol", "date"], ignore_index=True)[["symbol", "date"]]
    )
    assert out["date"].dtype == bars["date"].dtype
    assert all(out[c].dtype == np.float64 for c in FLOATS)


def test_python_dates_keep_their_dtype_and_row_orders_agree():
    bars = random_walk_bars(60, {"A": 0, "B": 0, "C": 10}, {"A": 1.0, "B": 2.0, "C": 3.0})
    expected = compute_indicators(bars)
    by_date = bars.sort_values(["date", "symbol"], ignore_index=True)
    pd.testing.assert_frame_equal(compute_indicators(by_date), expected)
    full = bars[bars["symbol"] != "C"].sort_values(["date", "symbol"], ignore_index=True)
    pd.testing.assert_frame_equal(
        compute_indicators(full), expected[expected["symbol"] != "C"].reset_index(drop=True)
    )
    as_dates = bars.assign(date=bars["date"].dt.date)
    out = compute_indicators(as_dates.sample(frac=1.0, random_state=1))
    assert out["date"].dtype == object and out["date"].iloc[0] == as_dates["date"].iloc[0]
    pd.testing.assert_frame_equal(out.drop(columns="date"), expected.drop(columns="date"))


def test_categorical_symbols_and_tz_aware_dates_keep_their_dtypes():
    bars = random_walk_bars(50, {"A": 0, "B": 5}, {"A": 1.0, "B": 2.0})
    expected = compute_indicators(bars)
    other = bars.assign(
        symbol=bars["symbol"].astype("category"),
        date=bars["date"].dt.tz_localize("America/New_York"),
    ).sample(frac=1.0, random_state=2)
    out = compute_indicators(other)
    assert out["symbol"].dtype == "category"
    assert out["date"].dtype == other["date"].dtype
    pd.testing.assert_frame_equal(
        out.drop(columns=["symbol", "date"]), expected.drop(columns=["symbol", "date"])
    )


# ------------------------------------------------------------------ bad bars
# Bar of each column's first value, counted from the first bar of a series (or of the
# first good bar after a bad one).
FIRST_VALUE = {
    "return_1d": 1,
    "log_return_1d": 1,
    "sma_20": 19,
    "sma_50": 49,
    "sma_200": 199,
    "ema_12": 11,
    "ema_26": 25,
    "rsi_14": 14,
    "macd": 25,
    "macd_signal": 33,
    "macd_hist": 33,
    "bb_upper": 19,
    "bb_middle": 19,
    "bb_lower": 19,
    "atr_14": 14,
    "realized_vol_20": 20,
}
RECURSIONS = ("ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist", "atr_14")
WINDOWS = tuple(column for column in FIRST_VALUE if column not in RECURSIONS)
# Ways to spoil a bar: (column, value).
SPOILERS = [
    ("close", np.nan),
    ("close", 0.0),
    ("close", -2.0),
    ("close", np.inf),
    ("high", np.inf),
    ("high", np.nan),
    ("low", np.nan),
    ("low", -np.inf),
]


def good_runs(bad: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) of each maximal run of good bars."""
    edges = np.flatnonzero(np.diff(np.r_[0, (~bad).astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def restarted(one: pd.DataFrame, bad: np.ndarray) -> pd.DataFrame:
    """One symbol's indicators with its bad bars quarantined, from first principles:
    every run of good bars computed as a series of its own, NaN on the bad bars."""
    expected = pd.DataFrame(np.nan, index=pd.RangeIndex(len(one)), columns=FLOATS[1:])
    for first, end in good_runs(bad):
        alone = compute_indicators(one.iloc[first:end])
        expected.iloc[first:end] = alone[FLOATS[1:]].to_numpy()
    return expected


def rolling_reference(close: np.ndarray, bad: np.ndarray) -> dict[str, np.ndarray]:
    """The window columns, computed plainly with pandas on the closes with the bad bars
    set to NaN: a window (or a return) that holds one is NaN."""
    c = pd.Series(np.where(bad, np.nan, close))
    log_ret = np.log(c / c.shift())
    std20 = c.rolling(20).std(ddof=0)
    mean20 = c.rolling(20).mean()
    return {
        "return_1d": (c / c.shift() - 1).to_numpy(),
        "log_return_1d": log_ret.to_numpy(),
        "sma_20": mean20.to_numpy(),
        "sma_50": c.rolling(50).mean().to_numpy(),
        "sma_200": c.rolling(200).mean().to_numpy(),
        "bb_upper": (mean20 + 2 * std20).to_numpy(),
        "bb_middle": mean20.to_numpy(),
        "bb_lower": (mean20 - 2 * std20).to_numpy(),
        "realized_vol_20": (log_ret.rolling(20).std() * math.sqrt(252)).to_numpy(),
    }


def expected_nans(bad: np.ndarray, column: str) -> np.ndarray:
    """Where a column must be NaN: the bad bars, and the warm-up after each of them."""
    nan = bad.copy()
    for first, end in good_runs(bad):
        nan[first : min(end, first + FIRST_VALUE[column])] = True
    return nan


def assert_quarantined(one: pd.DataFrame, got: pd.DataFrame, bad: np.ndarray) -> None:
    """got (one symbol's output rows) treats the bars ``bad`` of ``one`` as quarantined."""
    scale = float(np.nanmax(np.where(bad, np.nan, one["close"].to_numpy()), initial=1.0))
    np.testing.assert_array_equal(got["close"].to_numpy(), one["close"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        rolling = rolling_reference(one["close"].to_numpy(), bad)
    alone = restarted(one, bad)
    for column in FLOATS[1:]:
        values = got[column].to_numpy()
        np.testing.assert_array_equal(np.isnan(values), expected_nans(bad, column), column)
        want = alone[column].to_numpy()
        # The segment alone and the segment among others differ in the last bits only.
        np.testing.assert_allclose(values, want, rtol=1e-12, atol=1e-12 * scale, err_msg=column)
        if column in WINDOWS:
            np.testing.assert_allclose(
                values, rolling[column], rtol=1e-9, atol=1e-9 * scale, err_msg=column
            )


def test_a_nan_close_blanks_the_windows_over_it_then_indicators_resume():
    # Replaces the test of the old behaviour, where a bad bar ended the symbol's
    # indicators for good.
    bars = random_walk_bars(420, {"A": 0, "B": 0, "C": 30}, {"A": 10.0, "B": 20.0, "C": 5.0})
    clean = compute_indicators(bars)
    rows = bars.index[bars["symbol"] == "A"]
    at = 150
    bars.loc[rows[at], "close"] = np.nan
    out = compute_indicators(bars)
    got = out[out["symbol"] == "A"].reset_index(drop=True)
    one = bars.loc[rows].reset_index(drop=True)
    bad = np.arange(len(one)) == at
    assert_quarantined(one, got, bad)

    # Bar by bar: the bad bar is NaN throughout, and each column resumes where its
    # window (or warm-up) after the bad bar is complete.
    assert got.loc[at, FLOATS[1:]].isna().all()
    for column, first in FIRST_VALUE.items():
        assert got[column].iloc[at + 1 : at + 1 + first].isna().all(), column
        assert got[column].iloc[at + 1 + first :].notna().all(), column
    # Before the bad bar nothing changes.
    before = clean[clean["symbol"] == "A"].reset_index(drop=True).iloc[:at]
    pd.testing.assert_frame_equal(got.iloc[:at], before, check_exact=False, rtol=1e-12)
    # The recursions after it are TA-Lib's on the bars after it, from their first value.
    after = one.iloc[at + 1 :]
    close, high, low = (after[c].to_numpy() for c in ("close", "high", "low"))
    for column, want in {
        "ema_12": talib.EMA(close, 12),
        "ema_26": talib.EMA(close, 26),
        "rsi_14": talib.RSI(close, 14),
        "atr_14": talib.ATR(high, low, close, 14),
        "macd": talib.EMA(close, 12) - talib.EMA(close, 26),
    }.items():
        np.testing.assert_allclose(got[column].iloc[at + 1 :], want, rtol=1e-9, err_msg=column)


@pytest.mark.parametrize(("column", "value"), SPOILERS, ids=lambda v: str(v))
def test_any_bad_value_quarantines_its_bar(column, value):
    bars = random_walk_bars(300, {"A": 0}, {"A": 40.0}, seed=3)
    at = 100
    bars.loc[at, column] = value
    got = compute_indicators(bars)
    bad = np.arange(len(bars)) == at
    assert_quarantined(bars, got, bad)
    assert got["sma_20"].iloc[at + 20 :].notna().all()
    assert got["atr_14"].iloc[at + 15 :].notna().all()


@pytest.mark.parametrize(("column", "value"), SPOILERS, ids=lambda v: str(v))
def test_a_bad_bar_in_a_series_too_short_for_any_recursion(column, value):
    # Only the returns have values here, and no ATR ever sees a true range.
    bars = random_walk_bars(6, {"A": 0, "B": 0}, {"A": 40.0, "B": 4.0}, seed=6)
    bars.loc[2, column] = value
    out = compute_indicators(bars)
    got = out[out["symbol"] == "A"].reset_index(drop=True)
    assert_quarantined(bars.iloc[:6], got, np.arange(6) == 2)
    assert got["return_1d"].isna().tolist() == [True, False, True, True, False, False]


def test_a_zero_close_and_an_inf_high_in_one_series():
    bars = random_walk_bars(260, {"A": 0}, {"A": 40.0}, seed=4)
    bars.loc[60, "close"] = 0.0
    bars.loc[61, "high"] = np.inf  # next to the other: one gap of two bars
    bars.loc[92, "high"] = np.inf
    got = compute_indicators(bars)
    bad = np.isin(np.arange(len(bars)), [60, 61, 92])
    assert_quarantined(bars, got, bad)
    # The 30 good bars between the gaps get ema_26 (from their 26th) but are too few
    # for macd_signal (34).
    assert got["ema_26"].iloc[62 + 25 : 92].notna().all()
    assert got["macd_signal"].iloc[62:92].isna().all()
    assert got["macd_signal"].iloc[93 + 33 :].notna().all()


def test_leading_and_trailing_bad_bars():
    bars = random_walk_bars(80, {"A": 0}, {"A": 40.0}, seed=5)
    bars.loc[:3, "close"] = 0.0
    bars.loc[79, "low"] = np.nan
    got = compute_indicators(bars)
    bad = np.isin(np.arange(80), [0, 1, 2, 3, 79])
    assert_quarantined(bars, got, bad)
    good = bars.iloc[4:79]
    np.testing.assert_allclose(
        got["rsi_14"].iloc[4:79], talib.RSI(good["close"].to_numpy(), 14), rtol=1e-9
    )


def test_a_symbol_of_bad_bars_only():
    bars = random_walk_bars(40, {"A": 0, "B": 0}, {"A": 1.0, "B": 2.0})
    bars.loc[bars["symbol"] == "A", "close"] = np.nan
    out = compute_indicators(bars)
    assert out.loc[out["symbol"] == "A", FLOATS].isna().all().all()
    assert out.loc[out["symbol"] == "B", "sma_20"].iloc[19:].notna().all()


@pytest.mark.parametrize("bad_start", [0, 45], ids=["full history", "late start"])
def test_other_symbols_are_unchanged_bit_for_bit(bad_start):
    # 70 symbols with the full history: they are computed straight into the output
    # block, while symbols with a shorter one are gathered (both paths are covered).
    starts = {f"S{k:02d}": 0 for k in range(70)} | {"R1": 10, "R2": 200}
    starts["S33"] = bad_start
    bars = random_walk_bars(300, starts, dict.fromkeys(starts, 25.0), seed=8)
    rows = bars.index[bars["symbol"] == "S33"]
    bars.loc[rows[20], "close"] = np.nan
    bars.loc[rows[120], "close"] = 0.0
    bars.loc[rows[121], "high"] = np.inf
    by_date = bars.sort_values(["date", "symbol"], ignore_index=True)
    out = compute_indicators(by_date)
    without = compute_indicators(by_date[by_date["symbol"] != "S33"])
    others = out[out["symbol"] != "S33"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, without, check_exact=True)
    one = bars.loc[rows].reset_index(drop=True)
    bad = np.isin(np.arange(len(one)), [20, 120, 121])
    assert_quarantined(one, out[out["symbol"] == "S33"].reset_index(drop=True), bad)


@st.composite
def spoiled_bars(draw) -> tuple[pd.DataFrame, np.ndarray]:
    """Two random-walk symbols; a few bars of A spoiled at random (B is clean)."""
    n = draw(st.integers(1, 160))
    seed = draw(st.integers(0, 2**32 - 1))
    bars = random_walk_bars(n, {"A": 0, "B": 0}, {"A": 50.0, "B": 5.0}, seed=seed)
    spoils = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(SPOILERS)), max_size=5))
    bad = np.zeros(n, dtype=bool)
    for at, (column, value) in spoils:
        bars.loc[at, column] = value  # A comes first, so its rows are 0 .. n-1
        bad[at] = True
    return bars, bad


@settings(max_examples=100, deadline=None)
@given(spoiled_bars(), st.randoms(use_true_random=False))
def test_bad_bars_anywhere_restart_the_indicators(spoiled, rnd):
    bars, bad = spoiled
    order = list(range(len(bars)))
    rnd.shuffle(order)
    out = compute_indicators(bars.iloc[order])
    one = bars[bars["symbol"] == "A"].reset_index(drop=True)
    assert_quarantined(one, out[out["symbol"] == "A"].reset_index(drop=True), bad)
    b = out[out["symbol"] == "B"].reset_index(drop=True)
    pd.testing.assert_frame_equal(b, compute_indicators(bars[bars["symbol"] == "B"]))


def test_talib_itself_after_a_mid_series_nan():
    # What compute_indicators' docstring says of TA-Lib, checked on the installed one.
    bars = random_walk_bars(150, {"A": 0}, {"A": 30.0}, seed=2)
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    clean_tr = talib.TRANGE(high, low, close)
    # A bar whose true range comes from the previous close, so that dropping it shows.
    at = next(t for t in range(60, 140) if clean_tr[t + 1] > high[t + 1] - low[t + 1])
    c = close.copy()
    c[at] = np.nan
    for values in (talib.SMA(c, 20), talib.EMA(c, 12), *talib.BBANDS(c, 20), *talib.MACD(c)):
        assert np.isfinite(values[at - 1]) and np.isnan(values[at:]).all()
    assert (talib.RSI(c, 14)[at:] == 0.0).all()
    # ATR runs on; the true range after the NaN close is that bar's high - low alone.
    true_range = clean_tr.copy()
    true_range[at + 1] = high[at + 1] - low[at + 1]
    atr = np.full(len(c), np.nan)
    atr[14] = true_range[1:15].mean()
    for t in range(15, len(c)):
        atr[t] = (13 * atr[t - 1] + true_range[t]) / 14
    np.testing.assert_allclose(talib.ATR(high, low, c, 14), atr, rtol=1e-12)
    # A NaN high ends ATR, and leaves the close-only functions alone.
    h = high.copy()
    h[at] = np.nan
    assert np.isnan(talib.ATR(h, low, close, 14)[at:]).all()
    # A zero close is just a number to TA-Lib.
    z = close.copy()
    z[at] = 0.0
    assert np.isfinite(talib.SMA(z, 20)[19:]).all() and np.isfinite(talib.RSI(z, 14)[14:]).all()


def test_empty_frame():
    out = compute_indicators(frame([1.0]).iloc[:0])
    assert list(out.columns) == INDICATOR_COLUMNS and out.empty


def test_bad_input_is_rejected():
    with pytest.raises(KeyError, match="high"):
        compute_indicators(frame([1.0, 2.0]).drop(columns="high"))
    with pytest.raises(ValueError, match="repeated"):
        compute_indicators(pd.concat([frame([1.0, 2.0]), frame([1.0, 2.0])]))


def test_importing_the_module_does_not_import_talib():
    # TA-Lib is imported on the first call: a run launch that never computes
    # indicators does not pay for it.
    code = "import sys, robo_dagster.domain.indicators; print('talib' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


# ------------------------------------------------------------------ properties
prices = st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False)


@st.composite
def universes(draw) -> pd.DataFrame:
    """1-4 symbols with ragged starts and lengths, random positive OHLC."""
    n_symbols = draw(st.integers(1, 4))
    frames = []
    for k in range(n_symbols):
        closes = draw(st.lists(prices, min_size=1, max_size=70))
        spread = draw(st.floats(0.0, 0.2))
        start = draw(st.integers(0, 40))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": f"S{k}",
                    "date": pd.bdate_range("2023-01-02", periods=start + len(closes))[start:],
                    "open": closes,
                    "high": [c * (1 + spread) for c in closes],
                    "low": [c * (1 - spread) for c in closes],
                    "close": closes,
                    "volume": 1.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=60, deadline=None)
@given(universes(), st.randoms(use_true_random=False))
def test_rows_sorted_counted_and_order_independent(bars, rnd):
    out = compute_indicators(bars)
    assert len(out) == len(bars)
    assert list(out.columns) == INDICATOR_COLUMNS
    keys = list(zip(out["symbol"], out["date"], strict=True))
    assert keys == sorted(keys)
    order = list(range(len(bars)))
    rnd.shuffle(order)
    shuffled = compute_indicators(bars.iloc[order])
    pd.testing.assert_frame_equal(shuffled, out, check_exact=False, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(universes())
def test_rsi_stays_within_0_and_100(bars):
    rsi = compute_indicators(bars)["rsi_14"].dropna()
    assert ((rsi >= 0.0) & (rsi <= 100.0)).all()


@settings(max_examples=40, deadline=None)
@given(prices, st.integers(21, 80))
def test_constant_series_has_exactly_zero_spread(price, n):
    out = compute_indicators(frame([price] * n))
    vol = out["realized_vol_20"]
    assert vol.iloc[:20].isna().all() and (vol.iloc[20:] == 0.0).all()
    for column in ("bb_upper", "bb_middle", "bb_lower", "sma_20"):
        assert (out[column].iloc[19:] == price).all(), column
    assert (out["rsi_14"].iloc[14:] == 0.0).all()

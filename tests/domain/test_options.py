"""Tests for robo_dagster.domain.options: BSM pricing, implied vol, smile, chain summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.options import (
    IV_UPPER,
    black_scholes_delta,
    black_scholes_price,
    black_scholes_vega,
    implied_volatility,
    smile_vol,
    summarize_chains,
)

# --- pricing -------------------------------------------------------------------------


def test_hull_reference_values() -> None:
    call = black_scholes_price(100.0, 100.0, 1.0, 0.05, 0.2, True)
    put = black_scholes_price(100.0, 100.0, 1.0, 0.05, 0.2, False)
    assert call == pytest.approx(10.4506, abs=5e-5)
    assert put == pytest.approx(5.5735, abs=5e-5)


def test_hull_dividend_example() -> None:
    # Hull, index option example: S=930, K=900, r=8%, q=3%, sigma=20%, T=2/12 -> 51.83.
    call = black_scholes_price(930.0, 900.0, 2 / 12, 0.08, 0.2, True, 0.03)
    assert call == pytest.approx(51.83, abs=5e-3)


def test_broadcasting_and_vectorised_flag() -> None:
    strikes = np.array([[90.0], [100.0], [110.0]])
    is_call = np.array([True, False])
    prices = black_scholes_price(100.0, strikes, 0.5, 0.03, 0.25, is_call)
    assert prices.shape == (3, 2)
    one = black_scholes_price(100.0, 110.0, 0.5, 0.03, 0.25, False)
    assert prices[2, 1] == pytest.approx(float(one), rel=1e-15)


def test_zero_variance_limits_and_invalid_inputs() -> None:
    at_expiry = black_scholes_price(100.0, [90.0, 110.0], 0.0, 0.05, 0.2, [True, False])
    np.testing.assert_allclose(at_expiry, [10.0, 10.0])
    zero_vol = black_scholes_price(100.0, 90.0, 1.0, 0.05, 0.0, True)
    assert zero_vol == pytest.approx(100.0 - 90.0 * np.exp(-0.05))
    spot = [np.nan, -1.0, 100.0, 100.0]
    bad = black_scholes_price(spot, 100.0, [1.0, 1.0, -0.1, 1.0], 0.0, [0.2, 0.2, 0.2, -0.2], True)
    assert np.isnan(bad).all()


def test_delta_and_vega_against_finite_differences() -> None:
    s, k, t, r, v, q = 105.0, 100.0, 0.75, 0.04, 0.3, 0.02
    h = 1e-4
    for is_call in (True, False):
        fd_delta = (
            black_scholes_price(s + h, k, t, r, v, is_call, q)
            - black_scholes_price(s - h, k, t, r, v, is_call, q)
        ) / (2 * h)
        assert black_scholes_delta(s, k, t, r, v, is_call, q) == pytest.approx(fd_delta, abs=1e-7)
        fd_vega = (
            black_scholes_price(s, k, t, r, v + h, is_call, q)
            - black_scholes_price(s, k, t, r, v - h, is_call, q)
        ) / (2 * h)
        assert black_scholes_vega(s, k, t, r, v, q) == pytest.approx(fd_vega, rel=1e-7)
    # Call delta minus put delta is e^{-qT} by parity.
    diff = black_scholes_delta(s, k, t, r, v, True, q) - black_scholes_delta(
        s, k, t, r, v, False, q
    )
    assert diff == pytest.approx(np.exp(-q * t), abs=1e-14)


@settings(max_examples=200, deadline=None)
@given(
    spot=st.floats(1.0, 1000.0),
    moneyness=st.floats(-1.5, 1.5),
    t=st.floats(1e-3, 5.0),
    rate=st.floats(-0.02, 0.12),
    vol=st.floats(0.01, 3.0),
    q=st.floats(0.0, 0.08),
)
def test_put_call_parity(
    spot: float, moneyness: float, t: float, rate: float, vol: float, q: float
) -> None:
    strike = spot * np.exp(moneyness)
    call = black_scholes_price(spot, strike, t, rate, vol, True, q)
    put = black_scholes_price(spot, strike, t, rate, vol, False, q)
    forward_value = spot * np.exp(-q * t) - strike * np.exp(-rate * t)
    assert abs(call - put - forward_value) <= 1e-10


# --- implied volatility --------------------------------------------------------------


def _grid() -> tuple[np.ndarray, ...]:
    strikes = np.array([20, 50, 70, 90, 97, 100, 103, 110, 130, 160, 200, 400.0])
    expiries = np.array([1, 3, 7, 30, 91, 365, 3 * 365, 10 * 365]) / 365.0
    vols = np.array([0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 4.9])
    rates = np.array([-0.01, 0.0, 0.05])
    yields = np.array([0.0, 0.03])
    calls = np.array([True, False])
    return tuple(
        a.ravel() for a in np.meshgrid(strikes, expiries, vols, rates, yields, calls, indexing="ij")
    )


def test_iv_round_trip_on_broad_grid() -> None:
    spot = 100.0
    k, t, v, r, q, c = _grid()
    price = black_scholes_price(spot, k, t, r, v, c, q)
    iv = implied_volatility(price, spot, k, t, r, c, q)

    # The vol is only identifiable where the time value (the OTM twin's price) is not
    # lost in rounding and vega is not vanishing.
    time_value = np.minimum(price, black_scholes_price(spot, k, t, r, v, ~c, q))
    vega = black_scholes_vega(spot, k, t, r, v, q)
    meaningful = (time_value > 1e-8) & (vega > 1e-6)
    assert meaningful.sum() > 0.6 * meaningful.size
    np.testing.assert_allclose(iv[meaningful], v[meaningful], rtol=0, atol=1e-6)

    # Elsewhere the answer may be NaN, but a number returned must reproduce the price.
    finite = np.isfinite(iv)
    repriced = black_scholes_price(spot, k, t, r, iv, c, q)
    np.testing.assert_allclose(repriced[finite], price[finite], rtol=0, atol=1e-9)


def test_iv_scalar_and_shape() -> None:
    iv = implied_volatility(10.450583572185565, 100.0, 100.0, 1.0, 0.05, True)
    assert iv.shape == ()
    assert iv == pytest.approx(0.2, abs=1e-10)
    grid = implied_volatility(np.full((2, 3), 5.0), 100.0, 100.0, 1.0, 0.0, True)
    assert grid.shape == (2, 3)


def test_iv_nan_outside_no_arbitrage_bounds() -> None:
    s, k, t, r, q = 120.0, 100.0, 1.0, 0.05, 0.0
    call_floor = s - k * np.exp(-r * t)
    put_cap = k * np.exp(-r * t)
    prices = np.array([call_floor - 0.5, call_floor, s, s + 1.0, 5.0, put_cap, put_cap + 1.0])
    flags = np.array([True, True, True, True, False, False, False])
    iv = implied_volatility(prices, s, k, t, r, flags, q)
    assert np.isnan(iv[[0, 1, 2, 3, 5, 6]]).all()
    assert np.isfinite(iv[4])  # a put worth 5 on a 120 spot with K=100 is fine

    # OTM put below its intrinsic bound of 0 and a price worth more than vol 5 can give.
    assert np.isnan(implied_volatility([-1.0, 0.0], 100.0, 90.0, 1.0, 0.0, False))[0]
    too_rich = black_scholes_price(100.0, 100.0, 1.0, 0.0, IV_UPPER + 1.0, True)
    assert np.isnan(implied_volatility(too_rich, 100.0, 100.0, 1.0, 0.0, True))


def test_iv_nan_for_expired_or_bad_inputs() -> None:
    iv = implied_volatility(
        [5.0, 5.0, np.nan, 5.0, 5.0, 5.0],
        [100.0, 100.0, 100.0, np.nan, -100.0, 100.0],
        [100.0, 100.0, 100.0, 100.0, 100.0, 0.0],
        [0.0, -0.5, 1.0, 1.0, 1.0, 1.0],
        0.01,
        True,
    )
    assert np.isnan(iv).all()


# --- smile ---------------------------------------------------------------------------


def test_smile_atm_skew_curvature_and_floor() -> None:
    atm = 0.25
    for t in (7 / 365, 30 / 365, 0.25, 1.0):
        assert smile_vol(atm, 0.0, t) == pytest.approx(atm)
        root_t = np.sqrt(max(t, 1 / 365))
        near = np.linspace(-0.3, 0.2, 50) * root_t  # |z| <= 0.3 standardised moneyness
        vols = smile_vol(atm, near, t)
        assert np.all(np.diff(vols) < 0), "lower strikes must carry higher vol near the money"
        # Positive curvature: far wings sit above the near-money minimum on both sides.
        wings = smile_vol(atm, np.array([-2.0, 2.0]) * root_t, t)
        assert np.all(wings > vols.min())

    k = np.linspace(-1.0, 1.0, 201)
    steep = smile_vol(atm, k, 0.25, skew=-3.0, curvature=0.1)
    assert np.all(steep >= 0.3 * atm - 1e-15)
    assert np.isclose(steep.min(), 0.3 * atm)


def test_smile_broadcasts_and_is_deterministic() -> None:
    atm = np.array([0.2, 0.4])[:, None]
    k = np.linspace(-0.2, 0.2, 5)[None, :]
    a = smile_vol(atm, k, 0.5)
    assert a.shape == (2, 5)
    np.testing.assert_array_equal(a, smile_vol(atm, k, 0.5))
    np.testing.assert_allclose(a[1], 2 * a[0])
    # Expiring contracts use the one-day floor rather than dividing by zero.
    assert np.isfinite(smile_vol(0.2, 0.1, [0.0, -1.0])).all()


# --- chain summary -------------------------------------------------------------------

_EXP = {d: pd.Timestamp("2024-01-02") + pd.Timedelta(days=d) for d in (7, 35, 30, 90)}


def _rows(symbol: str, spot: float, dte: int, rows: list[tuple]) -> list[dict]:
    """rows: (option_type, strike, delta, iv, volume, open_interest)."""
    return [
        {
            "symbol": symbol,
            "expiry": _EXP[dte],
            "days_to_expiry": dte,
            "strike": strike,
            "option_type": kind,
            "underlying_price": spot,
            "implied_vol": iv,
            "delta": delta,
            "volume": vol,
            "open_interest": oi,
        }
        for kind, strike, delta, iv, vol, oi in rows
    ]


def _chain() -> pd.DataFrame:
    # AAA: skewed smile; the 35-day expiry is the reference (7 and 90 are further off 30).
    aaa_35 = [
        ("put", 90.0, -0.15, 0.30, 50, 100),
        ("put", 95.0, -0.30, 0.27, 50, 100),
        ("put", 100.0, -0.50, 0.24, 50, 100),
        ("put", 105.0, -0.70, 0.22, 0, 0),
        ("call", 95.0, 0.70, 0.25, 0, 100),
        ("call", 100.0, 0.50, 0.22, 20, 300),
        ("call", 105.0, 0.30, 0.20, 20, 200),
        ("call", 110.0, 0.15, 0.19, 20, 100),
    ]
    aaa_7 = [("put", 100.0, -0.5, 0.90, 100, 100), ("call", 100.0, 0.5, 0.90, 20, 200)]
    aaa_90 = [("put", 100.0, -0.5, 0.50, 50, 100), ("call", 100.0, 0.5, 0.50, 20, 100)]
    # BBB: smile symmetric in |delta|, no call volume, spot between two strikes.
    bbb_30 = [
        ("put", 45.0, -0.10, 0.40, 10, 5),
        ("put", 47.5, -0.20, 0.35, 10, 5),
        ("put", 50.0, -0.30, 0.32, 10, 5),
        ("put", 52.5, -0.55, 0.30, 10, 5),
        ("call", 47.5, 0.70, 0.30, 0, 5),
        ("call", 50.0, 0.45, 0.30, 0, 5),
        ("call", 52.5, 0.30, 0.32, 0, 5),
        ("call", 55.0, 0.20, 0.35, 0, 5),
        ("call", 57.5, 0.10, 0.40, 0, 5),
    ]
    # CCC: no bracket around 25 delta on either side, and one NaN IV at the money.
    ccc_30 = [
        ("put", 10.0, -0.40, 0.50, 1, 1),
        ("put", 11.0, -0.60, 0.45, 1, 1),
        ("call", 10.0, 0.60, np.nan, 1, 1),
        ("call", 11.0, 0.40, 0.42, 1, 1),
        ("call", 12.0, 0.35, 0.41, 1, 1),
    ]
    rows = (
        _rows("CCC", 10.1, 30, ccc_30)
        + _rows("AAA", 100.0, 35, aaa_35)
        + _rows("BBB", 48.75, 30, bbb_30)
        + _rows("AAA", 100.0, 7, aaa_7)
        + _rows("AAA", 100.0, 90, aaa_90)
    )
    return pd.DataFrame(rows)


def test_summarize_chains_obvious_answers() -> None:
    out = summarize_chains(_chain())
    assert list(out.columns) == [
        "symbol",
        "underlying_price",
        "atm_iv",
        "put_call_volume_ratio",
        "put_call_oi_ratio",
        "skew_25d",
        "contracts",
        "expiries",
    ]
    assert out["symbol"].tolist() == ["AAA", "BBB", "CCC"]
    a, b, c = (out.iloc[i] for i in range(3))

    assert a["underlying_price"] == 100.0
    assert a["contracts"] == 12 and a["expiries"] == 3
    assert a["atm_iv"] == pytest.approx((0.24 + 0.22) / 2)  # 35-day K=100 put and call
    assert a["put_call_volume_ratio"] == pytest.approx(300 / 100)
    assert a["put_call_oi_ratio"] == pytest.approx(500 / 1000)
    # Put: -0.25 is 1/3 of the way from -0.30 (0.27) to -0.15 (0.30) -> 0.28.
    # Call: 0.25 is 1/3 of the way from 0.30 (0.20) to 0.15 (0.19) -> 0.19667.
    assert a["skew_25d"] == pytest.approx(0.28 - (0.20 - 0.01 / 3), abs=1e-12)
    assert a["skew_25d"] > 0

    assert b["contracts"] == 9 and b["expiries"] == 1
    assert np.isnan(b["put_call_volume_ratio"])  # no call volume
    assert b["put_call_oi_ratio"] == pytest.approx(20 / 25)
    assert b["atm_iv"] == pytest.approx((0.35 + 0.32 + 0.30 + 0.30) / 4)  # 47.5 and 50.0
    assert b["skew_25d"] == pytest.approx(0.0, abs=1e-12)

    # No bracket: nearest contracts (-0.40 put, 0.35 call); NaN IV at K=10 is skipped.
    assert c["skew_25d"] == pytest.approx(0.50 - 0.41)
    assert c["atm_iv"] == pytest.approx(0.50)


def test_summarize_chains_is_order_independent_and_accepts_dates() -> None:
    chain = _chain()
    shuffled = chain.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled["expiry"] = shuffled["expiry"].dt.date
    pd.testing.assert_frame_equal(summarize_chains(chain), summarize_chains(shuffled))


def test_summarize_chains_with_simulated_smile() -> None:
    # A chain priced off the module's own smile: puts richer, so 25d skew is positive.
    spot, t, r = 100.0, 30 / 365, 0.03
    strikes = np.arange(70.0, 131.0, 2.5)
    k = np.concatenate([strikes, strikes])
    is_call = np.repeat([True, False], strikes.size)
    iv = smile_vol(0.25, np.log(k / spot), t)
    chain = pd.DataFrame(
        {
            "symbol": "SIM",
            "expiry": pd.Timestamp("2024-02-01"),
            "days_to_expiry": 30,
            "strike": k,
            "option_type": np.where(is_call, "call", "put"),
            "underlying_price": spot,
            "implied_vol": iv,
            "delta": black_scholes_delta(spot, k, t, r, iv, is_call),
            "volume": 1,
            "open_interest": 1,
        }
    )
    out = summarize_chains(chain).iloc[0]
    assert out["skew_25d"] > 0.01
    assert out["atm_iv"] == pytest.approx(0.25)
    flat = chain.assign(implied_vol=0.25)
    assert summarize_chains(flat).iloc[0]["skew_25d"] == pytest.approx(0.0, abs=1e-12)


def test_summarize_chains_rejects_missing_columns() -> None:
    with pytest.raises(ValueError, match="missing columns"):
        summarize_chains(_chain().drop(columns=["delta"]))

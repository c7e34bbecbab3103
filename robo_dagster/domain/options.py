"""European option maths: Black-Scholes-Merton prices and greeks, implied volatility,
a parametric equity smile and a per-symbol summary of option chains.

Everything here is pure numpy/pandas/scipy and works on whole arrays at once: the
market simulator prices every contract of every symbol in one call, and the chain
summary runs as grouped frame operations rather than a loop over symbols.

Conventions
-----------
* ``t_years`` is time to expiry in years, ``rate`` the continuously compounded
  risk-free rate, ``dividend_yield`` (``q``) a continuous dividend (or borrow) yield,
  ``vol`` an annualised volatility as a fraction (0.2 = 20 %).
* Vega is per unit of volatility (per 1.00, not per vol point).
* All array arguments broadcast against each other; results have the broadcast shape
  (a 0-d array when every input is a scalar).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

ArrayLike = npt.ArrayLike

IV_LOWER = 1e-4
IV_UPPER = 5.0

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_MIN_SMILE_T = 1.0 / 365.0
SMILE_FLOOR = 0.3

_CHAIN_COLUMNS = (
    "symbol",
    "expiry",
    "days_to_expiry",
    "strike",
    "option_type",
    "underlying_price",
    "implied_vol",
    "delta",
    "volume",
    "open_interest",
)
SUMMARY_COLUMNS = (
    "symbol",
    "underlying_price",
    "atm_iv",
    "put_call_volume_ratio",
    "put_call_oi_ratio",
    "skew_25d",
    "contracts",
    "expiries",
)
_TARGET_DAYS = 30
_TARGET_DELTA = 0.25


def _ndtr(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF. scipy.special is imported on first use: 0.14 s that a run
    launch would otherwise pay when it loads the definitions."""
    from scipy.special import ndtr

    return np.asarray(ndtr(x))


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _as_float(*args: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(a, dtype=float) for a in np.broadcast_arrays(*args)]


def _with_flag(is_call: ArrayLike, *args: ArrayLike) -> tuple[np.ndarray, list[np.ndarray]]:
    """Broadcast the call/put flag together with the numeric arguments."""
    flag, *rest = np.broadcast_arrays(np.asarray(is_call, dtype=bool), *args)
    return flag, [np.asarray(a, dtype=float) for a in rest]


def _valid_inputs(
    spot: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    vol: np.ndarray,
    q: np.ndarray,
) -> np.ndarray:
    finite = (
        np.isfinite(spot)
        & np.isfinite(strike)
        & np.isfinite(t_years)
        & np.isfinite(rate)
        & np.isfinite(vol)
        & np.isfinite(q)
    )
    return finite & (spot > 0) & (strike > 0) & (t_years >= 0) & (vol >= 0)


def _d1_d2(
    spot: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    vol: np.ndarray,
    q: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d1, d2 and sqrt(t), with the zero-variance limits filled in.

    With no variance left (expiry or zero vol) d1 and d2 go to +/-inf by the sign of
    the forward log-moneyness (0 exactly at the forward), which turns the generic
    formulas into discounted intrinsic value / step-function delta without a separate
    code path.
    """
    t_pos = np.maximum(t_years, 0.0)
    sqrt_t = np.sqrt(t_pos)
    std = vol * sqrt_t
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(spot / strike) + (rate - q) * t_pos
        d1 = x / std + 0.5 * std
    d2 = d1 - std
    degenerate = ~(std > 0)
    if np.any(degenerate):
        limit = np.where(x > 0, np.inf, np.where(x < 0, -np.inf, 0.0))
        d1 = np.where(degenerate, limit, d1)
        d2 = np.where(degenerate, limit, d2)
    return d1, d2, sqrt_t


def _price_vega_core(
    spot: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    vol: np.ndarray,
    q: np.ndarray,
    sign: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Price and vega for already-validated inputs; ``sign`` is +1 call / -1 put."""
    d1, d2, sqrt_t = _d1_d2(spot, strike, t_years, rate, vol, q)
    disc_spot = spot * np.exp(-q * t_years)
    disc_strike = strike * np.exp(-rate * t_years)
    # Evaluating N(sign*d) rather than 1 - N(d) keeps the deep-OTM tails accurate.
    price = sign * (disc_spot * _ndtr(sign * d1) - disc_strike * _ndtr(sign * d2))
    vega = disc_spot * _norm_pdf(d1) * sqrt_t
    # Cancellation in the deep-OTM difference can leave -1e-17; a price is never < 0.
    return np.maximum(price, 0.0), vega


def black_scholes_price(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
) -> np.ndarray:
    """Generalised Black-Scholes-Merton price of European calls/puts.

    ``C = S e^{-qT} N(d1) - K e^{-rT} N(d2)``, ``P = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)``.
    At ``t_years == 0`` or ``vol == 0`` the price is the discounted forward intrinsic
    value ``max(±(S e^{-qT} - K e^{-rT}), 0)``. NaN where any input is NaN/inf,
    ``spot <= 0``, ``strike <= 0``, ``t_years < 0`` or ``vol < 0``.
    """
    call, (s, k, t, r, v, q) = _with_flag(is_call, spot, strike, t_years, rate, vol, dividend_yield)
    ok = _valid_inputs(s, k, t, r, v, q)
    sign = np.where(call, 1.0, -1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        price, _ = _price_vega_core(s, k, t, r, v, q, sign)
    return np.where(ok, price, np.nan)


def black_scholes_delta(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
) -> np.ndarray:
    """Spot delta: ``e^{-qT} N(d1)`` for calls, ``-e^{-qT} N(-d1)`` for puts.

    With no variance left it is a step in the forward moneyness (``±e^{-qT}`` in the
    money, 0 out of it, ``±0.5 e^{-qT}`` exactly at the forward). NaN on invalid inputs
    as in :func:`black_scholes_price`.
    """
    call, (s, k, t, r, v, q) = _with_flag(is_call, spot, strike, t_years, rate, vol, dividend_yield)
    ok = _valid_inputs(s, k, t, r, v, q)
    sign = np.where(call, 1.0, -1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        d1, _, _ = _d1_d2(s, k, t, r, v, q)
        delta = sign * np.exp(-q * t) * _ndtr(sign * d1)
    return np.where(ok, delta, np.nan)


def black_scholes_vega(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
) -> np.ndarray:
    """Vega ``S e^{-qT} phi(d1) sqrt(T)`` (same for calls and puts), per 1.00 of vol.

    Zero at expiry; NaN on invalid inputs as in :func:`black_scholes_price`.
    """
    s, k, t, r, v, q = _as_float(spot, strike, t_years, rate, vol, dividend_yield)
    ok = _valid_inputs(s, k, t, r, v, q)
    with np.errstate(invalid="ignore", over="ignore"):
        _, vega = _price_vega_core(s, k, t, r, v, q, np.ones_like(s))
    return np.where(ok, vega, np.nan)


def implied_volatility(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> np.ndarray:
    """Black-Scholes-Merton implied volatility of European option prices.

    No-arbitrage bounds (European, continuous yield ``q``), with
    ``Sd = S e^{-qT}`` and ``Kd = K e^{-rT}``:

    * call: ``max(Sd - Kd, 0) < price < Sd``
    * put:  ``max(Kd - Sd, 0) < price < Kd``

    A price on or outside a bound has no (positive, finite) implied vol and gives NaN,
    as do ``t_years <= 0``, ``spot``/``strike``/``price`` that are not positive, and
    any NaN/inf input. The search is confined to ``[IV_LOWER, IV_UPPER]`` =
    ``[1e-4, 5.0]``; a price inside the bounds whose vol lies outside that range also
    gives NaN rather than a clipped value.

    Method: in-the-money (relative to the forward) prices are first turned into the
    out-of-the-money option of the same strike via put-call parity. Both carry the
    same vol, but the OTM price is pure time value, so the objective is not swamped by
    intrinsic value. Then a safeguarded Newton iteration (``rtsafe``) runs on all
    elements at once: each keeps a bracket that always contains the root; a Newton step
    that would leave the bracket, that does not at least halve the step of two
    iterations ago, or whose vega has underflowed (deep OTM / tiny vega) is replaced by
    bisection. An element stops when its step (or its bracket) is below ``tol`` in vol;
    elements that have not converged after ``max_iter`` iterations are NaN.

    Where vega is vanishingly small (e.g. vol 4.9 over ten years, or a deep-OTM option
    worth ~1e-12) the price pins the vol down only loosely: the answer then reprices the
    input to rounding precision but may differ from the "true" vol in the 3rd decimal.
    """
    call, (p, s, k, t, r, q) = _with_flag(
        is_call, price, spot, strike, t_years, rate, dividend_yield
    )
    shape = s.shape
    p, s, k, t, r, q = (a.ravel() for a in (p, s, k, t, r, q))
    call = call.ravel()
    out = np.full(p.shape, np.nan)

    finite = np.isfinite(p) & np.isfinite(s) & np.isfinite(k) & np.isfinite(t)
    finite &= np.isfinite(r) & np.isfinite(q)
    ok = finite & (p > 0) & (s > 0) & (k > 0) & (t > 0)
    with np.errstate(invalid="ignore", over="ignore"):
        disc_spot = s * np.exp(-q * t)
        disc_strike = k * np.exp(-r * t)
        forward_itm_call = disc_spot > disc_strike
        # Parity C - P = Sd - Kd maps an ITM price onto its OTM twin of the same strike.
        parity = np.where(call, -1.0, 1.0) * (disc_spot - disc_strike)
        itm = forward_itm_call == call
        solve_as_call = call ^ itm
        target = np.where(itm, p + parity, p)
        otm_upper = np.where(solve_as_call, disc_spot, disc_strike)
    # Strict inequalities: on the lower bound vol is 0, on the upper bound it is infinite.
    ok &= (target > 0) & (target < otm_upper)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out.reshape(shape)

    s, k, t, r, q = s[idx], k[idx], t[idx], r[idx], q[idx]
    target = target[idx]
    sign = np.where(solve_as_call[idx], 1.0, -1.0)

    def f_and_vega(sigma: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        px, vg = _price_vega_core(s[sel], k[sel], t[sel], r[sel], sigma, q[sel], sign[sel])
        return px - target[sel], vg

    everything = np.arange(idx.size)
    lo = np.full(idx.size, IV_LOWER)
    hi = np.full(idx.size, IV_UPPER)
    with np.errstate(all="ignore"):
        f_lo, _ = f_and_vega(lo, everything)
        f_hi, _ = f_and_vega(hi, everything)
        bracketed = (f_lo <= 0) & (f_hi >= 0)

        # Manaster-Koehler start (the inflection point of price in vol) for away-from-
        # the-money options, Brenner-Subrahmanyam's ATM approximation near the money.
        x = np.log(s / k) + (r - q) * t
        mk = np.sqrt(2.0 * np.abs(x) / t)
        bs = target / (_INV_SQRT_2PI * s * np.exp(-q * t) * np.sqrt(t))
        sigma = np.clip(np.maximum(mk, bs), IV_LOWER, IV_UPPER)

        dx = hi - lo
        dx_old = dx.copy()
        active = bracketed.copy()
        converged = np.zeros(idx.size, dtype=bool)
        for _ in range(max_iter):
            sel = np.flatnonzero(active)
            if sel.size == 0:
                break
            sg = sigma[sel]
            f, vg = f_and_vega(sg, sel)
            # f is increasing in sigma, so its sign says which side of the root we are on.
            lo[sel] = np.where(f < 0, sg, lo[sel])
            hi[sel] = np.where(f > 0, sg, hi[sel])
            newton = sg - f / vg
            use_newton = (
                (vg > 0)
                & np.isfinite(newton)
                # Closed interval: at the root, rounding can put f a hair above 0, making
                # the current point the bracket edge that Newton (correctly) returns to.
                & (newton >= lo[sel])
                & (newton <= hi[sel])
                & (np.abs(2.0 * f) <= np.abs(dx_old[sel] * vg))
            )
            mid = 0.5 * (lo[sel] + hi[sel])
            new_sigma = np.where(use_newton, newton, mid)
            dx_old[sel] = dx[sel]
            dx[sel] = new_sigma - sg
            sigma[sel] = new_sigma
            done = (f == 0) | (np.abs(dx[sel]) < tol) | ((hi[sel] - lo[sel]) < tol)
            # When f hit 0 exactly the current point is the root, not the next one.
            sigma[sel] = np.where(f == 0, sg, sigma[sel])
            converged[sel[done]] = True
            active[sel[done]] = False

    out[idx[converged]] = sigma[converged]
    return out.reshape(shape)


def smile_vol(
    atm_vol: ArrayLike,
    log_moneyness: ArrayLike,
    t_years: ArrayLike,
    *,
    skew: float = -0.35,
    curvature: float = 0.8,
) -> np.ndarray:
    """A smooth equity-style volatility smile around an at-the-money vol.

    With ``k = ln(K/S)`` and ``z = k / sqrt(max(t, 1/365))`` (moneyness per unit of
    root-time, so short expiries smile more steeply in strike, as listed equity
    options do)::

        vol = atm_vol * max(1 + skew * tanh(z) + curvature * (sqrt(1 + z^2) - 1), 0.3)

    * ``z = 0`` gives exactly ``atm_vol``.
    * Near the money this is ``1 + skew*z + (curvature/2)*z^2``: a negative ``skew``
      makes lower strikes (OTM puts) richer, a positive ``curvature`` lifts both wings.
      With the defaults the minimum sits slightly above the money (z ~ 0.4), after
      which the call wing turns up again.
    * ``tanh`` bounds the skew's contribution and ``sqrt(1+z^2)`` makes the wings
      grow linearly in ``|z|`` rather than quadratically, so far strikes get high but
      not explosive vols. (Very far wings, ``|z|`` of several units, still grow
      faster than Lee's moment bound allows; keep simulated strikes within a few
      standard deviations.)
    * Floored at ``0.3 * atm_vol`` so aggressive parameters cannot produce zero or
      negative vols.

    Pure function of its inputs (deterministic), broadcasting over all arrays.
    """
    atm, k, t = _as_float(atm_vol, log_moneyness, t_years)
    # The 1-day floor keeps expiring contracts (t -> 0) from sending z to infinity.
    z = k / np.sqrt(np.maximum(t, _MIN_SMILE_T))
    mult = 1.0 + skew * np.tanh(z) + curvature * (np.sqrt(1.0 + z * z) - 1.0)
    return atm * np.maximum(mult, SMILE_FLOOR)


def _interp_at_delta(side: pd.DataFrame, target: float) -> pd.Series:
    """Per-symbol IV at ``target`` delta, linear in delta between the bracketing pair.

    ``side`` holds one option type on one expiry per symbol (columns ``symbol``,
    ``delta``, ``implied_vol``). Without a bracket the nearest contract is used, which
    is then simply the closest one on the only side that exists.
    """
    below = side[side["delta"] <= target]
    above = side[side["delta"] >= target]
    b = below.loc[below.groupby("symbol")["delta"].idxmax(), ["symbol", "delta", "implied_vol"]]
    a = above.loc[above.groupby("symbol")["delta"].idxmin(), ["symbol", "delta", "implied_vol"]]
    m = b.merge(a, on="symbol", how="outer", suffixes=("_b", "_a")).set_index("symbol")
    span = m["delta_a"] - m["delta_b"]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (target - m["delta_b"]) / span, 0.0)
    interp = m["implied_vol_b"] + w * (m["implied_vol_a"] - m["implied_vol_b"])
    return interp.fillna(m["implied_vol_b"]).fillna(m["implied_vol_a"])


def summarize_chains(chains: pd.DataFrame) -> pd.DataFrame:
    """One row per symbol summarising a long frame of option contracts.

    Input columns: ``symbol, expiry, days_to_expiry, strike, option_type ('call'|'put'),
    underlying_price, implied_vol (may be NaN), delta (signed: puts negative), volume,
    open_interest``.

    Output columns (sorted by symbol):

    * ``underlying_price``: mean over the symbol's rows (one snapshot, so constant).
    * ``atm_iv``: on the *reference expiry* (the unexpired one whose
      ``days_to_expiry`` is nearest 30; ties go to the shorter), the mean IV of the
      contracts whose strike is nearest the underlying, calls and puts alike (both
      neighbours if the spot sits exactly between two strikes). Contracts with NaN IV
      are ignored when looking for the nearest strike.
    * ``put_call_volume_ratio`` / ``put_call_oi_ratio``: Σput / Σcall of volume / open
      interest over all expiries; NaN when the call total is 0.
    * ``skew_25d``: on the reference expiry, IV of the -25-delta put minus IV of the
      +25-delta call, each interpolated linearly in delta between the two contracts
      bracketing the target delta (nearest contract's IV if there is no bracket). NaN
      when a side has no contract with finite IV and delta.
    * ``contracts``: row count; ``expiries``: number of distinct expiries.
    """
    missing = [c for c in _CHAIN_COLUMNS if c not in chains.columns]
    if missing:
        raise ValueError(f"summarize_chains: missing columns {missing}")
    df = chains.loc[:, list(_CHAIN_COLUMNS)].reset_index(drop=True)
    df["option_type"] = df["option_type"].astype(str).str.strip().str.lower()
    is_put = df["option_type"].eq("put")
    is_call = df["option_type"].eq("call")

    by_symbol = df.groupby("symbol", sort=True)
    out = pd.DataFrame(
        {
            "underlying_price": by_symbol["underlying_price"].mean(),
            "contracts": by_symbol.size(),
            "expiries": by_symbol["expiry"].nunique(),
        }
    )

    flows = df[["volume", "open_interest"]].astype(float)
    put_sums = flows.where(is_put, 0.0).groupby(df["symbol"]).sum()
    call_sums = flows.where(is_call, 0.0).groupby(df["symbol"]).sum()
    ratios = put_sums / call_sums.where(call_sums != 0)
    out["put_call_volume_ratio"] = ratios["volume"]
    out["put_call_oi_ratio"] = ratios["open_interest"]

    # Reference expiry: nearest 30 days among unexpired expiries; sort order breaks ties.
    exp = df.loc[df["days_to_expiry"] > 0, ["symbol", "expiry", "days_to_expiry"]]
    exp = exp.drop_duplicates(["symbol", "expiry"]).assign(
        dist=lambda e: (e["days_to_expiry"] - _TARGET_DAYS).abs()
    )
    ref = exp.sort_values(["symbol", "dist", "days_to_expiry"]).drop_duplicates("symbol")
    near = df.merge(ref[["symbol", "expiry"]], on=["symbol", "expiry"], how="inner")
    near = near[np.isfinite(near["implied_vol"].astype(float))]

    strike_dist = (near["strike"] - near["underlying_price"]).abs()
    best = strike_dist.groupby(near["symbol"]).transform("min")
    # Tolerance so a spot exactly between two strikes keeps both despite rounding.
    at_the_money = strike_dist <= best + 1e-9 * near["underlying_price"].abs()
    out["atm_iv"] = near[at_the_money].groupby("symbol")["implied_vol"].mean()

    has_delta = near[np.isfinite(near["delta"].astype(float))]
    put_iv = _interp_at_delta(has_delta[has_delta["option_type"] == "put"], -_TARGET_DELTA)
    call_iv = _interp_at_delta(has_delta[has_delta["option_type"] == "call"], _TARGET_DELTA)
    out["skew_25d"] = put_iv - call_iv

    out = out.rename_axis("symbol").reset_index()
    for col in ("atm_iv", "skew_25d", "put_call_volume_ratio", "put_call_oi_ratio"):
        out[col] = out[col].astype(float)
    out["contracts"] = out["contracts"].astype("int64")
    out["expiries"] = out["expiries"].astype("int64")
    return out.loc[:, list(SUMMARY_COLUMNS)]

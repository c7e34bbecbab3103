"""The simulator's stochastic volatility, function by function."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.stochastic_vol import (
    MAX_SHOCK,
    VolDynamics,
    bridge_to_total,
    fat_tailed,
    log_vol_path,
    variance_from_log_vol,
)

DYNAMICS = VolDynamics(persistence=0.95, vol_of_vol=0.15, leverage=-0.3, tail_dof=5.0)


def looped(shocks, innovations, h0, z0, d: VolDynamics) -> np.ndarray:
    """The AR(1) written out one day at a time, as the docstring states it."""
    h = np.empty_like(shocks)
    prev_h, prev_z = h0, z0
    for t in range(len(shocks)):
        h[t] = d.persistence * prev_h + d.vol_of_vol * (
            d.leverage * prev_z + math.sqrt(1 - d.leverage**2) * innovations[t]
        )
        prev_h, prev_z = h[t], shocks[t]
    return h


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 0.99),
    st.floats(0.0, 0.5),
    st.floats(-1.0, 1.0),
)
def test_the_vectorized_path_is_the_recursion(
    seed: int, phi: float, sigma: float, rho: float
) -> None:
    rng = np.random.default_rng(seed)
    z, xi = rng.standard_normal((2, 60, 3))
    h0, z0 = rng.standard_normal((2, 3))
    d = VolDynamics(phi, sigma, rho)
    np.testing.assert_allclose(log_vol_path(z, xi, h0, z0, d), looped(z, xi, h0, z0, d))


def test_a_path_in_pieces_is_the_path_whole() -> None:
    """Years are computed one after the other, each from the last day of the one before."""
    rng = np.random.default_rng(5)
    z, xi = rng.standard_normal((2, 500, 4))
    start = np.zeros(4)
    whole = log_vol_path(z, xi, start, start, DYNAMICS)
    first = log_vol_path(z[:252], xi[:252], start, start, DYNAMICS)
    second = log_vol_path(z[252:], xi[252:], first[-1], z[251], DYNAMICS)
    np.testing.assert_allclose(np.vstack([first, second]), whole)


def test_the_daily_variance_averages_one_and_clusters() -> None:
    rng = np.random.default_rng(11)
    z, xi = rng.standard_normal((2, 200_000, 2))
    h0 = math.sqrt(DYNAMICS.log_vol_variance) * rng.standard_normal(2)
    v = variance_from_log_vol(log_vol_path(z, xi, h0, np.zeros(2), DYNAMICS), DYNAMICS)
    assert v.mean() == pytest.approx(1.0, abs=0.03)
    assert np.corrcoef(v[1:, 0], v[:-1, 0])[0, 1] > 0.5
    # Leverage: a negative shock is followed by a higher variance than a positive one.
    after_falls = v[1:, 0][z[:-1, 0] < -1].mean()
    after_rises = v[1:, 0][z[:-1, 0] > 1].mean()
    assert after_falls > after_rises


def test_student_t_shocks_have_unit_variance_and_fat_tails() -> None:
    z = np.random.default_rng(3).standard_normal(1_000_000)
    t = fat_tailed(z, DYNAMICS)
    assert t.var() == pytest.approx(1.0, abs=0.02)
    assert ((t**4).mean() - 3) > 3  # Student-t(5): excess kurtosis 6
    assert np.all(np.sign(t) == np.sign(z))
    order = np.argsort(z)
    assert np.all(np.diff(t[order]) >= 0)  # monotone in the normal it comes from
    extreme = fat_tailed(np.array([-40.0, -9.0, -4.0, 4.0, 9.0, 40.0]), DYNAMICS)
    assert list(extreme[[0, 1, 4, 5]]) == [-MAX_SHOCK, -MAX_SHOCK, MAX_SHOCK, MAX_SHOCK]
    assert -MAX_SHOCK < extreme[2] < -4.0 and 4.0 < extreme[3] < MAX_SHOCK
    normal = VolDynamics(0.9, 0.1, 0.0)
    assert fat_tailed(z, normal) is z


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_the_bridge_lands_on_the_total_and_moves_calm_days_least(seed: int, days: int) -> None:
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal((days, 3))
    variance = rng.uniform(0.1, 5.0, (days, 3))
    total = rng.standard_normal(3) * 10
    bridged = bridge_to_total(steps, variance, total)
    np.testing.assert_allclose(bridged.sum(axis=0), total, atol=1e-9)
    moved = np.abs(bridged - steps)
    ratio = moved / variance
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"persistence": 1.0, "vol_of_vol": 0.1, "leverage": 0.0}, "persistence"),
        ({"persistence": 0.9, "vol_of_vol": -0.1, "leverage": 0.0}, "vol_of_vol"),
        ({"persistence": 0.9, "vol_of_vol": 0.1, "leverage": -1.5}, "leverage"),
        ({"persistence": 0.9, "vol_of_vol": 0.1, "leverage": 0.0, "tail_dof": 2.0}, "tail_dof"),
    ],
)
def test_impossible_dynamics_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VolDynamics(**kwargs)

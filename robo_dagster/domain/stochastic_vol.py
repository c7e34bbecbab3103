"""Stochastic volatility for the simulated market: clustering, fat tails and leverage.

Each stream (the market factor, a sector factor, a symbol's idiosyncratic part) has a
log-volatility that follows an AR(1),

    h[t] = phi * h[t-1] + sigma * (rho * z[t-1] + sqrt(1 - rho**2) * xi[t]),

driven by its own innovations ``xi`` and, through ``rho < 0``, by the previous day's
return shock ``z`` (the leverage effect: a fall raises tomorrow's volatility). The day's
variance ``v[t] = exp(2 h[t] - 2 Var h)`` has mean 1, so a stream keeps its unconditional
volatility; persistent ``h`` clusters the large days, and mixing normals over ``v``
fattens the tails. A stream may also draw Student-t shocks instead of normal ones.

The simulator's levels need the sum of every earlier return without summing from the
epoch for each request, so each year's path is a Brownian bridge in *business time*:
the year's total is drawn with variance ``V = sum(v)`` over the year, and the year's
steps are conditioned on it (``bridge_to_total``). Given ``v``, the conditioned Gaussian
steps have exactly the law of free ones; with Student-t shocks the correction is small.

No Dagster import; every function works on all entities at once (columns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# scipy.signal and scipy.special are imported where they are used: together they cost
# about 0.6 s, which every run launch would otherwise pay when it loads the definitions.


@dataclass(frozen=True)
class VolDynamics:
    """One stream's volatility process. ``tail_dof`` None draws normal shocks."""

    persistence: float  # phi
    vol_of_vol: float  # sigma
    leverage: float  # rho, the correlation of a shock with the next day's volatility news
    tail_dof: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.persistence < 1:
            raise ValueError(f"persistence {self.persistence} must be in [0, 1)")
        if self.vol_of_vol < 0 or not -1 <= self.leverage <= 1:
            raise ValueError("vol_of_vol must be >= 0 and leverage in [-1, 1]")
        if self.tail_dof is not None and self.tail_dof <= 2:
            raise ValueError(f"tail_dof {self.tail_dof} must be above 2 (a finite variance)")

    @property
    def log_vol_variance(self) -> float:
        """The stationary variance of ``h``."""
        return self.vol_of_vol**2 / (1.0 - self.persistence**2)


def log_vol_path(
    shocks: np.ndarray,
    innovations: np.ndarray,
    h_before: np.ndarray,
    shock_before: np.ndarray,
    dynamics: VolDynamics,
) -> np.ndarray:
    """``h`` over (days × entities), continuing from the day before (``h_before`` and
    that day's shock ``shock_before``, both per entity). ``shocks`` and ``innovations``
    are independent standard normals of the same shape."""
    previous = np.vstack([shock_before[None, :], shocks[:-1]])
    rho = dynamics.leverage
    drive = dynamics.vol_of_vol * (rho * previous + math.sqrt(1.0 - rho**2) * innovations)
    phi = dynamics.persistence
    initial = (phi * np.asarray(h_before, dtype=float))[None, :]
    from scipy import signal

    path, _ = signal.lfilter([1.0], [1.0, -phi], drive, axis=0, zi=initial)
    return np.asarray(path)


def variance_from_log_vol(h: np.ndarray, dynamics: VolDynamics) -> np.ndarray:
    """The day's variance multiplier, mean 1 under the stationary law of ``h``."""
    return np.exp(2.0 * h - 2.0 * dynamics.log_vol_variance)


# A Student-t(5) shock passes 15 of its standard deviations once in about 150,000 draws
# and, mapped from a normal beyond 9, would reach thousands: a day's shock stops there.
MAX_SHOCK = 15.0


def fat_tailed(shocks: np.ndarray, dynamics: VolDynamics) -> np.ndarray:
    """The shocks as unit-variance Student-t draws (by quantile, so each stays monotone in
    its normal and the leverage keeps its sign), capped at ``MAX_SHOCK``; unchanged when
    ``tail_dof`` is None."""
    dof = dynamics.tail_dof
    if dof is None:
        return shocks
    # Through the lower tail for both signs: ndtr(z) rounds to 1.0 from z = 8.3 on. The
    # lower tail underflows to 0 from z = 38 on, where stdtrit answers +inf: hence abs.
    from scipy import special

    magnitude = np.abs(special.stdtrit(dof, special.ndtr(-np.abs(shocks))))
    scaled = np.minimum(magnitude * math.sqrt((dof - 2.0) / dof), MAX_SHOCK)
    return np.sign(shocks) * scaled


def bridge_to_total(steps: np.ndarray, variance: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Condition a year's steps (days × entities), of daily variances ``variance``, on
    their sum being ``total``: each day takes its share ``v / sum(v)`` of the gap."""
    gap = total - steps.sum(axis=0)
    return steps + variance / variance.sum(axis=0) * gap

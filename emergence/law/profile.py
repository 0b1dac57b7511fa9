"""Profile-likelihood intervals of one parameter of a fitted emergence law.

The interval holds the values whose profile (the objective minimised over the other parameters) stays
within chi2(1 - alpha, 1) / 2 of the optimum. Each side steps out from the estimate, doubling the step,
until the profile leaves that band, then narrows the bracket to `tol`. A side whose profile never leaves
it (up to the parameter's bound, or 64 steps out) ends there and is reported open: the data do not bound
that side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2

from emergence.law.likelihood import Problem, optimise, refit_scale, starts


@dataclass(frozen=True)
class ProfileInterval:
    """A profile-likelihood interval, whether each end is open, and all parameters at each end."""

    interval: tuple[float, float]
    open: tuple[bool, bool]
    ends: tuple[np.ndarray, np.ndarray] | None  # None for a fixed parameter
    tol: float


def profile_likelihood(
    problem: Problem, params: pd.Series, bse: pd.Series, objective: float, name: str, alpha: float, tol: float
) -> ProfileInterval:
    """The profile-likelihood interval of `name` around a fit (its params, standard errors and objective)."""
    if name not in problem.free:
        v = float(params[name])
        return ProfileInterval((v, v), (False, False), None, tol)
    i = problem.names.index(name)
    est, se = float(params[name]), float(bse[name])
    scale = 0.02 * max(abs(est), 1.0)
    step = float(np.clip(se, scale / 4, 10 * scale)) if np.isfinite(se) and se > 0 else scale
    profile = _Profile(problem, params, bse, objective, alpha, name)
    ends, opened = [], []
    for sign in (-1.0, 1.0):
        inside, outside = _step_out(profile.excess, est, sign, step, problem.lower[i], problem.upper[i])
        opened.append(outside is None)
        ends.append(inside if outside is None else _narrow(profile.excess, inside, outside, tol))
    lo_end, hi_end = float(ends[0]), float(ends[1])
    return ProfileInterval((lo_end, hi_end), tuple(opened), (profile.at(lo_end), profile.at(hi_end)), tol)


class _Profile:
    """The profile of one parameter, refitted on demand and memoised, so every bracket stays valid."""

    def __init__(
        self, problem: Problem, params: pd.Series, bse: pd.Series, objective: float, alpha: float, name: str
    ):
        self.problem, self.name = problem, name
        self.limit = objective + chi2.ppf(1 - alpha, 1) / 2
        others = [n for n in problem.free if n != name]
        est, x_hat = float(params[name]), params[others].to_numpy()
        self.units = refit_scale(problem, x_hat, bse[others].to_numpy())
        self.warm = {est: x_hat}  # the other parameters' optimum at each value tried
        self.seen = {est: self.limit - objective}  # excess at each value tried

    def nearest(self, v: float) -> np.ndarray:
        """The solution found at the value tried nearest to v."""
        return self.warm[min(self.warm, key=lambda u: abs(u - v))]

    def excess(self, v: float) -> float:
        """How far the profile at v stays inside the band (>= 0 inside the interval)."""
        if v in self.seen:
            return self.seen[v]
        # the ridge of this likelihood has several branches: refit from the nearest solution on the path
        # and from the best fresh start, and keep the better
        sub = self.problem.with_fixed(**{self.name: v})
        fresh = min(starts(sub), key=sub.nll)
        runs = [
            optimise(sub, self.nearest(v), tight=False, scale=self.units),
            optimise(sub, fresh, tight=False),
        ]
        r = min(runs, key=lambda q: q.fun if np.isfinite(q.fun) else np.inf)
        self.warm[v] = r.x
        self.seen[v] = float(self.limit - r.fun) if np.isfinite(r.fun) else -np.inf
        return self.seen[v]

    def at(self, v: float) -> np.ndarray:
        """All parameters at v, along the profile (for intervals of predictions along the same ridge)."""
        return self.problem.with_fixed(**{self.name: v}).full(self.nearest(v))


def _step_out(
    excess: Callable[[float], float], est: float, sign: float, step: float, lower: float, upper: float
) -> tuple[float, float | None]:
    """Step from est towards one bound, doubling the step, until the profile leaves the band: the last
    value inside and the first outside (None when it never left, at the bound or 64 steps out)."""
    bound = float(lower if sign < 0 else upper)
    inside, s = est, step
    while inside != bound:
        b = float(np.clip(est + sign * s, lower, upper))
        if excess(b) < 0:
            return inside, b
        inside = b
        if s > 64 * step:
            break
        s *= 2
    return inside, None


def _narrow(excess: Callable[[float], float], inside: float, outside: float, tol: float) -> float:
    """Narrow [inside, outside] to tol keeping excess(inside) >= 0 > excess(outside), then interpolate.

    Each step is a secant step held to the middle of the bracket (so it always shrinks), falling back to
    bisection where the secant is undefined."""
    while abs(outside - inside) > tol:
        t = _secant(excess(inside), excess(outside))
        m = inside + float(np.clip(t, 0.1, 0.9)) * (outside - inside)
        if excess(m) >= 0:
            inside = m
        else:
            outside = m
    t = _secant(excess(inside), excess(outside))
    return inside + float(np.clip(t, 0.0, 1.0)) * (outside - inside)


def _secant(f_inside: float, f_outside: float) -> float:
    """Where the line through the bracket's two excesses crosses zero, as a share of the bracket."""
    if np.isfinite(f_outside) and f_inside - f_outside > 0:
        return f_inside / (f_inside - f_outside)
    return 0.5

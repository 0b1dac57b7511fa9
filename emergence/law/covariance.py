"""Covariance of the fitted parameters (inverse Hessian) and delta-method standard errors.

Both differentiate numerically with statsmodels' central differences: the Hessian as the Jacobian of the
likelihood's analytic gradient (more accurate than second differences of the objective), the delta
method as the Jacobian of the quantity whose error is wanted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from statsmodels.tools.numdiff import approx_fprime

from emergence.law.likelihood import Problem


def _central_jacobian(fn: Callable, x: np.ndarray, step: np.ndarray, n_out: int) -> np.ndarray:
    """d fn / d x by central differences x +- step: shape (n_out, len(x)).

    statsmodels halves the epsilon it is given for centred differences, hence 2 * step; it returns its
    Jacobian squeezed, hence the reshape."""
    jac = approx_fprime(x, fn, epsilon=2 * step, centered=True)
    return np.asarray(jac).reshape(n_out, len(x))


def hessian_covariance(problem: Problem, x: np.ndarray) -> np.ndarray:
    """Inverse Hessian of the objective at the free parameters x; parameters within two steps of a bound
    are held fixed (zero variance), since the likelihood there is not locally quadratic."""
    lo, hi = problem.lower[problem.free_idx], problem.upper[problem.free_idx]
    h = 1e-5 * np.maximum(np.abs(x), 0.05)
    inner = np.flatnonzero((x - lo > 2 * h) & (hi - x > 2 * h))
    cov = np.zeros((len(x), len(x)))
    if len(inner) == 0:
        return cov

    def gradient(z: np.ndarray) -> np.ndarray:
        v = x.copy()
        v[inner] = z
        return problem.nll_grad(v)[1][inner]

    hess = _central_jacobian(gradient, x[inner], h[inner], len(inner))
    cov[np.ix_(inner, inner)] = np.linalg.pinv((hess + hess.T) / 2)
    return cov


def delta_se(problem: Problem, x: np.ndarray, cov: np.ndarray, fn: Callable) -> np.ndarray:
    """Delta-method standard error of fn(all parameters) (a 1-d array), from the free parameters x and
    their covariance."""
    n_out = len(np.atleast_1d(fn(problem.full(x))))
    step = 1e-5 * np.maximum(np.abs(x), 1e-2)
    jac = _central_jacobian(lambda z: fn(problem.full(z)), x, step, n_out).T  # (free, n_out)
    jac = np.ascontiguousarray(jac)
    return np.sqrt(np.clip(np.einsum("in,ij,jn->n", jac, cov, jac), 0, None))

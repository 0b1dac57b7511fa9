"""The peers' chain across a ladder of training runs: compute (N, D) -> an intermediate -> accuracy.

Stage 1 (the intermediate): a run's loss at the end of training, L = E + A N^-a + B D^-a, fitted on one
point per run (its final loss), the irreducible E free. One exponent for both terms: a ladder of two or
three sizes cannot tell two exponents apart (fitted apart on 190M + 370M they ran to a = 0.06 and E < 0).
With no intermediate the chain runs on compute itself: x = -ln(6 N D).
Stage 2 (the link): accuracy = floor + (ceiling - floor) * sigmoid((x0 - x) / s), fitted on every
checkpoint's intermediate and accuracy. The floor is fitted (length-normalised accuracy of weak models sits
below chance on some tasks) and the ceiling is 1 unless given otherwise.

Uncertainty: both stages are refitted on bootstrap resamples of training runs, within each model size (a
run's checkpoints are one unit, never resampled one by one), and a draw's loss law and link go together.
Every fit works on all draws at once: resamples are weights on runs, and both stages are linear in their
outer coefficients, so only the exponent and (x0, s) are searched on grids, then refined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.law.resampling import group_rows, resample_groups

EXPONENTS = np.exp(np.linspace(np.log(0.04), np.log(2.0), 56))
"""Grid of the loss law's exponent (then refined between grid points)."""


def run_weights(groups: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Bootstrap weights on runs, (n + 1, runs): row 0 is the point fit (all ones); each other row counts
    how often each run is drawn, resampling runs within their group (model size) so every size stays."""
    rng = np.random.default_rng(seed)
    sizes = group_rows(np.asarray(groups))
    w = np.zeros((n + 1, len(groups)))
    w[0] = 1.0
    for b in range(1, n + 1):
        for members in sizes:
            np.add.at(w[b], resample_groups(rng, list(members)), 1.0)
    return w


def _weighted_lstsq(features: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Per draw and per candidate, weighted least squares of y on the features.

    features: (K, P, R) candidates x columns x runs; w: (B, R). Returns (coef (B, K, P), sse (B, K))."""
    wf = np.einsum("br,kpr->bkpr", w, features)
    gram = np.einsum("bkpr,kqr->bkpq", wf, features)
    rhs = np.einsum("bkpr,r->bkp", wf, y)
    with np.errstate(all="ignore"):
        coef = np.linalg.solve(gram + 1e-12 * np.eye(features.shape[1]), rhs[..., None])[..., 0]
    sse = (w @ (y * y))[:, None] - np.einsum("bkp,bkp->bk", coef, rhs)
    return coef, sse


def fit_loss_law(params, tokens, loss, w: np.ndarray) -> np.ndarray:
    """L = E + A N^-a + B D^-a per draw: (B, 5) as (E, A, a, B, a). A, B >= 0; E free."""
    params, tokens, loss = (np.asarray(v, float) for v in (params, tokens, loss))
    ln, ld = np.log(params / np.exp(np.log(params).mean())), np.log(tokens / np.exp(np.log(tokens).mean()))

    def solve(exponents: np.ndarray):  # exponents (B, K) or (K,)
        e = np.atleast_2d(exponents)
        xs = np.exp(-e[..., None] * ln), np.exp(-e[..., None] * ld)  # (B|1, K, R)
        if e.shape[0] == 1:
            feats = np.stack([np.ones_like(xs[0][0]), xs[0][0], xs[1][0]], 1)
            coef, sse = _weighted_lstsq(feats, loss, w)
        else:  # a candidate set of its own per draw: solve draw by draw
            out = [_weighted_lstsq(np.stack([np.ones_like(a), a, d], 1), loss, w[[b]]) for b, (a, d) in
                   enumerate(zip(xs[0], xs[1], strict=True))]  # fmt: skip
            coef, sse = np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
        bad = (coef[..., 1] < 0) | (coef[..., 2] < 0) | ~np.isfinite(sse)
        return coef, np.where(bad, np.inf, sse)

    coef, sse = solve(EXPONENTS)
    best = np.argmin(sse, 1)
    step = np.log(EXPONENTS[1] / EXPONENTS[0])
    finer = np.exp(np.log(EXPONENTS[best])[:, None] + np.linspace(-1, 1, 9)[None, :] * step)
    coef2, sse2 = solve(finer)
    best2 = np.argmin(sse2, 1)
    rows = np.arange(len(w))
    exponent = finer[rows, best2]
    c = coef2[rows, best2]
    if not np.isfinite(sse2[rows, best2]).all():
        raise EmergenceError("the loss law cannot be fitted on these runs (every exponent leaves A or B < 0)")
    a_scale = np.exp(np.log(params).mean()) ** exponent
    b_scale = np.exp(np.log(tokens).mean()) ** exponent
    return np.column_stack([c[:, 0], c[:, 1] * a_scale, exponent, c[:, 2] * b_scale, exponent])


def loss_at(theta: np.ndarray, params, tokens) -> np.ndarray:
    """The loss law per draw at (params, tokens): (B, T)."""
    t = np.atleast_2d(theta)
    n, d = np.atleast_1d(np.asarray(params, float)), np.atleast_1d(np.asarray(tokens, float))
    return t[:, [0]] + t[:, [1]] * n[None, :] ** -t[:, [2]] + t[:, [3]] * d[None, :] ** -t[:, [4]]


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def link_at(theta: np.ndarray, x) -> np.ndarray:
    """The link per draw: floor + (ceiling - floor) sigmoid((x0 - x) / s); theta (B, 4) = (floor, ceiling,
    x0, s), x (B, T) or (T,)."""
    t = np.atleast_2d(theta)
    scale = np.maximum(t[:, [3]], 1e-12)  # a step, where a fit's scale collapses to zero
    return t[:, [0]] + (t[:, [1]] - t[:, [0]]) * _sigmoid((t[:, [2]] - np.atleast_2d(x)) / scale)


def fit_link(x, y, run: np.ndarray, w: np.ndarray, *, floor: float | None = None, ceiling: float | None = 1.0,
             iterations: int = 12) -> np.ndarray:  # fmt: skip
    """The sigmoid link per draw, rows weighted by their run's bootstrap weight: (B, 4) (floor, ceiling, x0, s).

    floor / ceiling: fixed values, or None to fit them (a fitted ceiling is capped at 1). An (x0, s) grid
    with the floor and ceiling solved by least squares at each point, then damped Gauss-Newton steps."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rw = w[:, run]  # (B, rows)
    span = float(np.ptp(x)) or 1.0
    x0s = np.linspace(x.min() - 2.5 * span, x.max() + 0.5 * span, 24)
    ss = np.exp(np.linspace(np.log(0.03 * span), np.log(3.0 * span), 16))
    x0g, sg = np.repeat(x0s, len(ss)), np.tile(ss, len(x0s))
    f = _sigmoid((x0g[:, None] - x[None, :]) / sg[:, None])  # (G, rows)
    # sums over each run's rows first (a draw weighs whole runs), then over runs per draw
    onehot = np.zeros((len(x), w.shape[1]))
    onehot[np.arange(len(x)), run] = 1.0
    n1, sy, syy = (w @ onehot.sum(0))[:, None], (w @ (y @ onehot))[:, None], (w @ ((y * y) @ onehot))[:, None]
    sf, sff, sfy = w @ (f @ onehot).T, w @ ((f * f) @ onehot).T, w @ ((f * y) @ onehot).T
    with np.errstate(all="ignore"):  # grid points whose sigmoid is flat over the data give no solution
        theta = _grid_start(floor, ceiling, x0g, sg, n1, sf, sff, sy, sfy, syy)
    free = [i for i, fixed in enumerate((floor, ceiling)) if fixed is None] + [2, 3]
    return _gauss_newton(theta, x, y, rw, free, cap_ceiling=ceiling is None, iterations=iterations)


def _grid_start(floor, ceiling, x0g, sg, n1, sf, sff, sy, sfy, syy) -> np.ndarray:
    """The best (x0, s) grid point per draw, with the floor and ceiling solved by least squares there."""
    if floor is not None and ceiling is not None:
        c, u = np.full_like(sf, floor), np.full_like(sf, ceiling)
    elif floor is not None:
        c = np.full_like(sf, floor)
        u = np.minimum(floor + (sfy - floor * sf) / sff, 1.0)
    elif ceiling is not None:
        c = ((sy - sfy) - ceiling * (sf - sff)) / (n1 - 2 * sf + sff)
        u = np.full_like(sf, ceiling)
    else:
        a11, a12, a22, b1, b2 = n1 - 2 * sf + sff, sf - sff, sff, sy - sfy, sfy
        det = a11 * a22 - a12**2
        c, u = (b1 * a22 - a12 * b2) / det, np.minimum((a11 * b2 - a12 * b1) / det, 1.0)
    d = u - c
    sse = syy + c * c * n1 + d * d * sff - 2 * c * sy - 2 * d * sfy + 2 * c * d * sf
    sse = np.where(np.isfinite(sse) & (d > 0), sse, np.inf)
    k = np.argmin(sse, 1)
    rows = np.arange(len(sse))
    return np.column_stack([c[rows, k], u[rows, k], x0g[k], np.log(sg[k])])


def _gauss_newton(theta, x, y, rw, free, *, cap_ceiling: bool, iterations: int) -> np.ndarray:
    """Damped Gauss-Newton (Levenberg-Marquardt) steps for every draw at once; theta[:, 3] is ln s."""

    def model(t):
        z = (t[:, [2]] - x[None, :]) / np.maximum(np.exp(t[:, [3]]), 1e-12)
        return t[:, [0]] + (t[:, [1]] - t[:, [0]]) * _sigmoid(z), z

    current, z = model(theta)
    sse = (rw * (y - current) ** 2).sum(1)
    damping = np.full(len(theta), 1e-3)
    eye = np.eye(len(free))
    for _ in range(iterations):
        p = _sigmoid(z)
        amp, dp = theta[:, [1]] - theta[:, [0]], p * (1 - p)
        jac = [1 - p, p, amp * dp / np.exp(theta[:, [3]]), -amp * dp * z]
        jac = [jac[i] for i in free]
        resid = y[None, :] - current
        jtj = np.stack([np.stack([(rw * a * b).sum(1) for b in jac], -1) for a in jac], -2)
        jtr = np.stack([(rw * a * resid).sum(1) for a in jac], -1)
        lhs = jtj + damping[:, None, None] * (eye * np.diagonal(jtj, 0, 1, 2)[:, None, :] + 1e-12 * eye)
        try:
            step = np.linalg.solve(lhs, jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        trial = theta.copy()
        trial[:, free] += step
        if cap_ceiling:
            trial[:, 1] = np.minimum(trial[:, 1], 1.0)
        value, trial_z = model(trial)
        trial_sse = (rw * (y - value) ** 2).sum(1)
        better = np.isfinite(trial_sse) & (trial_sse < sse) & (trial[:, 1] > trial[:, 0])
        theta = np.where(better[:, None], trial, theta)
        current, z = np.where(better[:, None], value, current), np.where(better[:, None], trial_z, z)
        sse, damping = np.where(better, trial_sse, sse), np.where(better, damping / 3, damping * 4)
    return np.column_stack([theta[:, :3], np.exp(theta[:, 3])])


@dataclass(frozen=True)
class ChainResult:
    """A fitted chain: draws of both stages (row 0 the point fit) and what the fit left unexplained."""

    intermediate: str
    loss_theta: np.ndarray | None  # (B, 5); None when the chain runs on compute itself
    link_theta: np.ndarray  # (B, 4)
    residual_sd: float  # run-level: each run's final accuracy against the whole chain, in sample
    x_range: tuple[float, float]  # the intermediate's span over the fitted checkpoints
    info: dict = field(default_factory=dict)

    def intermediate_at(self, params, tokens) -> np.ndarray:
        """Draws of the intermediate at (params, tokens): (B, T)."""
        if self.loss_theta is None:
            return -np.log(
                6.0 * np.atleast_1d(np.asarray(params, float)) * np.atleast_1d(np.asarray(tokens, float))
            )[None, :]
        return loss_at(self.loss_theta, params, tokens)

    def accuracy_draws(self, params, tokens) -> np.ndarray:
        """Draws of the accuracy at (params, tokens), each through its own draw of both stages: (B, T)."""
        return np.clip(link_at(self.link_theta, self.intermediate_at(params, tokens)), 0.0, 1.0)

    def accuracy_at(self, x) -> np.ndarray:
        """The point fit's accuracy at intermediate values x."""
        return np.clip(link_at(self.link_theta[0], np.atleast_1d(x))[0], 0.0, 1.0)

    def accuracy_at_draws(self, x: float) -> np.ndarray:
        """Each draw's accuracy at one intermediate value: (B,)."""
        return np.clip(link_at(self.link_theta, np.full((len(self.link_theta), 1), float(x)))[:, 0], 0.0, 1.0)

    @property
    def elbow(self) -> float:
        """Where the point fit's accuracy leaves its floor: the midpoint + 2 scales (the links' convention)."""
        return float(self.link_theta[0, 2] + 2.0 * self.link_theta[0, 3])


class Chain:
    """Estimator of the chain. ``fit(runs, checkpoints)`` returns a ChainResult.

    Args:
        intermediate: "loss" (a run's loss law, then the link on each checkpoint's loss) or "compute".
        floor: the link's floor, or None to fit it; ceiling: likewise (1 by default).
        n_boot: bootstrap resamples of runs (within sizes); seed: their seed.
    """

    def __init__(self, intermediate: str = "loss", *, floor: float | None = None, ceiling: float | None = 1.0,
                 n_boot: int = 200, seed: int = 0):  # fmt: skip
        if intermediate not in ("loss", "compute"):
            raise EmergenceError(f"the chain's intermediate is 'loss' or 'compute', got {intermediate!r}")
        self.intermediate, self.floor, self.ceiling = intermediate, floor, ceiling
        self.n_boot, self.seed = n_boot, seed

    def fit(self, runs: pd.DataFrame, checkpoints: pd.DataFrame) -> ChainResult:
        """runs: one row per training run (run, size, params, tokens, loss: its final loss, accuracy: its
        final accuracy); checkpoints: one row per checkpoint (run, loss, accuracy, params, tokens)."""
        runs = runs.reset_index(drop=True)
        index = {r: i for i, r in enumerate(runs["run"])}
        run = checkpoints["run"].map(index).to_numpy()
        w = run_weights(runs["size"].to_numpy(), self.n_boot, self.seed)
        if self.intermediate == "loss":
            loss_theta = fit_loss_law(runs["params"], runs["tokens"], runs["loss"], w)
            x = checkpoints["loss"].to_numpy(float)
            x_final = loss_at(loss_theta[0], runs["params"], runs["tokens"])[0]
        else:
            loss_theta = None
            x = -np.log(6.0 * checkpoints["params"].to_numpy(float) * checkpoints["tokens"].to_numpy(float))
            x_final = -np.log(6.0 * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float))
        link_theta = fit_link(x, checkpoints["accuracy"].to_numpy(float), run, w, floor=self.floor,
                              ceiling=self.ceiling)  # fmt: skip
        residual = runs["accuracy"].to_numpy(float) - np.clip(link_at(link_theta[0], x_final)[0], 0, 1)
        return ChainResult(
            self.intermediate, loss_theta, link_theta, float(np.sqrt(np.mean(residual**2))),
            (float(x.min()), float(x.max())), {"n_runs": len(runs), "n_checkpoints": len(checkpoints)},
        )  # fmt: skip

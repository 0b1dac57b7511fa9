"""Loss scaling laws that turn a pretraining loss into compute and back.

- ComputeLossLaw:      L = E + A * C^-alpha                 (C in FLOPs)
- ParamsTokensLossLaw: L = E + A / N^a + B / T^b           (N parameters, T tokens; C = 6 N T)

Fitted by least squares with variable projection: for fixed exponents the law is linear in (E, A[, B]),
solved by non-negative least squares, so only the exponents are searched. Intervals by bootstrap over
points (or over groups such as training runs), run at fit time.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
from scipy.optimize import minimize, nnls

from emergence.errors import EmergenceError
from emergence.law.resampling import group_rows, resample_groups


def _column(table: pd.DataFrame, name: str, positive: bool = True) -> np.ndarray:
    if name not in table.columns:
        raise EmergenceError(f"table lacks column {name!r} needed by the loss law")
    x = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
    if not np.isfinite(x).all() or (positive and (x <= 0).any()):
        raise EmergenceError(f"column {name!r} must hold finite positive numbers for the loss law")
    return x


def _reference_scales(xs) -> list[float]:
    """The geometric mean of each input (FLOPs, or params and tokens): the unit the fit works in."""
    return [float(np.exp(np.log(x).mean())) for x in xs]


class _LossLawBase:
    """Shared fitting and bootstrap machinery; subclasses define the design matrix."""

    names: tuple[str, ...] = ()

    def __init__(self, n_boot: int = 200, seed: int = 0):
        self.n_boot, self.seed = n_boot, seed

    def fit(self, table: pd.DataFrame, group: str | None = None) -> LossLawResult:
        """Fit to a table (one row per checkpoint; rows sharing a checkpoint id are collapsed); group names a
        column whose values are resampled together by the bootstrap (e.g. a training run)."""
        t = table
        if "checkpoint" in t.columns and group is None:
            t = t.drop_duplicates("checkpoint")
        xs, y = self._inputs(t), _column(t, "pretraining_loss")
        if len(y) < 4:
            raise EmergenceError(
                f"a loss law needs at least 4 checkpoints with distinct compute; got {len(y)}"
            )
        theta = self._solve(xs, y, _reference_scales(xs))
        groups = t[group].to_numpy() if group else np.arange(len(y))
        res = LossLawResult(self, theta, xs, y, groups)
        return res.bootstrap(self.n_boot, self.seed) if self.n_boot else res

    def resample(self, theta, xs, y, groups, n: int, seed: int) -> pd.DataFrame | None:
        """Refits on n resamples of the groups (draws of the parameters), or None if all failed."""
        rng = np.random.default_rng(seed)
        members, refs = group_rows(groups), _reference_scales(xs)
        draws = []
        for _ in range(n):
            rows = np.concatenate(resample_groups(rng, members))
            try:
                draws.append(self._solve([x[rows] for x in xs], y[rows], refs, start=theta))
            except EmergenceError:
                continue
        return pd.DataFrame(draws, columns=list(self.names)) if draws else None

    def _solve(self, xs, y, refs, start=None) -> np.ndarray:
        """Least squares in the exponents from the best of a grid (and start), (E, A[, B]) by NNLS; each
        input is divided by its reference scale so the linear solve stays well conditioned."""
        grid = self._exp_grid()
        best = min(grid, key=lambda e: self._sse(e, xs, y, refs)[0])
        if start is not None:
            s0 = np.asarray(start, float)[self._exp_index]
            if self._sse(s0, xs, y, refs)[0] < self._sse(best, xs, y, refs)[0]:
                best = s0
        r = minimize(
            lambda e: self._sse(e, xs, y, refs)[0],
            np.asarray(best, float),
            method="SLSQP",
            bounds=[(0.01, 3.0)] * len(best),
        )
        return self._assemble(r.x, self._sse(r.x, xs, y, refs)[1], refs)

    def _sse(self, exps, xs, y, refs):
        cols = [np.ones_like(y)] + [(x / ref) ** -e for x, ref, e in zip(xs, refs, exps, strict=True)]
        X = np.column_stack(cols)
        coef, rnorm = nnls(X, y)
        return rnorm**2, coef


class ComputeLossLaw(_LossLawBase):
    """L = E + A * C^-alpha against FLOPs; `fit(table)` uses columns flops and pretraining_loss."""

    names = ("E", "A", "alpha")
    _exp_index = [2]

    def _inputs(self, t):
        flops = _column(t, "flops")
        if len(np.unique(flops)) < 3:
            raise EmergenceError("the compute loss law needs checkpoints at 3 or more distinct FLOPs")
        return [flops]

    def _exp_grid(self):
        return [np.array([a]) for a in (0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2)]

    def _assemble(self, exps, coef, refs):
        c_ref = refs[0]
        return np.array([coef[0], coef[1] * c_ref ** exps[0], exps[0]])

    @staticmethod
    def loss(theta, flops):
        e, a, al = theta
        return e + a * np.asarray(flops, float) ** -al

    @staticmethod
    def flops_for(theta, loss):
        e, a, al = theta
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (a / (np.asarray(loss, float) - e)) ** (1 / al)
        return np.where(np.asarray(loss) > e, out, np.inf)


class ParamsTokensLossLaw(_LossLawBase):
    """L = E + A / N^a + B / T^b; `fit(table)` uses columns params, tokens and pretraining_loss."""

    names = ("E", "A", "a", "B", "b")
    _exp_index = [2, 4]

    def _inputs(self, t):
        n, tok = _column(t, "params"), _column(t, "tokens")
        if len(np.unique(n)) < 2 or len(np.unique(tok)) < 2:
            raise EmergenceError("the params-tokens loss law needs at least 2 model sizes and 2 token counts")
        if len(n) < 6:
            raise EmergenceError(
                f"the params-tokens loss law has 5 parameters and needs at least 6 runs; got {len(n)}"
            )
        return [n, tok]

    def _exp_grid(self):
        g = (0.1, 0.25, 0.4, 0.6, 1.0)
        return [np.array([a, b]) for a in g for b in g]

    def _assemble(self, exps, coef, refs):
        (n_ref, t_ref), (a, b) = refs, exps
        return np.array([coef[0], coef[1] * n_ref**a, a, coef[2] * t_ref**b, b])

    @staticmethod
    def loss(theta, params, tokens):
        e, A, a, B, b = theta
        return e + A * np.asarray(params, float) ** -a + B * np.asarray(tokens, float) ** -b

    @staticmethod
    def optimal(theta, flops):
        """Compute-optimal (params, tokens, loss) at a FLOPs budget, with C = 6 N T."""
        e, A, a, B, b = theta
        half = np.asarray(flops, float) / 6.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            n = (a * A / (b * B)) ** (1 / (a + b)) * half ** (b / (a + b))
        t = half / n
        return n, t, e + A * n**-a + B * t**-b

    @staticmethod
    def flops_for(theta, loss, params=None):
        e, A, a, B, b = theta
        loss = np.asarray(loss, float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if params is not None:
                rest = loss - e - A * np.asarray(params, float) ** -a
                tok = (B / rest) ** (1 / b)
                return np.where(rest > 0, 6 * np.asarray(params, float) * tok, np.inf)
            g = (a * A / (b * B)) ** (1 / (a + b))
            k = A * g**-a + B * g**b
            gamma = a * b / (a + b)
            return np.where(loss > e, 6 * (k / (loss - e)) ** (1 / gamma), np.inf)


class LossLawResult:
    """A fitted loss law: params_, predict, inverse, intervals (bootstrap), widening, export."""

    def __init__(self, law: _LossLawBase, theta: np.ndarray, xs, y, groups):
        self.law, self.theta, self._data = law, theta, (xs, y, groups)
        self.params_ = pd.Series(theta, index=list(law.names), name="estimate")
        self.draws_: pd.DataFrame | None = None
        self.widening_factor = 1.0
        self.fitted = self._loss(theta, xs)
        self.residuals = y - self.fitted
        self.rmse = float(np.sqrt(np.mean(self.residuals**2)))
        self.n_obs = len(y)

    def _derived(self, **changes) -> LossLawResult:
        new = copy.copy(self)  # shares the fit's arrays, which are never written
        new.__dict__.update(changes)
        return new

    def bootstrap(self, n: int = 1000, seed: int = 0) -> LossLawResult:
        """A new result whose intervals come from n refits on resamples of the points (or of the groups
        given at fit); the draws are in its draws_."""
        return self._derived(draws_=self.law.resample(self.theta, *self._data, n=n, seed=seed))

    @property
    def form(self) -> str:
        """'compute' or 'params_tokens'."""
        return "compute" if isinstance(self.law, ComputeLossLaw) else "params_tokens"

    def _loss(self, theta, xs):
        return self.law.loss(theta, *xs)

    def _thetas(self) -> np.ndarray:
        return self.draws_.to_numpy() if self.draws_ is not None else self.theta[None, :]

    def conf_int(self, alpha: float = 0.1) -> pd.DataFrame:
        """Bootstrap percentile intervals of the parameters."""
        if self.draws_ is None:
            raise EmergenceError("no bootstrap draws: fit with n_boot > 0")
        return pd.DataFrame(
            {"lower": self.draws_.quantile(alpha / 2), "upper": self.draws_.quantile(1 - alpha / 2)}
        )

    def predict(self, *x, alpha: float = 0.1) -> pd.DataFrame:
        """Loss with an interval at FLOPs (compute form) or at (params, tokens); intervals widened by widen()."""
        mean = np.atleast_1d(self.law.loss(self.theta, *x))
        out = pd.DataFrame({"mean": mean})
        if self.draws_ is not None:
            sims = np.array([np.atleast_1d(self.law.loss(th, *x)) for th in self._thetas()])
            lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
            w = self.widening_factor
            out["lower"], out["upper"] = mean - w * (mean - lo), mean + w * (hi - mean)
        return out

    def predict_draws(self, flops) -> np.ndarray:
        """Loss at FLOPs budgets per bootstrap draw (compute-optimal for the params-tokens form): (draws, n)."""
        f = np.atleast_1d(np.asarray(flops, float))
        if self.form == "compute":
            return np.array([self.law.loss(th, f) for th in self._thetas()])
        return np.array([self.law.optimal(th, f)[2] for th in self._thetas()])

    def inverse(self, loss, params=None):
        """FLOPs needed to reach a loss (compute-optimal, or at a given model size for the params-tokens form)."""
        kw = {"params": params} if self.form == "params_tokens" else {}
        if params is not None and self.form == "compute":
            raise EmergenceError("params= needs the params-tokens loss law")
        out = self.law.flops_for(self.theta, loss, **kw)
        return float(out) if np.ndim(out) == 0 else out

    def tokens_for(self, loss, params):
        """Training tokens a model of `params` parameters needs to reach a loss (params-tokens form)."""
        if self.form != "params_tokens":
            raise EmergenceError("tokens_for needs the params-tokens loss law")
        out = self.law.flops_for(self.theta, loss, params=params) / (6 * np.asarray(params, float))
        return float(out) if np.ndim(out) == 0 else out

    def inverse_interval(self, loss_draws, alpha: float = 0.1) -> tuple[float, float]:
        """FLOPs interval from draws of a loss, paired with this law's own draws (both uncertainties)."""
        thetas = self._thetas()
        loss_draws = np.asarray(loss_draws, float)
        f = np.array([self.law.flops_for(thetas[i % len(thetas)], v) for i, v in enumerate(loss_draws)])
        lo, hi = np.quantile(f, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")  # f may hold inf
        return float(lo), float(hi)

    def warning(self, tolerance: float = 0.1, margin: float = 0.02) -> str | None:
        """Why FLOPs read through this law are not to be trusted, or None: it levels off more than `margin`
        above a loss the ladder already reached (no compute gives that loss; a smaller excess is the noise of
        the last points), or it misses its own points by more than the tolerance a forecast is judged by (0.1
        nats, as the backtest)."""
        best, floor = float(np.min(self._data[1])), float(self.params_["E"])
        if floor > best + margin:
            return (f"FLOPs not to be trusted: the loss law levels off at {floor:.3f} nats, above the {best:.3f} "
                    f"the ladder reached (RMSE {self.rmse:.3f} nats); read the forecast in loss")  # fmt: skip
        if self.rmse > tolerance:
            return (f"FLOPs not to be trusted: the loss law misses the ladder's losses by {self.rmse:.3f} nats "
                    f"(RMSE, over {tolerance:g}); read the forecast in loss")  # fmt: skip
        return None

    def widen(self, factor: float) -> LossLawResult:
        """A new result whose prediction intervals are scaled by a factor measured by a backtest (>= 1)."""
        return self._derived(widening_factor=max(float(factor), 1.0))

    def to_dict(self) -> dict:
        """JSON-serialisable description."""
        d = {
            "form": self.form,
            "params": {k: float(v) for k, v in self.params_.items()},
            "rmse": self.rmse,
            "n_obs": self.n_obs,
            "widening_factor": self.widening_factor,
        }
        if warning := self.warning():
            d["warning"] = warning
        if self.draws_ is not None:
            ci = self.conf_int()
            d["conf_int"] = {k: [float(ci.loc[k, "lower"]), float(ci.loc[k, "upper"])] for k in ci.index}
            d["n_boot"] = len(self.draws_)
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in d.items()}

    def summary(self) -> str:
        """Plain-text report."""
        form = "L = E + A*C^-alpha" if self.form == "compute" else "L = E + A/N^a + B/T^b"
        lines = [f"Loss law {form}: n={self.n_obs} rmse={self.rmse:.4f}"]
        ci = self.conf_int() if self.draws_ is not None else None
        for k, v in self.params_.items():
            tail = f"  [{ci.loc[k, 'lower']:.4g}, {ci.loc[k, 'upper']:.4g}]" if ci is not None else ""
            lines.append(f"  {k:<6}{v:.5g}{tail}")
        return "\n".join(lines)

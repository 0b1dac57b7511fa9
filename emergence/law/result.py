"""The fitted emergence law: parameters, intervals, emergence point, probabilities, summary, export."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from emergence.errors import EmergenceError, NoElbowFound


@dataclass(frozen=True)
class EmergencePoint:
    """Where accuracy leaves chance at a data amount (None = few-shot, D0): in loss, and in FLOPs if known."""

    data_amount: float | None
    loss: float
    loss_lower: float
    loss_upper: float
    alpha: float
    method: str
    widening_factor: float = 1.0
    flops: float | None = None
    flops_lower: float | None = None
    flops_upper: float | None = None
    lower_open: bool = False  # the data do not bound this side: the end is the search's limit, not a bound
    upper_open: bool = False

    def to_dict(self) -> dict:
        """Plain JSON-serialisable values (non-finite numbers become None)."""
        return {k: _plain(v) for k, v in asdict(self).items()}


class EmergenceLawResult:
    """A fitted emergence law (statsmodels-style results object)."""

    def __init__(self, law, table: pd.DataFrame, problem, opt, n_agree: int):
        self.law, self.table, self.problem = law, table, problem
        self.x_ = np.asarray(opt.x, float)
        self.params_ = pd.Series(problem.full(self.x_), index=problem.names, name="estimate")
        self.objective_ = float(opt.fun)  # negative log-likelihood plus the prior's penalty
        self.loglik = float(-(opt.fun - problem.penalty(self.x_)))
        self.n_obs = len(problem.y)
        self.df_model = len(problem.free)
        self.aic = 2 * self.df_model - 2 * self.loglik
        self.bic = self.df_model * math.log(self.n_obs) - 2 * self.loglik
        self.n_starts_agree = n_agree
        self.converged = bool(opt.success) or n_agree >= 2
        self.cov_ = self._covariance()
        self.bse_ = pd.Series(np.sqrt(np.clip(np.diag(self.cov_), 0, None)), index=problem.free).reindex(
            problem.names
        )
        self.draws_: pd.DataFrame | None = None
        self.n_boot_failed_ = 0
        self.widening_: dict | None = None
        self.loss_law = None
        self._profiles: dict = {}  # (name, alpha) -> {"tol", "interval", "open", "ends"}

    # -- fitted values -------------------------------------------------------------------------------
    @property
    def fitted(self) -> pd.Series:
        """Fitted mean accuracy per table row."""
        return pd.Series(self.problem.mean(self.params_.to_numpy()), index=self.table.index, name="fitted")

    @property
    def residuals(self) -> pd.Series:
        """Observed minus fitted accuracy per table row."""
        return (self.table["accuracy"] - self.fitted).rename("residual")

    @property
    def resid_pearson(self) -> pd.Series:
        """Residuals divided by the fitted standard deviation (binomial + extra variance)."""
        m = self.fitted
        sd = np.sqrt(m * (1 - m) / self.table["n_examples"] + self.params_["extra_sd"] ** 2)
        return (self.residuals / sd).rename("pearson")

    def elbow(self, data_amount) -> np.ndarray | float:
        """Fitted elbow E(D) in nats (data_amount 0 or None = few-shot, D0)."""
        return self._elbow_of(self.params_.to_numpy(), data_amount)

    def _elbow_of(self, p: np.ndarray, data_amount):
        d = 0.0 if data_amount is None else data_amount
        e = self.problem.at(np.zeros_like(np.asarray(d, float)), d).elbow(p)
        return float(e[0]) if np.ndim(d) == 0 else e

    # -- intervals -----------------------------------------------------------------------------------
    def conf_int(self, alpha: float = 0.1, method: str = "auto") -> pd.DataFrame:
        """Intervals for the parameters: "wald", "profile", "bootstrap", or "auto" (bootstrap if run; else
        profile likelihood for elbow_d0, whose likelihood is far from quadratic, and Wald for the rest)."""
        if method == "auto" and self.draws_ is None:
            out = self.conf_int(alpha, "wald")
            out.loc["elbow_d0"] = self.profile_interval("elbow_d0", alpha)
            return out
        method = _pick(method, self.draws_)
        if method == "bootstrap":
            lo, hi = self.draws_.quantile(alpha / 2), self.draws_.quantile(1 - alpha / 2)
        elif method == "wald":
            z = norm.ppf(1 - alpha / 2)
            lo, hi = self.params_ - z * self.bse_, self.params_ + z * self.bse_
        elif method == "profile":
            rows = {nm: self.profile_interval(nm, alpha) for nm in self.problem.free}
            lo = pd.Series({k: v[0] for k, v in rows.items()})
            hi = pd.Series({k: v[1] for k, v in rows.items()})
        else:
            raise EmergenceError(f"method must be auto, wald, profile or bootstrap, got {method!r}")
        out = pd.DataFrame({"lower": lo, "upper": hi}).reindex(self.problem.names)
        fixed = list(self.problem.fixed)
        out.loc[fixed, "lower"] = out.loc[fixed, "upper"] = self.params_[fixed]
        return out

    def profile_interval(
        self, name: str = "elbow_d0", alpha: float = 0.1, tol: float = 2e-3
    ) -> tuple[float, float]:
        """Profile-likelihood interval of one free parameter.

        Each side steps out from the estimate, doubling the step, until the profile drops below the
        chi-square limit, then narrows the bracket to `tol`. A side whose profile never drops that far
        (up to the parameter's bound, or 64 steps out) ends there and is reported open: see
        `profile_open(name, alpha)`. Cached per (name, alpha): a later call with a looser tol reuses it."""
        key = (name, float(alpha))
        hit = self._profiles.get(key)
        if hit is not None and hit["tol"] <= tol:
            return hit["interval"]
        if name not in self.problem.free:
            v = float(self.params_[name])
            self._profiles[key] = {"tol": tol, "interval": (v, v), "open": (False, False), "ends": None}
            return (v, v)
        self._profiles[key] = self._profile(name, float(alpha), tol)
        return self._profiles[key]["interval"]

    def profile_open(self, name: str = "elbow_d0", alpha: float = 0.1) -> tuple[bool, bool]:
        """Whether each end of the profile interval is open (the profile never left the interval before
        the parameter's bound or the search limit, so the data do not bound that side)."""
        self.profile_interval(name, alpha)
        return self._profiles[(name, float(alpha))]["open"]

    def _profile(self, name: str, alpha: float, tol: float) -> dict:
        from emergence.law.likelihood import optimise, refit_scale, starts

        prob, i = self.problem, self.problem.names.index(name)
        limit = self.objective_ + chi2.ppf(1 - alpha, 1) / 2
        est, se = float(self.params_[name]), float(self.bse_[name])
        scale = 0.02 * max(abs(est), 1.0)
        step = float(np.clip(se, scale / 4, 10 * scale)) if np.isfinite(se) and se > 0 else scale
        others = [n for n in prob.free if n != name]
        x_hat = self.params_[others].to_numpy()
        units = refit_scale(prob, x_hat, self.bse_[others].to_numpy())
        warm = {est: x_hat}
        seen: dict[float, float] = {est: limit - self.objective_}

        def excess(v: float) -> float:  # >= 0 inside the interval; memoised, so every bracket stays valid
            if v in seen:
                return seen[v]
            # the ridge of this likelihood has several branches: refit from the nearest solution on the
            # path and from the best fresh start, and keep the better
            sub = prob.with_fixed(**{name: v})
            fresh = min(starts(sub), key=sub.nll)
            runs = [
                optimise(sub, warm[min(warm, key=lambda u: abs(u - v))], tight=False, scale=units),
                optimise(sub, fresh, tight=False),
            ]
            r = min(runs, key=lambda q: q.fun if np.isfinite(q.fun) else np.inf)
            warm[v] = r.x
            seen[v] = float(limit - r.fun) if np.isfinite(r.fun) else -np.inf
            return seen[v]

        ends, opened = [], []
        for sign in (-1.0, 1.0):
            bound = float(prob.lower[i] if sign < 0 else prob.upper[i])
            inside, outside, s = est, None, step
            while inside != bound:
                b = float(np.clip(est + sign * s, prob.lower[i], prob.upper[i]))
                if excess(b) < 0:
                    outside = b
                    break
                inside = b
                if s > 64 * step:
                    break
                s *= 2
            if outside is None:  # the data do not close this side: report it open at its last point
                ends.append(inside)
                opened.append(True)
                continue
            # narrow [inside, outside] keeping excess(inside) >= 0 > excess(outside): a secant step held
            # to the middle of the bracket (so it always shrinks), falling back to bisection
            while abs(outside - inside) > tol:
                fi, fo = excess(inside), excess(outside)
                t = fi / (fi - fo) if np.isfinite(fo) and fi - fo > 0 else 0.5
                m = inside + float(np.clip(t, 0.1, 0.9)) * (outside - inside)
                if excess(m) >= 0:
                    inside = m
                else:
                    outside = m
            fi, fo = excess(inside), excess(outside)
            t = fi / (fi - fo) if np.isfinite(fo) and fi - fo > 0 else 0.5
            ends.append(inside + float(np.clip(t, 0.0, 1.0)) * (outside - inside))
            opened.append(False)
        lo_end, hi_end = float(ends[0]), float(ends[1])
        # the whole parameter vector at each end, for intervals of predictions along the same ridge
        at_ends = [
            prob.with_fixed(**{name: v}).full(warm[min(warm, key=lambda u, v=v: abs(u - v))])
            for v in (lo_end, hi_end)
        ]
        return {"tol": tol, "interval": (lo_end, hi_end), "open": tuple(opened), "ends": at_ends}

    def emergence_point(
        self, data_amount: float | None = None, alpha: float = 0.1, loss_law=None, method: str = "auto"
    ) -> EmergencePoint:
        """The elbow at a data amount (None: few-shot, D0) in loss, with an interval; in FLOPs too if a loss
        law is given or attached. method: "auto" (bootstrap if run, else profile), "profile", "wald", "bootstrap"."""
        loss = self.elbow(data_amount)
        method = _pick(method, self.draws_, default="profile")
        draws, opened = None, (False, False)
        if method == "bootstrap":
            draws = self._elbow_draws(data_amount)
            lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        elif method == "profile" and not data_amount:
            lo, hi = self.profile_interval("elbow_d0", alpha)
            opened = self.profile_open("elbow_d0", alpha)
        elif method in ("wald", "profile"):
            method = "wald"
            se = self._delta_se(lambda p: np.atleast_1d(self._elbow_of(p, data_amount)))[0]
            lo, hi = loss - norm.ppf(1 - alpha / 2) * se, loss + norm.ppf(1 - alpha / 2) * se
        else:
            raise EmergenceError(f"method must be auto, wald, profile or bootstrap, got {method!r}")
        factor = self.widening_["factor"] if self.widening_ else 1.0
        lo, hi = loss - factor * (loss - lo), loss + factor * (hi - loss)
        point = EmergencePoint(
            data_amount,
            loss,
            float(lo),
            float(hi),
            alpha,
            method,
            factor,
            lower_open=opened[0],
            upper_open=opened[1],
        )
        law = loss_law if loss_law is not None else self.loss_law
        if law is None:
            return point
        flops = float(law.inverse(loss))
        if draws is not None and law.draws_ is not None:
            e = loss + factor * (draws - loss)
            lo_f, hi_f = law.inverse_interval(e, alpha)
        else:
            lo_f, hi_f = float(law.inverse(hi)), float(law.inverse(lo))
        return EmergencePoint(
            data_amount, loss, float(lo), float(hi), alpha, method, factor, flops, lo_f, hi_f, *opened
        )

    def attach_loss_law(self, loss_law) -> EmergenceLawResult:
        """Attach a fitted loss law (ComputeLossLawResult) so emergence points and probabilities speak FLOPs."""
        self.loss_law = loss_law
        return self

    def prob_emerged(self, flops=None, loss=None) -> np.ndarray | float:
        """Probability that a model at this FLOPs budget (needs a loss law) or pretraining loss has emerged
        few-shot, i.e. that its loss lies below the few-shot elbow."""
        if (flops is None) == (loss is None):
            raise EmergenceError("give exactly one of flops= or loss=")
        scalar = np.ndim(flops if loss is None else loss) == 0
        factor = self.widening_["factor"] if self.widening_ else 1.0
        e_hat = float(self.params_["elbow_d0"])
        if loss is None:
            if self.loss_law is None:
                raise EmergenceError(
                    "prob_emerged(flops=...) needs a loss law: call attach_loss_law(ComputeLossLaw().fit(...))"
                )
            loss = self.loss_law.predict_draws(flops)  # (draws or 1, n)
        loss = np.atleast_2d(np.asarray(loss, float))
        if self.draws_ is not None:
            e = e_hat + factor * (self.draws_["elbow_d0"].to_numpy() - e_hat)
            if loss.shape[0] > 1:  # pair elbow draws with loss-law draws
                idx = np.arange(len(e)) % loss.shape[0]
                prob = (e[:, None] > loss[idx]).mean(0)
            else:
                prob = (e[:, None] > loss[0]).mean(0)
        else:  # two half-normals matched to the profile interval: P(E > L) = Phi((E_hat - L) / s_side)
            lo, hi = self.profile_interval("elbow_d0", 0.1)
            z = norm.ppf(0.95)
            s_lo, s_hi = factor * max(e_hat - lo, 1e-6) / z, factor * max(hi - e_hat, 1e-6) / z
            prob = norm.cdf((e_hat - loss) / np.where(loss > e_hat, s_hi, s_lo)).mean(0)  # over loss draws
        return float(prob[0]) if scalar else prob

    def predict(self, loss, data_amount=0, alpha: float = 0.1) -> pd.DataFrame:
        """Expected accuracy with an interval of the mean at each (pretraining_loss, data_amount): bootstrap
        percentiles if run, else the delta method widened to cover the law at both ends of the elbow's
        profile interval (the likelihood's ridge)."""
        at = self.problem.at(loss, data_amount)
        mean = at.mean(self.params_.to_numpy())
        if self.draws_ is not None:
            sims = np.array([at.mean(p) for p in self.draws_.to_numpy()])
            lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
        else:  # delta method, widened to the predictions at the ends of the elbow's profile interval
            se = self._delta_se(at.mean)
            z = norm.ppf(1 - alpha / 2)
            lo, hi = np.clip(mean - z * se, 0, 1), np.clip(mean + z * se, 0, 1)
            if "elbow_d0" in self.problem.free:
                self.profile_interval("elbow_d0", alpha)
                ends = [at.mean(p) for p in self._profiles[("elbow_d0", float(alpha))]["ends"]]
                lo, hi = np.minimum.reduce([lo, *ends]), np.maximum.reduce([hi, *ends])
        return pd.DataFrame(
            {"pretraining_loss": at.loss, "data_amount": at.amount, "mean": mean, "lower": lo, "upper": hi}
        )

    def _delta_se(self, fn) -> np.ndarray:
        """Delta-method standard error of fn(full params) from the Hessian covariance."""
        p0 = self.params_.to_numpy()
        free = [self.problem.names.index(n) for n in self.problem.free]
        jac = []
        for j in free:
            h = 1e-5 * max(abs(p0[j]), 1e-2)
            up, dn = p0.copy(), p0.copy()
            up[j] += h
            dn[j] -= h
            jac.append((fn(up) - fn(dn)) / (2 * h))
        jac = np.array(jac)  # (k, n)
        return np.sqrt(np.clip(np.einsum("in,ij,jn->n", jac, self.cov_, jac), 0, None))

    def _covariance(self) -> np.ndarray:
        """Inverse Hessian of the objective (central differences of its analytic gradient); parameters at a
        bound are held fixed (zero variance)."""
        prob, x = self.problem, self.x_
        lo, hi = prob.lower[prob.free_idx], prob.upper[prob.free_idx]
        h = 1e-5 * np.maximum(np.abs(x), 0.05)
        inner = np.flatnonzero((x - lo > 2 * h) & (hi - x > 2 * h))
        rows = []
        for i in inner:
            up, dn = x.copy(), x.copy()
            up[i] += h[i]
            dn[i] -= h[i]
            rows.append((prob.nll_grad(up)[1] - prob.nll_grad(dn)[1])[inner] / (2 * h[i]))
        cov = np.zeros((len(x), len(x)))
        if len(inner):
            H = np.array(rows)
            cov[np.ix_(inner, inner)] = np.linalg.pinv((H + H.T) / 2)
        return cov

    def _elbow_draws(self, data_amount) -> np.ndarray:
        return np.array([self._elbow_of(p, data_amount) for p in self.draws_.to_numpy()], dtype=float)

    # -- uncertainty by resampling, sensitivity, backtest widening -------------------------------------
    def bootstrap(self, n: int = 1000, n_jobs: int = 2, seed: int | None = None) -> EmergenceLawResult:
        """Refit on n resamples of checkpoints (and of seeds within them); store the draws in draws_."""
        from emergence.law.bootstrap import bootstrap_law

        self.draws_, self.n_boot_failed_ = bootstrap_law(self, n=n, n_jobs=n_jobs, seed=seed)
        return self

    def widen(self, backtest, alpha: float = 0.1) -> EmergenceLawResult:
        """Widen intervals by the extrapolation error a backtest measured on the same ladder (conformal-style)."""
        self.widening_ = backtest.widening(alpha)
        return self

    def d0_sensitivity(self, d0_values=(1.0, 2.0, 4.0, 8.0, 16.0), alpha: float = 0.1) -> pd.DataFrame:
        """How the few-shot elbow (and its FLOPs) moves with the choice of the low-data limit D0 (refits)."""
        from emergence.law.emergence_law import EmergenceLaw

        rows = []
        for d0 in d0_values:
            row = {"d0": float(d0)}
            try:
                r = EmergenceLaw(**{**self.law.get_params(), "d0": d0}).fit(self.table)
                pt = r.emergence_point(alpha=alpha, loss_law=self.loss_law, method="profile")
                row |= {
                    "elbow": pt.loss,
                    "lower": pt.loss_lower,
                    "upper": pt.loss_upper,
                    "flops": pt.flops,
                    "loglik": r.loglik,
                    "note": "",
                }
            except (NoElbowFound, EmergenceError) as err:
                row |= {
                    "elbow": np.nan,
                    "lower": np.nan,
                    "upper": np.nan,
                    "flops": np.nan,
                    "loglik": np.nan,
                    "note": str(err),
                }
            rows.append(row)
        return pd.DataFrame(rows)

    # -- reporting -----------------------------------------------------------------------------------
    def summary(self, alpha: float = 0.1) -> str:
        """A plain-text report of the fit."""
        ci = self.conf_int(alpha)
        prior = f" shift_prior(median, sd ln)={self.problem.prior}" if self.problem.prior else ""
        lines = [
            f"Emergence law: link={self.problem.link} shift={self.problem.shift} d0={self.problem.d0:g}{prior}",
            f"obs={self.n_obs} checkpoints={self.table['checkpoint'].nunique()} loglik={self.loglik:.2f} "
            f"AIC={self.aic:.2f} BIC={self.bic:.2f} converged={self.converged}",
            f"{'param':<12}{'estimate':>11}{'se':>10}{'lower':>11}{'upper':>11}",
        ]
        for nm in self.problem.names:
            tag = " (fixed)" if nm in self.problem.fixed else ""
            lines.append(
                f"{nm:<12}{self.params_[nm]:>11.4f}{self.bse_[nm]:>10.4f}{ci.loc[nm, 'lower']:>11.4f}{ci.loc[nm, 'upper']:>11.4f}{tag}"
            )
        pt = self.emergence_point(alpha=alpha)
        lines.append(
            f"few-shot elbow: {pt.loss:.4f} nats, {100 * (1 - alpha):.0f}% interval [{pt.loss_lower:.4f}, {pt.loss_upper:.4f}] ({pt.method}"
            + (f", widened x{pt.widening_factor:.2f} by backtest" if self.widening_ else "")
            + ")"
        )
        if pt.flops is not None:
            lines.append(f"  in FLOPs: {pt.flops:.3g} [{pt.flops_lower:.3g}, {pt.flops_upper:.3g}]")
        if self.draws_ is not None:
            lines.append(f"bootstrap: {len(self.draws_)} resamples ({self.n_boot_failed_} failed)")
        return "\n".join(lines)

    def to_dict(self, alpha: float = 0.1) -> dict:
        """JSON-serialisable description of the fit (plain floats; non-finite values become None)."""
        ci = self.conf_int(alpha)
        return {
            "link": self.problem.link,
            "shift": self.problem.shift,
            "d0": float(self.problem.d0),
            "fixed": {k: float(v) for k, v in self.problem.fixed.items()},
            "shift_prior": None if self.problem.prior is None else [float(v) for v in self.problem.prior],
            "params": {k: _plain(v) for k, v in self.params_.items()},
            "bse": {k: _plain(v) for k, v in self.bse_.items()},
            "conf_int": {k: [_plain(ci.loc[k, "lower"]), _plain(ci.loc[k, "upper"])] for k in ci.index},
            "alpha": float(alpha),
            "loglik": _plain(self.loglik),
            "aic": _plain(self.aic),
            "bic": _plain(self.bic),
            "n_obs": int(self.n_obs),
            "n_checkpoints": int(self.table["checkpoint"].nunique()),
            "converged": bool(self.converged),
            "emergence_point": self.emergence_point(alpha=alpha).to_dict(),
            "bootstrap": None
            if self.draws_ is None
            else {"n": int(len(self.draws_)), "failed": int(self.n_boot_failed_)},
            "widening": None if self.widening_ is None else {k: _plain(v) for k, v in self.widening_.items()},
        }


def _pick(method: str, draws, default: str = "wald") -> str:
    if method == "auto":
        return "bootstrap" if draws is not None else default
    if method == "bootstrap" and draws is None:
        raise EmergenceError("no bootstrap draws yet: call result.bootstrap(n=...) first")
    return method


def _plain(v):
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None

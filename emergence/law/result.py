"""The fitted emergence law: parameters, intervals, emergence point, probabilities, summary, export.

A result is a value: bootstrap(), widen() and with_loss_law() return a new result and leave this one as
it was, so an answer never depends on the order of earlier calls. Profile intervals are memoised per
(parameter, level) in a cache that the derived results share (they are a function of the fit alone).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.tools.eval_measures import aic, bic

from emergence.errors import EmergenceError
from emergence.law.bootstrap import bootstrap_law
from emergence.law.covariance import delta_se, hessian_covariance
from emergence.law.point import EmergencePoint, plain
from emergence.law.profile import ProfileInterval, profile_likelihood


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
        self.aic = float(aic(self.loglik, self.n_obs, self.df_model))
        self.bic = float(bic(self.loglik, self.n_obs, self.df_model))
        self.n_starts_agree = n_agree
        self.converged = bool(opt.success) or n_agree >= 2
        self.cov_ = hessian_covariance(problem, self.x_)
        self.bse_ = pd.Series(np.sqrt(np.clip(np.diag(self.cov_), 0, None)), index=problem.free).reindex(
            problem.names
        )
        self.draws_: pd.DataFrame | None = None
        self.n_boot_failed_ = 0
        self.widening_: dict | None = None
        self.loss_law = None
        self._profiles: dict[tuple[str, float], ProfileInterval] = {}

    # -- derived results -----------------------------------------------------------------------------
    def _derived(self, **changes) -> EmergenceLawResult:
        new = copy.copy(self)  # shares the fit's arrays (never written) and its profile cache
        new.__dict__.update(changes)
        return new

    def bootstrap(self, n: int = 1000, n_jobs: int = 2, seed: int | None = None) -> EmergenceLawResult:
        """A new result whose intervals come from n refits on resamples of checkpoints (and of seeds within
        them); the draws are in its draws_."""
        draws, failed = bootstrap_law(self, n=n, n_jobs=n_jobs, seed=seed)
        return self._derived(draws_=draws, n_boot_failed_=failed)

    def widen(self, backtest, alpha: float = 0.1) -> EmergenceLawResult:
        """A new result whose intervals are widened by the extrapolation error a backtest measured on the
        same ladder (conformal-style)."""
        return self._derived(widening_=backtest.widening(alpha))

    def with_loss_law(self, loss_law) -> EmergenceLawResult:
        """A new result that speaks FLOPs too: emergence points and probabilities through this fitted loss
        law (a LossLawResult of the compute form)."""
        return self._derived(loss_law=loss_law)

    @property
    def widening_factor(self) -> float:
        """The factor intervals are widened by (1 without a backtest)."""
        return self.widening_["factor"] if self.widening_ else 1.0

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

    def profile(self, name: str = "elbow_d0", alpha: float = 0.1, tol: float = 2e-3) -> ProfileInterval:
        """The profile-likelihood interval of one parameter with its open ends and the parameters at each
        end (see emergence.law.profile). Memoised per (name, alpha): a looser tol reuses a tighter one."""
        key = (name, float(alpha))
        hit = self._profiles.get(key)
        if hit is None or hit.tol > tol:
            hit = profile_likelihood(
                self.problem, self.params_, self.bse_, self.objective_, name, float(alpha), tol
            )
            self._profiles[key] = hit
        return hit

    def profile_interval(
        self, name: str = "elbow_d0", alpha: float = 0.1, tol: float = 2e-3
    ) -> tuple[float, float]:
        """Profile-likelihood interval (lower, upper) of one parameter; an end the data do not bound is
        the search's limit (see profile_open)."""
        return self.profile(name, alpha, tol).interval

    def profile_open(self, name: str = "elbow_d0", alpha: float = 0.1) -> tuple[bool, bool]:
        """Whether each end of the profile interval is open (the profile never left the interval before
        the parameter's bound or the search limit, so the data do not bound that side)."""
        return self.profile(name, alpha).open

    def _delta_se(self, fn) -> np.ndarray:
        return delta_se(self.problem, self.x_, self.cov_, fn)

    def emergence_point(
        self, data_amount: float | None = None, alpha: float = 0.1, loss_law=None, method: str = "auto"
    ) -> EmergencePoint:
        """The elbow at a data amount (None: few-shot, D0) in loss, with an interval; in FLOPs too with a
        loss law (given, or this result's). method: "auto" (bootstrap if run, else profile), "profile",
        "wald", "bootstrap"."""
        loss = self.elbow(data_amount)
        method = _pick(method, self.draws_, default="profile")
        draws, opened = None, (False, False)
        if method == "bootstrap":
            draws = np.array([self._elbow_of(p, data_amount) for p in self.draws_.to_numpy()], dtype=float)
            lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        elif method == "profile" and not data_amount:
            prof = self.profile("elbow_d0", alpha)
            (lo, hi), opened = prof.interval, prof.open
        elif method in ("wald", "profile"):
            method = "wald"
            se = self._delta_se(lambda p: np.atleast_1d(self._elbow_of(p, data_amount)))[0]
            lo, hi = loss - norm.ppf(1 - alpha / 2) * se, loss + norm.ppf(1 - alpha / 2) * se
        else:
            raise EmergenceError(f"method must be auto, wald, profile or bootstrap, got {method!r}")
        factor = self.widening_factor
        # a loss is never negative, however far a backtest widened the interval
        lo, hi = max(float(loss - factor * (loss - lo)), 0.0), float(loss + factor * (hi - loss))
        law = loss_law if loss_law is not None else self.loss_law
        flops = _flops_interval(law, loss, lo, hi, draws, factor, alpha) if law is not None else (None,) * 3
        return EmergencePoint(data_amount, loss, lo, hi, alpha, method, factor, *flops, *opened)

    def prob_emerged(self, flops=None, loss=None) -> np.ndarray | float:
        """Probability that a model at this FLOPs budget (needs a loss law) or pretraining loss has emerged
        few-shot, i.e. that its loss lies below the few-shot elbow."""
        if (flops is None) == (loss is None):
            raise EmergenceError("give exactly one of flops= or loss=")
        scalar = np.ndim(flops if loss is None else loss) == 0
        factor = self.widening_factor
        e_hat = float(self.params_["elbow_d0"])
        if loss is None:
            if self.loss_law is None:
                raise EmergenceError(
                    "prob_emerged(flops=...) needs a loss law: use result.with_loss_law(ComputeLossLaw().fit(...))"
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
        else:
            se = self._delta_se(at.mean)
            z = norm.ppf(1 - alpha / 2)
            lo, hi = np.clip(mean - z * se, 0, 1), np.clip(mean + z * se, 0, 1)
            if "elbow_d0" in self.problem.free:
                ends = [at.mean(p) for p in self.profile("elbow_d0", alpha).ends]
                lo, hi = np.minimum.reduce([lo, *ends]), np.maximum.reduce([hi, *ends])
        return pd.DataFrame(
            {"pretraining_loss": at.loss, "data_amount": at.amount, "mean": mean, "lower": lo, "upper": hi}
        )

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
            "params": {k: plain(v) for k, v in self.params_.items()},
            "bse": {k: plain(v) for k, v in self.bse_.items()},
            "conf_int": {k: [plain(ci.loc[k, "lower"]), plain(ci.loc[k, "upper"])] for k in ci.index},
            "alpha": float(alpha),
            "loglik": plain(self.loglik),
            "aic": plain(self.aic),
            "bic": plain(self.bic),
            "n_obs": int(self.n_obs),
            "n_checkpoints": int(self.table["checkpoint"].nunique()),
            "converged": bool(self.converged),
            "emergence_point": self.emergence_point(alpha=alpha).to_dict(),
            "bootstrap": None
            if self.draws_ is None
            else {"n": int(len(self.draws_)), "failed": int(self.n_boot_failed_)},
            "widening": None if self.widening_ is None else {k: plain(v) for k, v in self.widening_.items()},
        }


def _flops_interval(law, loss: float, lo: float, hi: float, draws, factor: float, alpha: float) -> tuple:
    """(FLOPs, lower, upper) of an emergence point through a loss law: the law's own draws paired with the
    elbow's draws when both exist, else the loss interval's ends mapped through the law."""
    flops = float(law.inverse(loss))
    if draws is not None and law.draws_ is not None:
        lo_f, hi_f = law.inverse_interval(loss + factor * (draws - loss), alpha)
    else:
        lo_f, hi_f = float(law.inverse(hi)), float(law.inverse(lo))
    return flops, lo_f, hi_f


def _pick(method: str, draws, default: str = "wald") -> str:
    if method == "auto":
        return "bootstrap" if draws is not None else default
    if method == "bootstrap" and draws is None:
        raise EmergenceError("no bootstrap draws yet: call result.bootstrap(n=...) first")
    return method

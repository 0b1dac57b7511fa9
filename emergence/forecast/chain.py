"""Forecasts of accuracy at a larger model through the peers' chain (emergence.law.chain), chosen and
calibrated by backtests on the ladder itself.

A ladder's training runs are split as a forecaster meets them: fit the smaller sizes and predict every
run of the larger ones (leave-rung-out), and fit each size's runs of fewer tokens per parameter and predict
its longer runs and the larger sizes (far extrapolation in compute). On those splits:
- the candidate chains (through the corpus loss, with a fitted ceiling, through the task's own loss, on
  compute alone) are scored by their point errors, and the best one is the forecast;
- the chosen chain's interval (bootstrap over runs, the run-level residual, and the spread of the other
  candidates' forecasts) is scaled by the conformal quantile of its errors over those splits, so that it
  would have covered them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from emergence.errors import EmergenceError
from emergence.law.chain import Chain, ChainResult

CANDIDATES = {
    "corpus loss": {"intermediate": "loss", "x": "pretraining_loss", "ceiling": 1.0},
    "corpus loss, fitted ceiling": {"intermediate": "loss", "x": "pretraining_loss", "ceiling": None},
    "task loss": {"intermediate": "loss", "x": "task_loss", "ceiling": 1.0},
    "compute": {"intermediate": "compute", "x": None, "ceiling": 1.0},
}
"""The chains tried, in order of preference when their backtest errors tie."""
FINAL_SHARE = 0.05
"""A run's final point: its checkpoints in the last 5% of its tokens (at least its last), averaged."""


@dataclass(frozen=True)
class Ladder:
    """A ladder as the chain sees it: one row per training run and one per checkpoint."""

    runs: pd.DataFrame  # run, size, params, tokens, pretraining_loss, task_loss?, accuracy (final values)
    checkpoints: pd.DataFrame  # run, params, tokens, pretraining_loss, task_loss?, accuracy

    @property
    def sizes(self) -> list[float]:
        return sorted(self.runs["size"].unique())

    def only(self, runs: pd.Series) -> Ladder:
        keep = self.runs["run"].isin(runs)
        return Ladder(self.runs[keep], self.checkpoints[self.checkpoints["run"].isin(runs)])

    def has(self, column: str | None) -> bool:
        return column is None or (column in self.checkpoints and self.checkpoints[column].notna().all())


def run_of(table: pd.DataFrame) -> pd.Series:
    """Each row's training run: as stored, else the checkpoint id before an '@' (run@step), else the family
    and size (one run per model size)."""
    given = table["run"] if "run" in table else pd.Series(None, index=table.index, dtype=object)
    from_id = table["checkpoint"].astype(str).str.rpartition("@")[0]
    by_size = (
        table.get("family", pd.Series("", index=table.index)).fillna("").astype(str)
        + ":"
        + table["params"].astype(str)
    )
    return given.where(given.notna(), from_id.where(from_id != "", by_size))


def ladder_from(table: pd.DataFrame, task_loss: pd.DataFrame | None = None) -> Ladder:
    """The ladder of one benchmark's few-shot rows; ``task_loss``: the same task's loss rows (metric bpb)."""
    t = table[(table["data_amount"] == 0) & table["params"].notna() & table["tokens"].notna()].copy()
    if t.empty:
        raise EmergenceError("the chain needs checkpoints with params and tokens; give them at ingest")
    t["run"] = run_of(t)
    if task_loss is not None and not task_loss.empty:
        t["task_loss"] = t["checkpoint"].map(task_loss.groupby("checkpoint")["accuracy"].first())
    columns = ["run", "params", "tokens", "pretraining_loss", "accuracy"] + (
        ["task_loss"] if "task_loss" in t else []
    )
    checkpoints = (
        t.groupby("checkpoint")[columns]
        .agg({c: "first" if c in ("run", "params") else "mean" for c in columns})
        .reset_index()
    )
    if checkpoints.groupby("run")["params"].nunique().max() > 1:
        raise EmergenceError(
            "a training run holds checkpoints of several model sizes; give each run its own id"
        )
    late = checkpoints["tokens"] >= (1 - FINAL_SHARE) * checkpoints.groupby("run")["tokens"].transform("max")
    numeric = [c for c in columns if c not in ("run", "params", "tokens")]
    runs = (
        checkpoints[late].groupby("run").agg(params=("params", "first"), **{c: (c, "mean") for c in numeric})
    )
    runs["tokens"] = checkpoints.groupby("run")["tokens"].max()
    runs = runs.reset_index()
    runs["size"] = runs["params"]
    return Ladder(runs, checkpoints)


def splits(ladder: Ladder) -> list[tuple[str, pd.Series, pd.Series]]:
    """The backtests a ladder allows: (label, runs fitted, runs predicted). Leave-rung-out: the j smallest
    sizes predict every larger run; far in compute: their runs of at most a quarter of the largest tokens
    per parameter predict the rest."""
    runs, sizes, out = ladder.runs, ladder.sizes, []
    per_param = runs["tokens"] / runs["params"]
    short = per_param <= per_param.max() / 4 * (1 + 1e-9)
    for j in range(2, len(sizes) + 1):
        small = runs["size"].isin(sizes[:j])
        if j < len(sizes):
            out.append((f"sizes 1-{j} -> larger", runs.loc[small, "run"], runs.loc[~small, "run"]))
        fit = small & short
        if fit.sum() >= 4 and runs.loc[fit, "size"].nunique() >= 2 and (~fit).any():
            out.append(
                (f"short runs of sizes 1-{j} -> the rest", runs.loc[fit, "run"], runs.loc[~fit, "run"])
            )
    return out


def fit_chain(name: str, ladder: Ladder, n_boot: int, seed: int = 0) -> ChainResult:
    """Fit the named candidate chain on a ladder."""
    spec = CANDIDATES[name]
    x = spec["x"]
    runs, checkpoints = ladder.runs, ladder.checkpoints
    if x is not None:
        runs, checkpoints = runs.assign(loss=runs[x]), checkpoints.assign(loss=checkpoints[x])
    chain = Chain(spec["intermediate"], ceiling=spec["ceiling"], n_boot=n_boot, seed=seed)
    return chain.fit(runs, checkpoints)


def half_widths(result: ChainResult, params, tokens, spread: np.ndarray, alpha: float):
    """(point, lower half-width, upper half-width) of the raw interval at each (params, tokens): bootstrap
    quantiles joined with the run-level residual and the candidates' spread."""
    draws = result.accuracy_draws(params, tokens)
    point = draws[0]
    z = norm.ppf(1 - alpha / 2)
    extra = z**2 * (result.residual_sd**2 + np.asarray(spread) ** 2)
    if len(draws) > 2:
        lo, hi = np.quantile(draws[1:], [alpha / 2, 1 - alpha / 2], axis=0)
        low, high = np.maximum(point - lo, 0.0), np.maximum(hi - point, 0.0)
    else:
        low = high = np.zeros_like(point)
    return point, np.sqrt(low**2 + extra), np.sqrt(high**2 + extra)


@dataclass(frozen=True)
class ChainForecast:
    """The chosen chain, the candidates' backtest errors, and the calibrated interval scale. ``peers``: the
    candidates the backtest could not tell from the chosen one (their spread is the model-form uncertainty);
    ``corpus``: the chain through the corpus loss, which answers questions about losses."""

    name: str
    result: ChainResult
    peers: dict[str, ChainResult]
    corpus: ChainResult
    candidates: list[dict]
    scale: float
    backtest: dict = field(default_factory=dict)
    alpha: float = 0.1

    def spread(self, params, tokens) -> np.ndarray:
        """The standard deviation of the candidates' point forecasts (the model-form uncertainty)."""
        points = [r.accuracy_draws(params, tokens)[0] for r in (self.result, *self.peers.values())]
        return np.std(points, axis=0) if len(points) > 1 else np.zeros(len(np.atleast_1d(params)))

    def accuracy(self, params, tokens) -> pd.DataFrame:
        """Accuracy at each (params, tokens) with its calibrated interval."""
        point, low, high = half_widths(self.result, params, tokens, self.spread(params, tokens), self.alpha)
        return pd.DataFrame({"mean": point, "lower": np.clip(point - self.scale * low, 0, 1),
                             "upper": np.clip(point + self.scale * high, 0, 1)})  # fmt: skip

    @property
    def loss_chain(self) -> ChainResult:
        """The chain through the corpus loss (the chosen one, or fitted beside it): it speaks of losses."""
        return self.corpus

    def allocation(self, flops) -> tuple[np.ndarray, np.ndarray]:
        """Compute-optimal (params, tokens) at FLOPs budgets (C = 6 N D) under the corpus-loss law."""
        e, a, alpha, b, _ = self.loss_chain.loss_theta[0]
        half = np.atleast_1d(np.asarray(flops, float)) / 6.0
        params = (a / b) ** (1 / (2 * alpha)) * np.sqrt(half)
        return params, half / params

    def loss_draws(self, params, tokens) -> np.ndarray:
        """Draws of the corpus loss at (params, tokens): (B, T)."""
        return self.loss_chain.intermediate_at(params, tokens)

    def prob_emerged(self, params, tokens) -> np.ndarray:
        """Probability that accuracy has left its floor at (params, tokens): the share of draws whose
        intermediate lies past their own elbow."""
        x = self.result.intermediate_at(params, tokens)
        elbows = self.result.link_theta[:, [2]] + 2.0 * self.result.link_theta[:, [3]]
        return (x < elbows).mean(0) if len(x) > 1 else (x < elbows).astype(float)[0]

    def emergence_loss(self) -> tuple[float, float, float]:
        """Where accuracy leaves its floor, in corpus loss: (estimate, lower, upper)."""
        theta = self.loss_chain.link_theta
        elbows = theta[:, 2] + 2.0 * theta[:, 3]
        if len(elbows) < 3:
            return float(elbows[0]), float(elbows[0]), float(elbows[0])
        lo, hi = np.quantile(elbows[1:], [self.alpha / 2, 1 - self.alpha / 2])
        return float(elbows[0]), float(min(lo, elbows[0])), float(max(hi, elbows[0]))

    def flops_for_loss(self, loss: float) -> float | None:
        """The compute-optimal FLOPs at which the corpus-loss law reaches ``loss`` (None if never)."""
        e, a, alpha, b, _ = self.loss_chain.loss_theta[0]
        if not loss > e:
            return None
        # at the optimum both terms are equal: A N^-a = B D^-a = (L - E) / 2
        params = (2 * a / (loss - e)) ** (1 / alpha)
        tokens = (2 * b / (loss - e)) ** (1 / alpha)
        return float(6 * params * tokens)


def _backtest(ladder: Ladder, names: list[str], n_boot: int, alpha: float, seed: int):
    """Score every candidate on the ladder's splits by its point errors, choose one, and measure the chosen
    one's raw interval on the same targets: (chosen name, every candidate's errors, the chosen one's rows
    with their half-widths)."""
    rows, fitted_splits = [], []
    for label, fit_runs, target_runs in splits(ladder):
        part, targets = ladder.only(fit_runs), ladder.runs[ladder.runs["run"].isin(target_runs)]
        points = {}
        for name in names:
            try:
                points[name] = fit_chain(name, part, 0, seed).accuracy_draws(
                    targets["params"], targets["tokens"]
                )[0]
            except EmergenceError:
                continue
        fitted_splits.append((label, part, targets, points))
        rows += [{"split": label, "run": r, "candidate": n, "error": a - p}
                 for n, pts in points.items() for r, a, p in zip(targets["run"], targets["accuracy"], pts, strict=True)]  # fmt: skip
    errors = pd.DataFrame(rows, columns=["split", "run", "candidate", "error"])
    name = choose(errors, names) if len(errors) else names[0]  # no split: the default, uncalibrated
    peers = [n for n in names if n == name or not clearly_better(errors, name, n)]
    halves = []
    for label, part, targets, points in fitted_splits:
        if name not in points:
            continue
        same = [points[n] for n in peers if n in points]
        spread = np.std(same, axis=0) if len(same) > 1 else np.zeros(len(targets))
        result = fit_chain(name, part, n_boot, seed)
        point, low, high = half_widths(result, targets["params"], targets["tokens"], spread, alpha)
        error = targets["accuracy"].to_numpy() - point
        halves += [{"split": label, "run": r, "half": lo if e < 0 else hi}
                   for r, e, lo, hi in zip(targets["run"], error, low, high, strict=True)]  # fmt: skip
    mine = errors[errors["candidate"] == name].merge(pd.DataFrame(halves, columns=["split", "run", "half"]))
    return name, errors, mine


def clearly_better(errors: pd.DataFrame, a: str, b: str) -> bool:
    """Whether candidate ``a`` forecast the backtest's targets clearly better than ``b``: a mean absolute
    error lower by more than two standard errors of the paired differences (targets of one split share
    their fit, so smaller differences are noise)."""
    wide = errors.assign(abs=errors["error"].abs()).pivot_table(
        index=["split", "run"], columns="candidate", values="abs"
    )
    if a not in wide or b not in wide:
        return b not in wide
    diff = (wide[b] - wide[a]).dropna()
    if len(diff) < 3:
        return False
    return bool(diff.mean() > 2 * diff.std(ddof=1) / math.sqrt(len(diff)))


def choose(errors: pd.DataFrame, names: list[str]) -> str:
    """The first candidate that fits (the corpus-loss chain) unless another is clearly better on the
    backtest: the simplest chain is the one whose form extrapolates (compute alone, for one, ignores how a
    model's compute is split into params and tokens). Among clearly better ones, the lowest error."""
    if errors.empty:
        raise EmergenceError("no candidate chain could be fitted on the ladder's backtests")
    fitted = set(errors["candidate"])
    default = next(n for n in names if n in fitted)
    better = [n for n in names if n in fitted and clearly_better(errors, n, default)]
    mae = errors.assign(abs=errors["error"].abs()).groupby("candidate")["abs"].mean()
    return min(better, key=lambda n: mae[n]) if better else default


def forecast_chain(ladder: Ladder, *, alpha: float = 0.1, n_boot: int = 200, seed: int = 0) -> ChainForecast:
    """Choose the chain by its backtest errors on the ladder, calibrate its interval, fit it on every run."""
    if len(ladder.sizes) < 2:
        raise EmergenceError(
            f"the ladder has {len(ladder.sizes)} model size; a forecast at another size needs runs of at least 2"
        )
    names = [n for n in CANDIDATES if ladder.has(CANDIDATES[n]["x"])]
    name, errors, mine = _backtest(ladder, names, n_boot, alpha, seed)
    candidates = [
        {"name": n, "mae": float(g["error"].abs().mean()), "n_targets": int(len(g))}
        for n, g in errors.groupby("candidate", sort=False)
    ]
    ratio = (mine["error"].abs() / mine["half"]).to_numpy(float)
    scale = _conformal(ratio, alpha)
    peers = [n for n in names if n != name and not clearly_better(errors, name, n)]
    result = fit_chain(name, ladder, n_boot, seed)
    corpus = result if name == "corpus loss" else fit_chain("corpus loss", ladder, n_boot, seed)
    backtest = {
        "splits": sorted(set(errors["split"])), "n_targets": int(len(mine)),
        "mae": float(mine["error"].abs().mean()) if len(mine) else None,
        "coverage_raw": float(np.mean(ratio <= 1)) if len(ratio) else None,
        "coverage_scaled": float(np.mean(ratio <= scale)) if len(ratio) else None,
    }  # fmt: skip
    peer_fits = {n: fit_chain(n, ladder, 0, seed) for n in peers}
    return ChainForecast(name, result, peer_fits, corpus, candidates, scale, backtest, alpha)


def _conformal(ratio: np.ndarray, alpha: float) -> float:
    """The factor that scales interval half-widths so they would have covered the backtest at 1 - alpha:
    the ceil((n + 1)(1 - alpha))-th smallest |error| / half-width, at least 1 (the largest with few targets)."""
    ratio = ratio[np.isfinite(ratio)]
    if not len(ratio):
        return 1.0
    k = min(math.ceil((len(ratio) + 1) * (1 - alpha)), len(ratio))
    return max(1.0, float(np.sort(ratio)[k - 1]))

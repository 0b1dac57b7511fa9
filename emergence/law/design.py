"""Designing a sweep: the finetuning runs that most shrink the interval of the few-shot emergence point.

The expected information of a run (checkpoint x data amount x seed) is its Fisher information under the
emergence law: the gradient of the law's expected accuracy in its parameters, over the run's variance
(binomial plus the spread across seeds). The variance of the few-shot elbow is the (elbow, elbow) entry of
the inverse of the information summed over runs. Because the information depends on the unknown law, it
is averaged over plausible laws: the current fit's bootstrap draws, or before any finetuned run, laws
drawn around the ladder (`prior_draws`, which states its assumptions). Data amounts, each run on every
candidate checkpoint (or single runs), are added greedily, each the one that cuts the expected variance
of the elbow most per unit of cost, while the budget lasts; their effect is a low-rank (Woodbury) update
of every draw's inverse information.

A sharp ReLU gives no gradient on the chance side of its elbow, so designs are computed under a
softplus of the same slope (smoothing of 0.03 nats) where the law is a ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.law.emergence_law import EmergenceLaw

DESIGN_SHARPNESS = 0.03
"""Nats of smoothing of a ReLU law while designing (its information is zero on one side otherwise)."""
Z90 = 1.6448536269514722


@dataclass(frozen=True)
class Design:
    """Runs chosen for a budget and what they are expected to achieve."""

    runs: pd.DataFrame  # checkpoint, pretraining_loss, data_amount, seed, cost (in the order chosen)
    half_width: float  # expected 90% half-width of the few-shot elbow (nats) after these runs
    start_half_width: float  # the same before them (runs already measured and the few-shot rows)
    cost: float


def prior_draws(
    losses: np.ndarray, law: EmergenceLaw, n: int = 100, seed: int = 0, elbow_range: tuple | None = None
) -> pd.DataFrame:
    """Laws that could be true of a ladder whose checkpoints are all still at chance few-shot.

    Assumed, and only assumed: the few-shot elbow lies within half the ladder's span of loss beyond its
    strongest checkpoint (or within ``elbow_range``, when some checkpoints have emerged and bound it);
    between 64 and 4,096 examples the elbow moves by 0.1 to 0.8 nats; the shift's exponent follows the
    fit's own prior (log-normal, median 1, sd 1 in ln); the law rises by 0.3 to 1.5 accuracy per nat past
    its elbow (ReLU, softplus), or to a ceiling of 0.6 to 0.95 over a scale of 0.03 to 0.15 nats (sigmoid).
    """
    rng = np.random.default_rng(seed)
    lmin, span = float(np.min(losses)), float(np.ptp(losses)) or 1.0
    alpha = np.exp(rng.normal(0.0, 1.0, n)).clip(0.1, 5.0)
    move = rng.uniform(0.1, 0.8, n)
    k = move / (np.log(4096) ** alpha - np.log(64) ** alpha)
    low, high = elbow_range if elbow_range is not None else (lmin - 0.5 * span, lmin)
    draws = {"elbow_d0": rng.uniform(low, high, n), "shift_k": k, "shift_alpha": alpha,
             "chance": np.full(n, law.chance if law.chance is not None else 0.0), "extra_sd": np.full(n, 0.01)}  # fmt: skip
    if law.link == "sigmoid":
        draws |= {"ceiling": rng.uniform(0.6, 0.95, n), "scale": rng.uniform(0.03, 0.15, n)}
    else:
        draws |= {"slope": rng.uniform(0.3, 1.5, n)}
        if law.link == "softplus":
            draws["sharpness"] = np.full(n, DESIGN_SHARPNESS)
    return pd.DataFrame(draws)


def _design_law(law: EmergenceLaw) -> EmergenceLaw:
    params = {**law.get_params(), "chance": law.chance if law.chance is not None else 0.0}
    if law.link == "relu":
        params |= {"link": "softplus", "fix": {**law.fix, "sharpness": DESIGN_SHARPNESS}}
    return EmergenceLaw(**params)


def _scaled_gradients(law: EmergenceLaw, draws: pd.DataFrame, loss, amount, n_examples, names):
    """Per draw and row, the law's gradient in the designed parameters over the row's sd: (S, R, F)."""
    template = law.problem(_stand_in(loss, amount, law)).at(
        np.asarray(loss, float), np.asarray(amount, float)
    )
    n = np.asarray(n_examples, float) * np.ones(len(template.loss))
    out = np.empty((len(draws), len(template.loss), len(names)))
    for s, row in enumerate(draws.to_dict("records")):
        p = np.array([row.get(nm, template.fixed.get(nm, 0.0)) for nm in template.names], float)
        m, jac = template.mean_jacobian(p, names)
        sd = np.sqrt(m * (1 - m) / n + row.get("extra_sd", 0.01) ** 2)
        out[s] = jac / sd[:, None]
    return out


def _stand_in(loss, amount, law: EmergenceLaw) -> pd.DataFrame:
    """A table the law accepts, only to build its parametrisation (values do not matter)."""
    loss, amount = np.asarray(loss, float), np.asarray(amount, float)
    amounts = np.unique(np.r_[amount[amount > 0], [64.0, 256.0, 1024.0]])
    rows = [{"checkpoint": f"c{i}", "pretraining_loss": lv, "data_amount": d, "seed": 0, "accuracy": 0.5,
             "n_examples": 100} for i, lv in enumerate(np.unique(np.r_[loss, loss.min() - 0.1, loss.max() + 0.1]))
            for d in (0.0, *amounts)]  # fmt: skip
    return pd.DataFrame(rows)


def plan_runs(
    law: EmergenceLaw,
    draws: pd.DataFrame,
    candidates: pd.DataFrame,
    budget: float,
    *,
    measured: pd.DataFrame | None = None,
    n_examples: int = 500,
    max_seeds: int = 4,
    prior_weight: float = 1.0,
    whole_amounts: bool = True,
) -> Design:
    """Choose runs among ``candidates`` (checkpoint, pretraining_loss, data_amount, cost) within ``budget``.

    Args:
        law: the emergence law's form (link, shift, D0, chance); a ReLU is designed as a softplus.
        draws: plausible parameter values, one row per draw (a fit's bootstrap, or `prior_draws`).
        measured: rows already measured or to be measured anyway (pretraining_loss, data_amount), e.g. the
            few-shot rows of every checkpoint; they count as information the design starts from.
        n_examples: examples each evaluation scores; max_seeds: how often one (checkpoint, amount) may run.
        prior_weight: how much the draws' spread counts as prior knowledge: 1 for prior draws; small for a
            fit's bootstrap draws, whose spread already reflects the measured rows (counted again here).
        whole_amounts: choose data amounts, each run on every candidate checkpoint (a column of the grid),
            rather than single runs. The information trusts the law's form: run by run, it puts the whole
            budget on the two or three checkpoints the law calls informative, and when the form is off
            (as on the knowledge world, whose elbows at 16 to 160 examples coincide) the fit is left
            with no checkpoints on both sides of an elbow. A column brackets every elbow it can reach.
    """
    if candidates.empty:
        raise EmergenceError("no candidate runs to choose from")
    candidates = candidates.reset_index(drop=True)
    blocks = (
        [idx.to_numpy() for _, idx in candidates.groupby("data_amount").groups.items()]
        if whole_amounts
        else [np.array([i]) for i in range(len(candidates))]
    )
    cost = np.array([candidates["cost"].to_numpy(float)[b].sum() for b in blocks])
    if budget < cost.min():
        what = "one data amount on every candidate checkpoint" if whole_amounts else "one run"
        raise EmergenceError(
            f"the budget ({budget:.3g}) is smaller than the cheapest run of {what} ({cost.min():.3g}); raise it"
        )
    design = _design_law(law)
    names = [nm for nm in design.param_names() if nm not in ("extra_sd", *design.fix) and
             not (nm == "chance" and law.chance is not None)]  # fmt: skip
    g = _scaled_gradients(
        design, draws, candidates["pretraining_loss"], candidates["data_amount"], n_examples, names
    )
    info = prior_weight * _prior_information(draws, names)
    if measured is not None and len(measured):
        base = _scaled_gradients(
            design, draws, measured["pretraining_loss"], measured["data_amount"], n_examples, names
        )
        info += np.einsum("srf,srg->sfg", base, base)
    inverse = np.linalg.inv(info)
    start = float(np.mean(inverse[:, 0, 0]))
    amount = np.array([candidates["data_amount"].to_numpy(float)[b[0]] for b in blocks])
    have = set() if measured is None else set(measured.loc[measured["data_amount"] > 0, "data_amount"])
    need = _amounts_needed(law)
    spent, uses, chosen = 0.0, np.zeros(len(blocks), int), []
    _check_fittable(need, have, amount, cost, budget)
    while True:
        updates = [_gain(inverse, g[:, b, :]) for b in blocks]
        score = np.array([removed.mean() for removed, _ in updates]) / np.maximum(cost, 1e-300)
        score[(uses >= max_seeds) | (spent + cost > budget * (1 + 1e-9))] = -np.inf
        short = need - len(have)
        if short > 0:  # the fit has no prior: first buy the distinct amounts it needs, all of them affordable
            price = _new_amount_prices(amount, cost, have)
            rest = np.array([sum(sorted(p for b, p in price.items() if b != a)[: short - 1]) for a in amount])
            score[~np.isin(amount, list(price)) | (spent + cost + rest > budget * (1 + 1e-9))] = -np.inf
        c = int(np.argmax(score))
        if not np.isfinite(score[c]) or score[c] <= 0:
            break
        inverse = updates[c][1]
        chosen += [(i, uses[c]) for i in blocks[c]]
        uses[c] += 1
        have.add(amount[c])
        spent += cost[c]
    if not chosen:
        raise EmergenceError("no candidate run adds information about the few-shot elbow (all far from it)")
    picked = (
        candidates.iloc[[c for c, _ in chosen]].assign(seed=[s for _, s in chosen]).reset_index(drop=True)
    )
    return Design(picked, Z90 * float(np.sqrt(np.mean(inverse[:, 0, 0]))), Z90 * float(np.sqrt(start)), spent)


def _amounts_needed(law: EmergenceLaw) -> int:
    """Distinct finetuning amounts the law's fit needs (it has no prior): 2 for a shift of fixed exponent,
    3 to fit the exponent too."""
    return 0 if law.shift == "none" else 2 if "shift_alpha" in law.fix else 3


def _new_amount_prices(amount: np.ndarray, cost: np.ndarray, have: set) -> dict:
    """The cheapest run (or column) of each candidate amount not yet measured or chosen."""
    return {a: cost[amount == a].min() for a in np.unique(amount) if a not in have}


def _check_fittable(need: int, have: set, amount: np.ndarray, cost: np.ndarray, budget: float) -> None:
    short = need - len(have)
    if short <= 0:
        return
    new = sorted(_new_amount_prices(amount, cost, have).values())
    if len(new) < short:
        raise EmergenceError(f"the law's fit needs finetuned runs at {need} data amounts ({len(have)} stored) and "
                             f"only {len(new)} other candidate amount(s) are given: give more (--amounts)")  # fmt: skip
    if sum(new[:short]) > budget * (1 + 1e-9):
        raise EmergenceError(f"the law's fit needs finetuned runs at {need} data amounts ({len(have)} stored); the "
                             f"cheapest {short} cost {sum(new[:short]):.3g}, over the budget ({budget:.3g}): raise it")  # fmt: skip


def _gain(inverse: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adding rows with scaled gradients g (S, k, F) to information whose inverse is given (S, F, F): the
    variance of the elbow removed, per draw, and the new inverse (Woodbury)."""
    u = np.einsum("sfg,skg->sfk", inverse, g)  # P G^T
    m = np.eye(g.shape[1])[None] + np.einsum("skf,sfj->skj", g, u)  # I + G P G^T
    solved = np.linalg.solve(m, np.transpose(u, (0, 2, 1)))  # (I + G P G^T)^-1 G P
    removed = np.einsum("sfk,skg->sfg", u, solved)
    return removed[:, 0, 0], inverse - removed


def design_half_width(
    law: EmergenceLaw, draws: pd.DataFrame, runs: pd.DataFrame, *, measured: pd.DataFrame | None = None,
    n_examples: int = 500, prior_weight: float = 1.0,
) -> float:  # fmt: skip
    """The expected 90% half-width of the few-shot elbow (nats) after a given set of runs."""
    rows = runs if measured is None else pd.concat([measured, runs], ignore_index=True)
    design = _design_law(law)
    names = [nm for nm in design.param_names() if nm not in ("extra_sd", *design.fix) and
             not (nm == "chance" and law.chance is not None)]  # fmt: skip
    g = _scaled_gradients(design, draws, rows["pretraining_loss"], rows["data_amount"], n_examples, names)
    info = prior_weight * _prior_information(draws, names) + np.einsum("srf,srg->sfg", g, g)
    return Z90 * float(np.sqrt(np.mean(np.linalg.inv(info)[:, 0, 0])))


def _prior_information(draws: pd.DataFrame, names: list[str]) -> np.ndarray:
    """What is known before the runs: each parameter's spread over the draws, as a prior precision, so a
    run that adds nothing leaves the elbow as uncertain as the draws say, not infinitely so. (S, F, F)"""
    spread = np.array([draws[nm].var() if nm in draws else 0.0 for nm in names])
    precision = np.where(spread > 0, 1.0 / np.where(spread > 0, spread, 1.0), 1e6)
    return np.repeat(np.diag(precision)[None], len(draws), axis=0)

"""Planning a sweep: which finetuning runs to buy next for one task, and what they are expected to pin.

The design itself (expected Fisher information, greedy within a budget) is `emergence.law.design`; this
module builds its inputs from a store and a sweep spec: the ladder's checkpoints with their loss, the
candidate runs (checkpoint x data amount) with their cost, what is already measured, and plausible laws:
the current fit's bootstrap draws once finetuned runs are stored (sequential use), else `prior_draws`.
It compares the plan with the default grid (64-4,096 examples on evenly spaced checkpoints) at the same
budget, and writes the plan as a sweep spec that `emergence sweep` runs as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.config import FinetuneSpec
from emergence.errors import EmergenceError
from emergence.forecast.options import DEFAULT_OPTIONS, FitOptions
from emergence.forecast.table import checkpoint_table

CANDIDATE_AMOUNTS = tuple(2**k for k in range(2, 13))
"""Data amounts a plan chooses among by default: 4 to 4,096 examples, powers of two."""
DEFAULT_GRID = (64, 256, 1024, 4096)
"""The grid a plan is compared with (the paper's and `emergence sweep`'s usual amounts)."""
N_DRAWS = 100


@dataclass(frozen=True)
class Plan:
    """Runs to make for a task, in the order chosen, and what they are expected to achieve."""

    task: str
    runs: pd.DataFrame  # checkpoint, pretraining_loss, data_amount, seed, cost
    expected_half_width: float  # 90% half-width of the few-shot elbow (nats) after the runs
    start_half_width: float  # the same with what is stored now
    default_half_width: float | None  # the default grid's at the same budget (None if it does not fit)
    default_runs: int
    budget: float
    unit: str  # "runs" or "FLOPs"
    source: str  # "prior" (nothing finetuned stored) or "fit" (the current fit's bootstrap)
    assumptions: list[str] = field(default_factory=list)

    @property
    def cost(self) -> float:
        return float(self.runs["cost"].sum())

    def to_dict(self) -> dict:
        runs = self.runs.assign(
            seed=self.runs["seed"].astype(int), data_amount=self.runs["data_amount"].astype(int)
        )
        return {
            "task": self.task, "unit": self.unit, "budget": self.budget, "cost": self.cost, "source": self.source,
            "expected_interval_half_width_nats": self.expected_half_width,
            "current_interval_half_width_nats": self.start_half_width,
            "default_grid": {"amounts": list(DEFAULT_GRID), "runs": self.default_runs,
                             "interval_half_width_nats": self.default_half_width},
            "runs": runs[["checkpoint", "data_amount", "seed", "pretraining_loss", "cost"]].to_dict("records"),
            "assumptions": self.assumptions,
        }  # fmt: skip


def candidate_amounts(spec=None) -> tuple[int, ...]:
    """The amounts a plan chooses among by default: CANDIDATE_AMOUNTS up to the largest amount of the
    spec's grid (the task's data may not hold more)."""
    if spec is None or spec.runs is not None:
        return CANDIDATE_AMOUNTS
    return tuple(d for d in CANDIDATE_AMOUNTS if d <= max(spec.data_amounts)) or CANDIDATE_AMOUNTS


def plan_task(
    table: pd.DataFrame,
    budget: float,
    *,
    unit: str = "runs",
    finetune: FinetuneSpec | None = None,
    tokens_per_example: float = 64.0,
    amounts: tuple[int, ...] = CANDIDATE_AMOUNTS,
    max_seeds: int = 4,
    options: FitOptions = DEFAULT_OPTIONS,
    n_examples: int | None = None,
    seed: int = 0,
) -> Plan:
    """Plan the next runs for one task from its stored rows (``fit_table`` of the store's results).

    Args:
        table: the task's rows: every checkpoint's pretraining loss, and whatever is already measured.
        budget: a number of runs (unit "runs") or finetuning FLOPs (unit "FLOPs": 6 x params x tokens seen,
            tokens = examples seen x tokens_per_example, examples seen from the finetune settings).
        options: the law's form (link, shift, D0) and chance; chance is estimated when not given.
    """
    from emergence.law.design import design_half_width, plan_runs

    # not for_table: while only few-shot rows are stored it drops the shift, which the planned runs are for
    finetune, options = finetune or FinetuneSpec(), options.with_task_chance(table)
    ck = checkpoint_table(table).dropna(subset=["pretraining_loss"])
    if len(ck) < 3:
        raise EmergenceError(
            f"the ladder has {len(ck)} checkpoint(s) with a pretraining loss; a plan needs at least 3 at "
            "different losses (the law's elbow cannot be placed from fewer)"
        )
    if unit == "FLOPs" and ck["params"].isna().any():
        raise EmergenceError(
            f"checkpoint {ck.loc[ck['params'].isna(), 'checkpoint'].iloc[0]} has no params: a FLOPs budget needs "
            "every checkpoint's params; give them, or budget in runs (--runs)"
        )
    fewshot = table[table["data_amount"] == 0]
    chance, notes = _chance(options, fewshot)
    form = options.law(chance=chance)
    at_chance = _at_chance(ck, fewshot, chance)
    if not len(at_chance):
        raise EmergenceError(
            "every checkpoint is already above chance few-shot: there is no emergence left to forecast by "
            "finetuning; forecast from the few-shot results (`emergence forecast`)"
        )
    candidates = pd.DataFrame(
        [{"checkpoint": c, "pretraining_loss": loss, "data_amount": d,
          "cost": 1.0 if unit == "runs" else 6.0 * params * finetune.examples_seen(d) * tokens_per_example}
         for c, loss, params in _below_halfway(ck, fewshot, chance)[["checkpoint", "pretraining_loss", "params"]].itertuples(index=False)
         for d in amounts]
    )  # fmt: skip
    measured = _measured(table, ck)
    draws, source, more = _draws(table, ck, at_chance, form, options, seed)
    n_eval = int(n_examples or (np.nanmedian(table["n_examples"]) if "n_examples" in table else 500))
    design = plan_runs(form, draws, candidates, budget, measured=measured, n_examples=n_eval,
                       max_seeds=max_seeds, prior_weight=1.0 if source == "prior" else 0.01)  # fmt: skip
    default = _default_grid(candidates, budget)
    default_hw = (
        design_half_width(form, draws, default, measured=measured, n_examples=n_eval,
                          prior_weight=1.0 if source == "prior" else 0.01)
        if len(default) else None
    )  # fmt: skip
    runs = _with_fewshot(design.runs, fewshot, ck).sort_values(
        ["pretraining_loss", "data_amount", "seed"], ascending=[False, True, True], ignore_index=True
    )
    assumptions = [
        *notes, *more,
        f"each evaluation scores {n_eval} examples",
        f"the task's train split holds at least {int(runs['data_amount'].max())} examples (a run beyond it "
        "fails: choose among smaller amounts, --amounts)",
        f"the law: {form.link} link, {form.shift} shift of the elbow with data amount (D0 = {form.d0:g})",
        "the interval is the Fisher-information (Cramer-Rao) half-width averaged over plausible laws: what a "
        "well-specified fit reaches; the backtest widens real forecasts further",
    ]  # fmt: skip
    if unit == "FLOPs":
        steps = [f"{finetune.epochs:g} epochs", f"batch {finetune.batch_size}"]
        steps += [f"at least {finetune.min_steps} steps"] * bool(finetune.min_steps)
        steps += [f"at most {finetune.max_steps} steps"] * (finetune.max_steps is not None)
        assumptions.append(
            f"finetuning FLOPs = 6 x params x examples seen x {tokens_per_example:g} tokens per example, examples "
            f"seen = steps x batch ({', '.join(steps)})"
        )
    return Plan(
        str(table["task"].iloc[0]), runs, design.half_width, design.start_half_width, default_hw,
        len(default), budget, unit, source, assumptions,
    )  # fmt: skip


def _chance(options: FitOptions, fewshot: pd.DataFrame) -> tuple[float, list[str]]:
    if options.chance is not None:
        return float(options.chance), [f"chance accuracy {options.chance:g} (given)"]
    if fewshot.empty:
        raise EmergenceError("no few-shot results and no chance level: give the task's chance with --chance")
    weakest = fewshot.sort_values("pretraining_loss", ascending=False).head(max(1, len(fewshot) // 3))
    chance = float(weakest["accuracy"].median())
    return chance, [f"chance accuracy {chance:.3g}, the median few-shot accuracy of the weakest third "
                    "(give --chance when the task's is known)"]  # fmt: skip


def _at_chance(ck: pd.DataFrame, fewshot: pd.DataFrame, chance: float) -> pd.DataFrame:
    """The checkpoints whose few-shot accuracy is within 2 standard errors (and 3 points) of chance, or not
    measured."""
    acc = fewshot.groupby("checkpoint")[["accuracy", "n_examples"]].mean()
    se = np.sqrt(chance * (1 - chance) / acc["n_examples"].clip(lower=1))
    emerged = acc.index[acc["accuracy"] > chance + np.maximum(2 * se, 0.03)]
    return ck[~ck["checkpoint"].isin(emerged)]


def _below_halfway(ck: pd.DataFrame, fewshot: pd.DataFrame, chance: float) -> pd.DataFrame:
    """The candidate checkpoints: those less than halfway from chance to a perfect score few-shot (or not
    measured). The ones a little above chance sit next to the elbow, where finetuned runs say most about
    it: on the knowledge world, leaving out its six checkpoints at 3-9% exact match took the plan's
    forecast from +0.001 to +0.49 nats. Checkpoints past halfway are settled by their few-shot rows."""
    acc = fewshot.groupby("checkpoint")["accuracy"].mean()
    return ck[~ck["checkpoint"].map(acc).ge(chance + 0.5 * (1.0 - chance))]


def _measured(table: pd.DataFrame, ck: pd.DataFrame) -> pd.DataFrame:
    """What the design starts from: the stored rows, plus a few-shot row for every checkpoint (measured
    anyway, and nearly free)."""
    rows = table[["pretraining_loss", "data_amount"]]
    missing = ck.loc[
        ~ck["checkpoint"].isin(table.loc[table["data_amount"] == 0, "checkpoint"]), "pretraining_loss"
    ]
    return pd.concat(
        [rows, pd.DataFrame({"pretraining_loss": missing, "data_amount": 0.0})], ignore_index=True
    )


def _draws(table, ck, at_chance, form, options: FitOptions, seed: int) -> tuple[pd.DataFrame, str, list[str]]:
    from emergence.law.design import prior_draws

    losses = ck["pretraining_loss"].to_numpy(float)
    bounds, where = None, "within half the ladder's span of loss beyond its strongest checkpoint"
    if len(at_chance) < len(ck):  # some checkpoints have emerged: the elbow lies between them and the rest
        bounds = (float(losses.min()), float(at_chance["pretraining_loss"].min()))
        where = (f"between the strongest checkpoint ({bounds[0]:.3f} nats) and the strongest still at chance "
                 f"({bounds[1]:.3f})")  # fmt: skip
    prior_note = _PRIOR.format(where=where)
    if (table["data_amount"] > 0).any():
        try:
            result = form.fit(table).bootstrap(n=N_DRAWS, n_jobs=options.n_jobs, seed=seed)
            return result.draws_, "fit", [f"plausible laws: {N_DRAWS} bootstrap refits of the stored runs"]
        except EmergenceError as exc:
            note = f"the stored runs could not be fitted ({exc}); planning from the prior instead"
            return prior_draws(losses, form, N_DRAWS, seed, bounds), "prior", [note, prior_note]
    return prior_draws(losses, form, N_DRAWS, seed, bounds), "prior", [prior_note]


_PRIOR = (
    "plausible laws before any finetuned run (emergence.law.design.prior_draws): the few-shot elbow {where}, "
    "moving 0.1-0.8 nats between 64 and 4,096 examples"
)


def _default_grid(candidates: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The default grid (DEFAULT_GRID on evenly spaced checkpoints, one seed) that the budget pays for."""
    grid = candidates[candidates["data_amount"].isin(DEFAULT_GRID)]
    names = grid.sort_values("pretraining_loss")["checkpoint"].unique()
    best = grid.iloc[:0]
    for k in range(1, len(names) + 1):
        pick = names[np.unique(np.round(np.linspace(0, len(names) - 1, k)).astype(int))]
        rows = grid[grid["checkpoint"].isin(pick)]
        if rows["cost"].sum() > budget * (1 + 1e-9):
            break
        best = rows
    return best.assign(seed=0)


def _with_fewshot(runs: pd.DataFrame, fewshot: pd.DataFrame, ck: pd.DataFrame) -> pd.DataFrame:
    """The plan's runs plus the few-shot run of each planned checkpoint not yet measured (no finetuning)."""
    need = set(runs["checkpoint"]) - set(fewshot["checkpoint"])
    extra = ck[ck["checkpoint"].isin(need)].assign(data_amount=0, seed=0, cost=0.0)
    out = pd.concat([extra[runs.columns.intersection(extra.columns)], runs], ignore_index=True)
    return out[["checkpoint", "pretraining_loss", "data_amount", "seed", "cost"]]


def plan_spec(plan: Plan, spec, folder: Path) -> dict:
    """The sweep spec (YAML-ready data, to be written into ``folder``) that runs the plan: the given spec
    with its grid replaced by the plan's runs, its tasks narrowed to the planned task, and its paths
    relative to ``folder``."""
    data = spec.model_dump(mode="json", exclude={"data_amounts", "seeds", "runs"}, exclude_none=True)

    def moved(path: str) -> str:
        return os.path.relpath(Path(path).resolve(), folder.resolve())

    data["store"] = moved(data["store"])
    ladder = data["ladder"]
    if ladder.get("toy"):
        ladder["toy"]["out_dir"] = moved(ladder["toy"]["out_dir"])
        ladder.pop("checkpoints", None)
    for checkpoint in ladder.get("checkpoints", []):
        if checkpoint.get("path"):
            checkpoint["path"] = moved(checkpoint["path"])
    if ladder.get("loss_corpus"):
        ladder["loss_corpus"] = moved(ladder["loss_corpus"])
    tasks = [t for t in spec.tasks if t == plan.task or Path(t).stem == plan.task] or [plan.task]
    data["tasks"] = [moved(t) if t.endswith((".yaml", ".yml")) else t for t in tasks]
    data["runs"] = [
        {"checkpoint": c, "data_amount": int(d), "seed": int(s)}
        for c, d, s in plan.runs[["checkpoint", "data_amount", "seed"]].itertuples(index=False)
    ]
    return data

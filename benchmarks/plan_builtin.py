"""The planned sweep against the shipped full sweep on the knowledge world (prints figures, runs the harness).

    python benchmarks/plan_builtin.py [--spec data/specs/knowledge-full.yaml] [--share 0.5]
                                      [--out runs/plan-builtin] [--link sigmoid] [--max-seeds 4]
                                      [--amounts 16,48,160,480]

1. Few-shot: every checkpoint of the spec's ladder, both tasks, swept into a new store (--out).
2. Plan (`emergence.forecast.plan.plan_task`, from the prior: no finetuned run is known yet) each task's
   finetuning runs with a budget of `share` x the finetuning FLOPs the full sweep spent on that task, in
   the same cost model (6 x params x examples seen x tokens per example; the ratio does not depend on the
   tokens per example). The planner sees what a team would see before emergence: the few-shot rows of the
   checkpoints above the few-shot elbow (the ones step 4 forecasts from), nothing of the stronger ones.
   Candidate amounts: `emergence plan`'s default for the spec (powers of two up to its largest amount),
   or --amounts.
3. Sweep the planned runs with the harness into the same store.
4. Forecast the few-shot elbow from the checkpoints still at chance few-shot (their few-shot and finetuned
   rows), on the planned store and on the shipped full run, and compare with the elbow fitted on all
   few-shot results. Prints the error and the finetuning compute of each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from emergence.builtin import known_chance
from emergence.config import SweepSpec
from emergence.errors import EmergenceError
from emergence.forecast import FitOptions, fit_table
from emergence.forecast.plan import candidate_amounts, plan_task
from emergence.harness.sweep import run_sweep
from emergence.law import EmergenceLaw, forecast_before_emergence
from emergence.law.backtest import fewshot_elbow
from emergence.store import Store

ROOT = Path(__file__).resolve().parent.parent
METRIC = {"know_country_qa": "exact_match", "know_country_choice": "acc"}
TOKENS_PER_EXAMPLE = 64.0


def compute(table, spec: SweepSpec) -> float:
    """Finetuning FLOPs of a table's finetuned rows (one per run) in the plan's cost model."""
    runs = table[table["data_amount"] > 0].drop_duplicates(["checkpoint", "data_amount", "seed"])
    seen = runs["data_amount"].map(lambda d: spec.finetune.examples_seen(int(d)))
    return float((6.0 * runs["params"] * seen * TOKENS_PER_EXAMPLE).sum())


def forecast(table, task: str, link: str) -> str:
    try:
        f = forecast_before_emergence(table, EmergenceLaw(link=link, chance=known_chance(task)))
    except EmergenceError as exc:
        return f"no forecast ({exc})"
    return (f"elbow {f['predicted_elbow']:.3f} [{f['lower']:.3f}, {f['upper']:.3f}] vs {f['reference_elbow']:.3f}: "
            f"error {f['error']:+.3f} nats ({f['n_checkpoints']} checkpoints at chance)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "data" / "specs" / "knowledge-full.yaml"))
    ap.add_argument("--share", type=float, default=0.5)
    ap.add_argument("--out", default="runs/plan-builtin")
    ap.add_argument(
        "--link", default="sigmoid", help="the law's link (AIC prefers the sigmoid on both tasks)"
    )
    ap.add_argument("--amounts", default=None, help="candidate data amounts, e.g. 16,48,160,480")
    ap.add_argument(
        "--max-seeds", type=int, default=4, help="at most this many seeds of one (checkpoint, amount)"
    )
    args = ap.parse_args()
    full = SweepSpec.from_yaml(args.spec)
    store = Path(args.out).resolve() / "store.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    base = full.model_copy(update={"store": store, "data_amounts": [0], "runs": None})
    tic = time.perf_counter()
    print(f"few-shot sweep: {run_sweep(base).message()} ({time.perf_counter() - tic:.0f} s)")
    with Store(full.store, read_only=True) as st:
        shipped = st.results()
    for task in full.tasks:
        law = EmergenceLaw(link=args.link, chance=known_chance(task))
        with Store(store, read_only=True) as st:
            fewshot = fit_table(st.results(), task, METRIC[task])
        before = fewshot[fewshot["pretraining_loss"] > fewshot_elbow(fewshot, law)]
        full_table = fit_table(shipped, task, METRIC[task])
        budget = args.share * compute(full_table, full)
        amounts = tuple(int(a) for a in args.amounts.split(",")) if args.amounts else candidate_amounts(full)
        plan = plan_task(before, budget, unit="FLOPs", finetune=full.finetune, tokens_per_example=TOKENS_PER_EXAMPLE,
                         amounts=amounts, max_seeds=args.max_seeds, options=FitOptions(link=args.link, chance=law.chance))  # fmt: skip
        runs = [{"checkpoint": c, "data_amount": int(d), "seed": int(s)}
                for c, d, s in plan.runs[["checkpoint", "data_amount", "seed"]].itertuples(index=False)]  # fmt: skip
        planned = full.model_copy(update={"store": store, "tasks": [task], "runs": SweepSpec.model_validate(
            {"ladder": full.ladder.model_dump(), "tasks": [task], "runs": runs}).runs})  # fmt: skip
        tic = time.perf_counter()
        print(f"\n== {task}: candidate amounts {amounts}, {before['checkpoint'].nunique()} checkpoints before the "
              f"few-shot elbow; planned {len(runs)} runs, expected 90% half-width {plan.expected_half_width:.3f} nats "
              f"(default grid at that budget: {plan.default_half_width or float('nan'):.3f}); sweep: "
              f"{run_sweep(planned).message()} ({time.perf_counter() - tic:.0f} s)")  # fmt: skip
        with Store(store, read_only=True) as st:
            mine = fit_table(st.results(), task, METRIC[task])
        print(
            f"  shipped full sweep: {compute(full_table, full):.3g} finetuning FLOPs, {forecast(full_table, task, args.link)}"
        )
        print(
            f"  planned sweep:      {compute(mine, full):.3g} finetuning FLOPs, {forecast(mine, task, args.link)}"
        )


if __name__ == "__main__":
    main()

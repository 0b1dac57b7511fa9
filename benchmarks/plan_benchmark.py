"""Planned sweeps against the default grid on simulated ladders with a hidden truth (prints figures).

    python benchmarks/plan_benchmark.py [--draws 40] [--link relu] [--seed 0]

Each draw is a law of the simulator's regime (emergence.law.simulate: 8 checkpoints over 1-1.2 nats, an
elbow that moves 0.2-0.5 nats between 64 and 4,096 examples, binomial noise over 500 examples plus a
seed spread) placed so that every checkpoint is still at chance few-shot: the forecast is made before
emergence. The truth is drawn here and never shown to the planner.

- default grid: data amounts 64, 256, 1,024 and 4,096 on every checkpoint, 2 seeds;
- planned: `emergence.law.design.plan_runs` with the same finetuning compute (examples x epochs, summed
  over runs), choosing among 4 to 4,096 examples (powers of two) x checkpoints x up to 4 seeds, from
  prior draws alone (no finetuned run measured yet; the few-shot rows of every checkpoint are known).
Both are then measured under the true law and fitted (chance known, 0.25); prints the median, p90 and
share within 0.1 nats of the few-shot elbow's error, and the coverage of its 90% interval.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.law import EmergenceLaw
from emergence.law.design import plan_runs, prior_draws
from emergence.law.simulate import draw_law, simulate_runs

AMOUNTS = tuple(2**k for k in range(2, 13))
DEFAULT = (64, 256, 1024, 4096)
EPOCHS = 4
N_DRAWS = 100


def grid(losses, amounts, seeds) -> pd.DataFrame:
    return pd.DataFrame([{"checkpoint": f"ckpt-{i}", "pretraining_loss": loss, "data_amount": d, "seed": s,
                          "cost": d * EPOCHS} for i, loss in enumerate(losses) for d in amounts for s in range(seeds)])  # fmt: skip


def fit_error(law_form: EmergenceLaw, table: pd.DataFrame, truth: float) -> tuple[float, bool]:
    try:
        point = law_form.fit(table).emergence_point()
    except EmergenceError:
        return np.nan, False
    return point.loss - truth, point.loss_lower <= truth <= point.loss_upper


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--link", default="relu", choices=["relu", "softplus", "sigmoid"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    form = EmergenceLaw(link=args.link, chance=0.25)
    rows, started = [], time.perf_counter()
    for i in range(args.draws):
        truth = draw_law(rng, link=args.link, placement="beyond")
        losses = np.array(truth.losses)
        fewshot = grid(losses, (0,), 1)
        default = grid(losses, DEFAULT, 2)
        budget = float(default["cost"].sum())
        tic = time.perf_counter()
        design = plan_runs(form, prior_draws(losses, form, n=N_DRAWS, seed=i), grid(losses, AMOUNTS, 1).drop(columns="seed"),
                           budget, measured=fewshot, max_seeds=4)  # fmt: skip
        planning = time.perf_counter() - tic
        for name, runs in (("default grid", default), ("planned", design.runs)):
            table = simulate_runs(truth, pd.concat([fewshot, runs], ignore_index=True), rng)
            error, covered = fit_error(form, table, truth.elbow_d0)
            rows.append({"design": name, "error": error, "covered": covered, "runs": len(runs),
                         "cost": runs["cost"].sum(), "planning_s": planning if name == "planned" else 0.0})  # fmt: skip
    df = pd.DataFrame(rows)
    df["abs"] = df["error"].abs()
    summary = df.groupby("design", sort=False).agg(
        median_abs_error=("abs", "median"), p90=("abs", lambda a: a.quantile(0.9)),
        within_01=("abs", lambda a: (a <= 0.1).mean()), coverage_90=("covered", "mean"),
        no_elbow=("error", lambda e: e.isna().mean()), runs=("runs", "median"), cost=("cost", "median"),
        planning_s=("planning_s", "median"),
    )  # fmt: skip
    print(f"{args.draws} simulated ladders ({args.link}), all checkpoints still at chance few-shot; "
          f"equal finetuning compute per ladder; {time.perf_counter() - started:.0f} s")  # fmt: skip
    print(summary.round(3).to_string())
    print(
        f"planning speed: 40 checkpoints x 10 data amounts, {N_DRAWS} prior draws: {planning_speed(form):.2f} s"
    )


def planning_speed(form: EmergenceLaw) -> float:
    """Seconds to plan over 40 checkpoints x 10 candidate amounts with the default grid's budget."""
    losses = np.linspace(3.2, 2.6, 40)
    candidates = grid(losses, AMOUNTS[1:], 1).drop(columns="seed")
    tic = time.perf_counter()
    plan_runs(form, prior_draws(losses, form, n=N_DRAWS), candidates, float(grid(losses, DEFAULT, 2)["cost"].sum()),
              measured=grid(losses, (0,), 1), max_seeds=4)  # fmt: skip
    return time.perf_counter() - tic


if __name__ == "__main__":
    main()

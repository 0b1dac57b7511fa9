"""Chained forecast on AI2's OLMo ladder logs: params x tokens -> C4 loss -> 5-shot accuracy (prints figures).

    python benchmarks/olmo_ladder_backtest.py /work/shared/data/olmo-ladder [--boot 400]

Fits the params-tokens loss law on the final C4 losses of the 190M, 370M and 760M runs, and accuracy
against C4 loss (ReLU and sigmoid links, no data-amount shift) on their post-warm-up rows; predicts the
1B runs' final loss and accuracies from params and tokens alone. A run's final value is the mean of its
last 5 evaluated rows; the first 10% of steps are skipped as warm-up. Intervals: the loss law's bootstrap
carried through the link, plus the link's own (delta-method) error; widened by the error the same chain
makes predicting the 760M runs from the 190M and 370M runs (conformal-style), with coverage reported.
The data stay where they are: nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.errors import NoElbowFound
from emergence.law import EmergenceLaw, ParamsTokensLossLaw

LOSS = "eval/c4_en-validation/CrossEntropyLoss"
TASKS = {  # name: columns averaged (weighted by their number of examples)
    "hellaswag": ["hellaswag_val_rc_5shot_len_norm"],
    "arc_easy": ["arc_easy_test_rc_5shot_len_norm"],
    "arc_challenge": ["arc_challenge_test_rc_5shot_len_norm"],
    "boolq": ["boolq_val_rc_5shot_acc"],
    "csqa": ["csqa_val_rc_5shot_len_norm"],
    "openbookqa": ["openbookqa_test_rc_5shot_len_norm"],
    "piqa": ["piqa_val_rc_5shot_len_norm"],
    "socialiqa": ["socialiqa_val_rc_5shot_len_norm"],
    "winogrande": ["winogrande_val_rc_5shot_len_norm"],
    "mmlu": [f"mmlu_{c}_test_rc_5shot_len_norm" for c in ("stem", "humanities", "social_sciences", "other")],
}
SMALL, TARGET = ("190M", "370M", "760M"), "1B"


def n_examples(values: pd.Series) -> int:
    """Number of examples behind an accuracy column, from the granularity of its values (k / n)."""
    v = np.unique(values.dropna().round(9))
    d = np.diff(v)
    return int(round(1 / d[d > 1e-7].min()))


def load(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(post-warm-up rows of every run, one final row per run) with loss, params, tokens and task accuracies."""
    params = json.loads((path / "params.json").read_text())
    frames = []
    for f in sorted(path.glob("*.csv")):
        d = pd.read_csv(f)
        size = f.stem.split("-")[0]
        d = d[d["_step"] > 0.1 * d["_step"].max()].dropna(subset=[LOSS])
        out = pd.DataFrame(
            {
                "run": f.stem,
                "size": size,
                "step": d["_step"],
                "params": float(params[size]),
                "tokens": d["throughput/total_tokens"],
                "pretraining_loss": d[LOSS],
            }
        )
        for task, cols in TASKS.items():
            cols = [f"eval/downstream/{c}" for c in cols]
            ns = [n_examples(d[c]) for c in cols]
            out[task] = sum(n * d[c] for n, c in zip(ns, cols, strict=True)) / sum(ns)
            out[f"{task}_n"] = sum(ns)
        frames.append(out)
    rows = pd.concat(frames, ignore_index=True)
    final = rows.groupby("run").tail(5).groupby("run").mean(numeric_only=True)
    final["tokens"] = rows.groupby("run")["tokens"].max()
    final["size"] = rows.groupby("run")["size"].first()
    return rows, final.reset_index()


def chain(rows, final, fit_sizes, target_size, link, boot, refused, alpha=0.1):
    """Fit on fit_sizes, predict target_size runs: DataFrame of (run, quantity, actual, mean, lower, upper);
    tasks whose accuracy-vs-loss fit is refused go to `refused` with the reason."""
    law = ParamsTokensLossLaw(n_boot=boot, seed=0).fit(final[final["size"].isin(fit_sizes)], group="run")
    tgt = final[final["size"] == target_size]
    pred = law.predict(tgt["params"].to_numpy(), tgt["tokens"].to_numpy(), alpha=alpha)
    loss_draws = np.array([law.law.loss(th, tgt["params"], tgt["tokens"]) for th in law.draws_.to_numpy()])
    out = [
        pd.DataFrame(
            {
                "run": tgt["run"].to_numpy(),
                "quantity": "c4_loss",
                "actual": tgt["pretraining_loss"].to_numpy(),
                "mean": pred["mean"],
                "lower": pred["lower"],
                "upper": pred["upper"],
            }
        )
    ]
    train = rows[rows["size"].isin(fit_sizes)]
    z = 1.6448536269514722
    for task in TASKS:
        table = pd.DataFrame(
            {
                "checkpoint": train["run"] + "@" + train["step"].astype(str),
                "pretraining_loss": train["pretraining_loss"],
                "data_amount": 0,
                "seed": 0,
                "accuracy": train[task],
                "n_examples": train[f"{task}_n"],
            }
        )
        try:
            r = EmergenceLaw(link=link, shift="none", require_elbow=False, n_starts=4).fit(table)
        except NoElbowFound as e:
            refused[task] = f"fit on {', '.join(fit_sizes)}: {e.reason}"
            continue
        mean = r.predict(pred["mean"].to_numpy())
        own = (mean["upper"] - mean["lower"]).to_numpy() / 2 / z  # the link's own standard error
        sims = np.array(
            [r.predict(ld)["mean"].to_numpy() for ld in loss_draws[:: max(1, len(loss_draws) // 200)]]
        )
        lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
        m = mean["mean"].to_numpy()
        lo = m - np.hypot(m - lo, z * own)
        hi = m + np.hypot(hi - m, z * own)
        out.append(
            pd.DataFrame(
                {
                    "run": tgt["run"].to_numpy(),
                    "quantity": task,
                    "actual": tgt[task].to_numpy(),
                    "mean": m,
                    "lower": lo,
                    "upper": hi,
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def widening(back: pd.DataFrame, alpha: float = 0.1) -> dict[str, float]:
    """Per quantity: the conformal factor that would have made the backtest intervals cover (>= 1)."""
    factors = {}
    for q, g in back.groupby("quantity"):
        err = g["actual"] - g["mean"]
        half = np.where(err > 0, g["upper"] - g["mean"], g["mean"] - g["lower"])
        ratio = np.sort(np.abs(err) / np.maximum(half, 1e-12))
        k = min(math.ceil((len(ratio) + 1) * (1 - alpha)), len(ratio))
        factors[q] = max(1.0, float(ratio[k - 1]))
    return factors


def report(pred: pd.DataFrame, factors: dict[str, float], link: str, every_run: bool) -> dict:
    """Print predicted vs actual (widened intervals), MAE and coverage per quantity; return the totals."""
    pred = pred.copy()
    f = pred["quantity"].map(factors)
    pred["lower_w"] = pred["mean"] - f * (pred["mean"] - pred["lower"])
    pred["upper_w"] = pred["mean"] + f * (pred["upper"] - pred["mean"])
    pred["covered"] = pred["actual"].between(pred["lower"], pred["upper"])
    pred["covered_w"] = pred["actual"].between(pred["lower_w"], pred["upper_w"])
    pred["abs_err"] = (pred["actual"] - pred["mean"]).abs()
    print(f"\n== link: {link} ==  (1B runs; C4 loss in nats, accuracy in points)")
    print(
        f"{'quantity':<14}{'MAE':>7}{'cover 90%':>11}{'widened':>9}{'factor':>8}   per run: actual / predicted [widened 90%]"
    )
    for q, g in pred.groupby("quantity", sort=False):
        s = 100 if q != "c4_loss" else 1
        n = len(g)
        print(
            f"{q:<14}{s * g['abs_err'].mean():>7.3f}{g['covered'].sum():>7d}/{n}{g['covered_w'].sum():>6d}/{n}"
            f"{factors[q]:>8.2f}"
        )
        shown = g if every_run else g[g["run"] == "1B-1xC"]
        for _, r in shown.iterrows():
            print(
                f"{'':<49}{r['run']:<12}{s * r['actual']:8.3f} / {s * r['mean']:8.3f} "
                f"[{s * r['lower_w']:.3f}, {s * r['upper_w']:.3f}]"
            )
    acc = pred[pred["quantity"] != "c4_loss"]
    print(
        f"all tasks: MAE {100 * acc['abs_err'].mean():.2f} points over {len(acc)} targets; 90% intervals cover "
        f"{acc['covered'].sum()}/{len(acc)} raw, {acc['covered_w'].sum()}/{len(acc)} widened by the 760M backtest"
    )
    return {"mae_points": 100 * acc["abs_err"].mean(), "covered": int(acc["covered"].sum()), "n": len(acc)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--boot", type=int, default=400, help="loss-law bootstrap resamples")
    ap.add_argument("--every-run", action="store_true", help="print all six 1B runs per quantity")
    a = ap.parse_args()
    rows, final = load(a.path)
    print(
        f"{len(rows)} post-warm-up rows from {final.shape[0]} runs; fitting on {', '.join(SMALL)}, predicting {TARGET}"
    )
    reruns = final[final["run"].str.endswith("rerun")]
    diffs = []
    for _, r in reruns.iterrows():
        o = final[final["run"] == r["run"].replace("-rerun", "")].iloc[0]
        diffs += [abs(r[t] - o[t]) for t in TASKS]
    print(f"noise floor: reruns differ from the originals by {100 * np.mean(diffs):.2f} points on average")
    for link in ("relu", "sigmoid"):
        refused: dict[str, str] = {}
        back = chain(rows, final, SMALL[:2], SMALL[2], link, a.boot, refused)
        pred = chain(rows, final, SMALL, TARGET, link, a.boot, refused)
        pred = pred[~pred["quantity"].isin(list(refused))]
        report(pred, widening(back), link, a.every_run)
        for task, why in refused.items():
            print(f"  {task}: not forecast ({why})")


if __name__ == "__main__":
    main()

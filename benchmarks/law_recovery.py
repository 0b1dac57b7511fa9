"""Recovery of the few-shot elbow over draws of the issue's regime (prints figures; never pass/fail).

    python benchmarks/law_recovery.py [--draws 50] [--placement inside|beyond] [--checkpoints 8]
                                      [--amounts 64,256,1024,4096] [--chance-known] [--ridge]

For each draw: the default fit (log-normal prior on the shift exponent, median 1, sd 1 in ln), plain
maximum likelihood (no prior), and the fit given the true exponent; the 90% profile interval's coverage.

--ridge adds a diagnostic of identifiability (slower, ~2 s a draw): the likelihood profiled over the
exponent alpha on a grid, and the few-shot elbow it implies. It prints how far the elbow moves across
alpha in [0.5, 1.5] (the simulator's range), how much the likelihood moves there, and the errors of
estimators that know the simulator's own prior on alpha (uniform 0.5-1.5): an upper bound on what any
honest prior can reach from these data, NOT a method (it uses the simulator's parameters). Also the
posterior median along the ridge under the default prior.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from emergence.errors import NoElbowFound
from emergence.law import EmergenceLaw
from emergence.law.likelihood import optimise, starts
from emergence.law.simulate import draw_law, simulate_table

RIDGE = np.exp(np.linspace(np.log(0.08), np.log(4.5), 40))


def alpha_ridge(table, chance) -> tuple[np.ndarray, np.ndarray]:
    """(elbow_d0, negative log-likelihood without prior) with shift_alpha held at each RIDGE value,
    refitted from the best fresh start and from the neighbour's optimum."""
    prob = EmergenceLaw(chance=chance, shift_prior=None).problem(table)
    e0, nll, x = [], [], None
    for a in RIDGE:
        sub = prob.with_fixed(shift_alpha=float(a))
        runs = [optimise(sub, min(starts(sub), key=sub.nll), tight=False)]
        if x is not None:
            runs.append(optimise(sub, x, tight=False))
        best = min(runs, key=lambda q: q.fun)
        x = best.x
        e0.append(sub.full(best.x)[0])
        nll.append(best.fun)
    return np.array(e0), np.array(nll)


def ridge_report(ridges: list[tuple[float, np.ndarray, np.ndarray, float]]) -> None:
    la = np.log(RIDGE)
    inside = (RIDGE >= 0.5) & (RIDGE <= 1.5)
    priors = {
        "default prior LN(1, 1)": -0.5 * la**2,
        "simulator's prior U(0.5, 1.5)": np.where(inside, la, -np.inf),  # density in ln alpha
    }
    spread, dnll = [], []
    for _, e, n, bound in ridges:  # the part of [0.5, 1.5] whose elbow respects the few-shot rows at chance
        ok = inside & (e < bound)
        if ok.sum() > 1:
            spread.append(np.ptp(e[ok]))
            dnll.append(np.ptp(n[ok]))
    print(
        f"ridge: over the alpha in [0.5, 1.5] whose few-shot elbow stays below the lowest loss still at chance "
        f"({len(spread)} draws), the elbow moves by median {np.median(spread):.3f} nats (p10 "
        f"{np.quantile(spread, 0.1):.3f}) while -loglik moves by median {np.median(dnll):.2f}; "
        f"share of draws where it moves < 1.35 (no 90% test can tell those alphas apart): "
        f"{np.mean(np.array(dnll) < 1.35):.2f}"
    )
    for name, lp in priors.items():
        err = {"MAP": [], "posterior median": []}
        for truth, e, n, _ in ridges:
            lw = -n + lp
            w = np.exp(lw - lw.max())
            w /= w.sum()
            err["MAP"].append(e[np.argmax(lw)] - truth)
            o = np.argsort(e)
            err["posterior median"].append(np.interp(0.5, np.cumsum(w[o]), e[o]) - truth)
        for est, v in err.items():
            a = np.abs(v)
            print(
                f"  {name:<30} {est:<17} median |err| {np.median(a):.3f}  p90 {np.quantile(a, 0.9):.3f}  "
                f"within 0.1 {np.mean(a <= 0.1):.2f}  mean signed {np.mean(v):+.3f}"
            )


def run(
    draws: int,
    placement: str,
    checkpoints: int,
    amounts: tuple[int, ...],
    chance_known: bool,
    ridge: bool = False,
) -> None:
    chance = 0.25 if chance_known else None
    fits = {
        "default (prior on exponent)": lambda law: EmergenceLaw(chance=chance),
        "plain MLE (no prior)": lambda law: EmergenceLaw(chance=chance, shift_prior=None),
        "true exponent given": lambda law: EmergenceLaw(
            chance=chance, fix={"shift_alpha": law.params["shift_alpha"]}
        ),
    }
    errors = {name: [] for name in fits}
    failed = {name: 0 for name in fits}
    covered, widths, ridges = [], [], []
    t0 = time.perf_counter()
    for i in range(draws):
        rng = np.random.default_rng(20_000 + i)
        law = dataclasses.replace(
            draw_law(rng, n_checkpoints=checkpoints, placement=placement), data_amounts=amounts
        )
        table = simulate_table(law, rng)
        if ridge:
            at_chance = table.loc[table["data_amount"] == 0, "pretraining_loss"]
            bound = float(at_chance.min()) if len(at_chance) else np.inf
            ridges.append((law.elbow_d0, *alpha_ridge(table, chance), bound))
        for name, make in fits.items():
            try:
                r = make(law).fit(table)
            except NoElbowFound:
                failed[name] += 1
                errors[name].append(np.inf)
                continue
            errors[name].append(r.params_["elbow_d0"] - law.elbow_d0)
            if name.startswith("default"):
                lo, hi = r.profile_interval("elbow_d0", 0.1)
                covered.append(lo <= law.elbow_d0 <= hi)
                widths.append(hi - lo)
    secs = time.perf_counter() - t0
    print(
        f"regime: {draws} draws, {checkpoints} checkpoints spanning 1.0-1.2 nats, data amounts {amounts}, "
        f"2 seeds, 500 examples, elbow moving 0.2-0.5 nats, true exponent U(0.5, 1.5), few-shot elbow "
        f"{placement} the ladder, chance {'given' if chance_known else 'inferred'}"
    )
    print(f"{'fit':<30}{'median |err|':>13}{'p90 |err|':>11}{'within 0.1':>12}{'no elbow':>10}")
    for name, errs in errors.items():
        a = np.abs(np.array(errs))
        print(
            f"{name:<30}{np.median(a):>13.3f}{np.quantile(a, 0.9):>11.3f}{np.mean(a <= 0.1):>12.2f}{failed[name]:>10d}"
        )
    print(
        f"90% profile interval (default fit): coverage {np.mean(covered):.2f} over {len(covered)} fits, "
        f"median width {np.median(widths):.3f} nats"
    )
    if ridge:
        ridge_report(ridges)
    print(f"wall time {secs:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--placement", choices=["inside", "beyond"], default="inside")
    ap.add_argument("--checkpoints", type=int, default=8)
    ap.add_argument("--amounts", default="64,256,1024,4096")
    ap.add_argument("--chance-known", action="store_true")
    ap.add_argument("--ridge", action="store_true", help="add the identifiability diagnostic (slower)")
    a = ap.parse_args()
    amounts = tuple(int(x) for x in a.amounts.split(","))
    run(a.draws, a.placement, a.checkpoints, amounts, a.chance_known, a.ridge)


if __name__ == "__main__":
    main()

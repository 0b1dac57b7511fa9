"""Forecast speed on the OLMo ladder's store: one task's forecast, and every (task, metric) fitted.

    python benchmarks/forecast_speed.py ../shared/data/olmo-ladder [--repeats 3]

Ingests the logs into a temporary store (2,224 checkpoints, 21 tasks, their bpb), then times with the
CLI's defaults (200 bootstrap resamples): `forecast` of single tasks (the chain chosen and calibrated by
its backtest, budgets at two larger models), and `fit_store` over every (task, metric) the store holds.
Prints wall seconds (best and median of the repeats), CPU seconds and the peak resident memory.
Targets: one task in at most 5 s; the whole store in at most 30 s.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from emergence.forecast import Budget, FitOptions, fit_store, forecast, task_pairs
from emergence.ingest import ingest
from emergence.store import Store

TASKS = ("mmlu_test_rc_5shot", "hellaswag_val_rc_5shot", "arc_challenge_test_rc_5shot")
BUDGETS = [Budget(params=6.9e9, tokens=4e12), Budget(params=1.3e10, tokens=5e12)]


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ladder", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "olmo.sqlite"
        with Store(path) as store:
            _, wall, cpu = timed(lambda: ingest(store, args.ladder, "olmo"))
        print(f"ingest: {wall:.1f} s wall, {cpu:.1f} s CPU")
        for task in TASKS:
            walls, cpus = [], []
            for i in range(args.repeats):
                copy = Path(tmp) / f"copy{i}.sqlite"
                shutil.copy(path, copy)
                with Store(copy) as store:
                    _, wall, cpu = timed(
                        lambda s=store, t=task: forecast(s, t, "len_norm", BUDGETS, FitOptions())
                    )
                walls.append(wall)
                cpus.append(cpu)
            print(f"forecast {task}: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall; "
                  f"{statistics.median(cpus):.2f} s CPU")  # fmt: skip
        with Store(path) as store:
            pairs = task_pairs(store.results())
            rows, wall, cpu = timed(lambda: fit_store(store, pairs, FitOptions()))
        fitted = sum(r["status"] == "fitted" for r in rows)
        print(
            f"fit the whole store: {len(pairs)} (task, metric) pairs, {fitted} fitted, {wall:.1f} s wall, {cpu:.1f} s CPU"
        )
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

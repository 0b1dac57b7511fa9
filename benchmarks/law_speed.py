"""Speed of the emergence-law fit and its bootstrap (prints figures; never pass/fail).

    python benchmarks/law_speed.py [--resamples 1000] [--jobs 2] [--repeats 5]

Times one fit of 500 observations (25 checkpoints x 4 data amounts x 5 seeds, of which 500 rows are drawn)
and `resamples` bootstrap refits, on the issue-regime table and on the 500-observation table.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np

from emergence.law import EmergenceLaw
from emergence.law.simulate import draw_law, simulate_table


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the bootstrap's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    big = simulate_table(draw_law(rng, n_checkpoints=25), rng, seeds=5)
    big = big.sample(500, random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(1)
    small = simulate_table(draw_law(rng), rng)
    for name, table in (("500 observations", big), (f"issue regime ({len(small)} observations)", small)):
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            r = EmergenceLaw(chance=0.25).fit(table)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r.profile_interval()
        t_prof = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), _cpu_seconds()
        booted = r.bootstrap(n=a.resamples, n_jobs=a.jobs, seed=0)
        t_boot, c_boot = time.perf_counter() - t0, _cpu_seconds() - c0
        print(
            f"{name}: fit median {np.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, "
            f"{a.repeats} repeats); profile interval {t_prof:.2f} s; {a.resamples} bootstrap resamples on "
            f"{a.jobs} processes {t_boot:.1f} s wall, {c_boot:.1f} CPU-s, i.e. {c_boot / a.jobs:.1f} s on "
            f"{a.jobs} idle cores ({booted.n_boot_failed_} failed)"
        )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

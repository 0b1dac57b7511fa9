"""Bootstrap of the emergence law: resample checkpoints, and seeds within them, then refit (both cores).

Resample indices are drawn in the parent from one seed, so the draws do not depend on n_jobs.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.law.likelihood import optimise, refit_scale, starts
from emergence.law.resampling import resample_groups


def resample_indices(table: pd.DataFrame, n: int, seed: int | None) -> list[np.ndarray]:
    """Row indices of n resamples: checkpoints with replacement, then seeds with replacement within each
    (checkpoint, data amount)."""
    rng = np.random.default_rng(seed)
    cells: dict[str, list[list[np.ndarray]]] = {}  # checkpoint -> per data amount, the rows of each seed
    for (ckpt, _), g in table.groupby(["checkpoint", "data_amount"], sort=True):
        cells.setdefault(ckpt, []).append([idx.to_numpy() for _, idx in g.groupby("seed").groups.items()])
    checkpoints = list(cells.values())
    out = []
    for _ in range(n):
        rows = []
        for amounts in resample_groups(rng, checkpoints):
            for seeds in amounts:
                rows.extend(resample_groups(rng, seeds))
        out.append(np.concatenate(rows))
    return out


_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_blas() -> None:
    """Worker initializer: one BLAS thread per worker, so n_jobs workers never oversubscribe the cores.

    The environment covers workers that import numpy afresh (spawn); a forked worker has numpy loaded
    already, so its pools are limited through threadpoolctl when that is installed."""
    for var in _BLAS_ENV:
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        return
    threadpool_limits(limits=1)


@contextlib.contextmanager
def _blas_limited():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _fit_chunk(args) -> list[np.ndarray]:
    """Refit each resample from the full-data estimate (in units of its standard errors); a loose run from
    the best fresh start guards against the resample's optimum lying on another branch, and is polished
    only when it wins."""
    problem, x_hat, scale, chunk = args
    out = []
    nan = np.full(len(problem.names), np.nan)
    for rows in chunk:
        sub = problem.subset(rows)
        if len(np.unique(sub.loss)) < 3:
            out.append(nan)
            continue
        try:
            best = optimise(sub, x_hat, tight=False, scale=scale)
            other = optimise(sub, min(starts(sub), key=sub.nll), tight=False, ftol=1e-3)
            if other.fun < best.fun - 1e-3:
                best = min(best, optimise(sub, other.x, tight=False, scale=scale), key=lambda r: r.fun)
        except (ValueError, FloatingPointError):
            out.append(nan)
            continue
        out.append(sub.full(best.x) if np.isfinite(best.fun) else nan)
    return out


def bootstrap_law(
    result, n: int = 1000, n_jobs: int = 2, seed: int | None = None
) -> tuple[pd.DataFrame, int]:
    """Refit the law on n resamples; return (draws of all parameters, number of failed resamples)."""
    if n < 1:
        raise EmergenceError("bootstrap needs n >= 1 resamples")
    idx = resample_indices(result.table, n, seed)
    n_chunks = max(1, min(n, 4 * max(n_jobs, 1)))
    chunks = [idx[i::n_chunks] for i in range(n_chunks)]
    scale = refit_scale(result.problem, result.x_, result.bse_[result.problem.free].to_numpy())
    tasks = [(result.problem, result.x_, scale, c) for c in chunks]
    if n_jobs > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=ctx, initializer=single_threaded_blas
        ) as pool:
            parts = list(pool.map(_fit_chunk, tasks))
    else:  # one BLAS thread here too, so the draws match the workers' to the last bit
        with _blas_limited():
            parts = [_fit_chunk(t) for t in tasks]
    # undo the striding so draw i belongs to resample i
    draws = np.empty((n, len(result.problem.names)))
    for c, part in enumerate(parts):
        draws[c::n_chunks] = np.array(part)
    ok = np.isfinite(draws).all(axis=1)
    if not ok.any():
        raise EmergenceError("every bootstrap resample failed to fit; the data cannot support intervals")
    return pd.DataFrame(draws[ok], columns=result.problem.names), int((~ok).sum())

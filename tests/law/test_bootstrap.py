"""Bootstrap of the emergence law: resamples of checkpoints and seeds, reproducibility, worker threads."""

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from emergence.law import EmergenceLaw
from emergence.law.bootstrap import resample_indices, single_threaded_blas


def test_resamples_keep_whole_checkpoints_and_as_many_seeds_per_cell(relu_case):
    table = relu_case[1]
    cells = table.groupby(["checkpoint", "data_amount"]).size()
    for rows in resample_indices(table, 5, seed=3):
        drawn = table.loc[rows]
        per_cell = drawn.groupby(["checkpoint", "data_amount"]).size()
        repeats = drawn.groupby("checkpoint")["data_amount"].size() / table.groupby("checkpoint").size()
        assert repeats.dropna().sum() == table["checkpoint"].nunique()  # as many checkpoints as there are
        np.testing.assert_array_equal(per_cell % cells[per_cell.index], 0)  # every cell keeps its seed count
    a, b = resample_indices(table, 3, seed=3), resample_indices(table, 3, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_bootstrap_is_reproducible_across_job_counts_and_returns_a_new_result(relu_case):
    table = relu_case[1]
    fit = EmergenceLaw(chance=0.25, n_starts=2).fit(table)
    a = fit.bootstrap(n=12, n_jobs=2, seed=1)
    b = fit.bootstrap(n=12, n_jobs=1, seed=1)
    assert fit.draws_ is None and a is not fit
    pd.testing.assert_frame_equal(a.draws_, b.draws_)
    pt = a.emergence_point()
    assert pt.method == "bootstrap" and pt.loss_lower <= pt.loss_upper
    assert a.conf_int().shape == (len(a.params_), 2)
    assert a.predict([2.5, 3.0])["upper"].ge(a.predict([2.5, 3.0])["lower"]).all()


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_bootstrap_workers_run_single_threaded_blas():
    pytest.importorskip("threadpoolctl")
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=single_threaded_blas) as pool:
        assert set(pool.submit(_blas_threads).result()) <= {1}

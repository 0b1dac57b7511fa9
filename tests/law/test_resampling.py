"""Resampling of groups, shared by the emergence-law and loss-law bootstraps."""

import numpy as np

from emergence.law.resampling import group_rows, resample_groups


def test_group_rows_lists_each_groups_rows_in_label_order():
    rows = group_rows(np.array(["b", "a", "b", "c", "a"]))
    assert [r.tolist() for r in rows] == [[1, 4], [0, 2], [3]]


def test_resample_draws_as_many_groups_with_replacement_from_the_seed():
    groups = [np.array([i]) for i in range(50)]
    a = resample_groups(np.random.default_rng(5), groups)
    b = resample_groups(np.random.default_rng(5), groups)
    assert len(a) == 50 and [g[0] for g in a] == [g[0] for g in b]
    assert len({g[0] for g in a}) < 50  # with replacement: some groups repeat
    assert all(any(g is h for h in groups) for g in a)  # the groups themselves, not copies

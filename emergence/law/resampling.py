"""Resampling of groups with replacement: the one step both bootstraps (emergence law, loss law) share.

A group is an independent unit (a checkpoint, a seed, a training run) given by the rows it holds; a
resample draws as many groups as there are, with replacement, from one random generator, so the draws
depend on the seed alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_rows(labels: np.ndarray) -> list[np.ndarray]:
    """The row indices of each group, one array per distinct label in sorted order."""
    return [np.flatnonzero(labels == g) for g in np.unique(labels)]


def resample_groups(rng: np.random.Generator, groups: Sequence) -> list:
    """As many groups as given, drawn with replacement (in draw order)."""
    return [groups[i] for i in rng.integers(len(groups), size=len(groups))]

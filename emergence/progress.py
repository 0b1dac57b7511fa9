"""One way to report progress on long work: library code calls a `Progress` callback, people see it drawn
by tqdm on stderr. Diagnostics go to `logging` (logger "emergence"), never to the progress line.

    def run(..., progress: Progress | None = None):
        report = progress or silent
        for i, item in enumerate(items):
            report(i, len(items), f"item {item}")
        report(len(items), len(items), "done")
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, "int | None", str], None]
"""``progress(done, total, what)``: ``done`` of ``total`` units (None: unknown), now on ``what``."""


def silent(done: int, total: int | None, what: str) -> None:
    """The progress of code nobody watches."""


@contextmanager
def progress_bar(desc: str, unit: str = "it", *, enabled: bool = True) -> Iterator[Progress]:
    """A `Progress` drawn as one tqdm bar on stderr (hidden when ``enabled`` is False)."""
    from tqdm.auto import tqdm

    with tqdm(desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True) as bar:

        def draw(done: int, total: int | None, what: str) -> None:
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)
            if what:
                bar.set_postfix_str(what, refresh=False)
            bar.refresh()

        yield draw

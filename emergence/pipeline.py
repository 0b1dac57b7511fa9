"""The batch door: one task and a ladder to a forecast JSON (sweep, fit, backtest, forecast, export).

`run_pipeline` is what `emergence run` calls. The sweep is the harness's (imported only here, inside the
function, so the forecast path never loads torch); everything after it reads the store like any results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emergence.errors import EmergenceError
from emergence.forecast import Budget, FitOptions, choose_pair, forecast, write_document


def sweep_spec(
    task: str,
    ladder: str | Path,
    *,
    store: str | Path,
    data_amounts: Sequence[int] = (0, 64, 256, 1024),
    seeds: Sequence[int] = (0,),
    **extra: Any,
):
    """The SweepSpec of one task over a ladder YAML (relative paths resolve against the current folder)."""
    from emergence.config import SweepSpec

    data = dict(
        store=str(store), ladder=str(ladder), tasks=[task], data_amounts=list(data_amounts), seeds=list(seeds)
    )
    return SweepSpec.from_dict(
        data | {k: v for k, v in extra.items() if v is not None}, source="emergence run"
    )


def default_out(store: str | Path, task: str, metric: str) -> Path:
    """Where `emergence run` writes the forecast when no --out is given: beside the store."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{Path(task).stem}__{metric}")
    return Path(store).parent / "forecasts" / f"{safe}.json"


def run_pipeline(
    task: str,
    ladder: str | Path,
    *,
    store: str | Path,
    budgets: Sequence[Budget] = (),
    options: FitOptions | None = None,
    metric: str | None = None,
    out: str | Path | None = None,
    data_amounts: Sequence[int] = (0, 64, 256, 1024),
    seeds: Sequence[int] = (0,),
    sweep_options: dict | None = None,
    progress: bool = True,
    command: str = "",
    checkpoints: list | None = None,
    job_fn: Callable | None = None,
    on_step: Callable[[str], None] | None = None,
) -> tuple[dict, Any, Path]:
    """Sweep ``task`` over ``ladder``, then fit, backtest and forecast it, and write the forecast JSON.

    Args:
        sweep_options: extra SweepSpec fields (finetune, eval, executor, keep_weights).
        checkpoints, job_fn: passed to the harness's run_sweep (an already resolved ladder; a stand-in job).
        on_step: called with "sweep", "forecast" and "export" as each stage starts.

    Returns:
        (document, sweep summary, path of the JSON written).
    """
    from emergence.harness.sweep import run_sweep
    from emergence.progress import progress_bar
    from emergence.store import Store

    step = on_step or (lambda label: None)
    spec = sweep_spec(
        task, ladder, store=store, data_amounts=data_amounts, seeds=seeds, **(sweep_options or {})
    )
    step("sweep")
    with progress_bar("sweep", "job", enabled=progress) as bar:
        summary = run_sweep(spec, progress=bar, checkpoints=checkpoints, job_fn=job_fn)
    step("forecast")
    with Store(spec.store, create=False) as st:
        results = st.results(spec.tasks[0])
        if results.empty:
            first = next(iter(summary.errors.values()), "")
            reason = f"; e.g. {first}" if first else ""
            raise EmergenceError(f"the sweep produced no results for {task} ({summary.message()}{reason})")
        task_name, metric = choose_pair(results, spec.tasks[0], metric)
        document = forecast(st, task_name, metric, list(budgets), options or FitOptions(), command=command)
    step("export")
    path = Path(out) if out is not None else default_out(spec.store, task_name, metric)
    write_document(document, path)
    return document, summary, path

"""Options shared by several commands: the store, JSON output, how to fit, and budgets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from emergence.errors import EmergenceError

DEFAULT_STORE = Path("runs/emergence.sqlite")

store_option = click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STORE,
    show_default=True,
    envvar="EMERGENCE_STORE",
    help="The SQLite run store (env EMERGENCE_STORE).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
progress_option = click.option("--no-progress", is_flag=True, help="No progress bar.")


def _stack(*options):
    def apply(func):
        for option in reversed(options):
            func = option(func)
        return func

    return apply


link_option = click.option("--link", type=click.Choice(["relu", "softplus", "sigmoid"]), default="relu",
                           show_default=True, help="Accuracy vs loss around the elbow.")  # fmt: skip
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace the --out file if it exists.")


def out_file_option(help: str):
    """An optional --out file (checked with `check_new_file` before any work)."""
    return click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help)


fit_options = _stack(
    link_option,
    click.option("--shift", type=click.Choice(["log_power", "power", "none"]), default="log_power",
                 show_default=True, help="How the elbow moves with the finetuning data amount."),
    click.option("--d0", type=click.FloatRange(min=1e-9), default=1.0, show_default=True,
                 help="The low-data limit D0 the elbow is extrapolated to."),
    click.option("--chance", type=click.FloatRange(0, 1, max_open=True), default=None,
                 help="Chance accuracy if known (fitted when absent)."),
    click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
                 show_default=True, help="1 - interval level (0.1: 90% intervals)."),
    click.option("--n-boot", type=click.IntRange(min=0), default=200, show_default=True,
                 help="Bootstrap resamples for the intervals (0: profile/Wald intervals)."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap."),
)  # fmt: skip
"""The options every fitting command shares (the law's form, D0, intervals, bootstrap)."""

budget_options = _stack(
    click.option(
        "--flops", multiple=True, type=float, help="A budget in training FLOPs, e.g. 1e21 (repeatable)."
    ),
    click.option("--params", multiple=True, type=float, help="A budget's parameter count (with --tokens)."),
    click.option("--tokens", multiple=True, type=float, help="A budget's training tokens (with --params)."),
    click.option(
        "--loss", "losses", multiple=True, type=float, help="A budget as a pretraining loss in nats."
    ),
)
"""The budget options of `forecast` and `run`: FLOPs, params + tokens, or a pretraining loss."""


def fit_options_from(link, shift, d0, chance, alpha, n_boot, seed, **extra):
    from emergence.forecast import FitOptions

    return FitOptions(
        link=link, shift=shift, d0=d0, chance=chance, alpha=alpha, n_boot=n_boot, seed=seed, **extra
    )


def budgets_from(flops, params, tokens, losses) -> list:
    from emergence.forecast import Budget

    if len(params) != len(tokens):
        raise EmergenceError(
            f"give --params and --tokens in pairs (got {len(params)} --params, {len(tokens)} --tokens)"
        )
    budgets = [Budget(flops=f) for f in flops]
    budgets += [Budget(params=p, tokens=t) for p, t in zip(params, tokens, strict=True)]
    return budgets + [Budget(loss=v) for v in losses]


def command_line() -> str:
    return shlex.join(["emergence", *sys.argv[1:]])


def check_new_file(path: Path, overwrite: bool) -> None:
    """Refuse to write over a file the user has, unless asked to."""
    if path.is_dir():
        raise EmergenceError(f"{path} is a folder; give a file path")
    if path.exists() and not overwrite:
        raise EmergenceError(f"{path} exists; choose another path, or pass --overwrite to replace it")


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected whole numbers separated by commas, got {text!r}") from None


def progress_for(desc: str, unit: str, no_progress: bool = False):
    """A progress bar for long work, drawn only on a terminal (logs and pipes stay clean)."""
    from emergence.progress import progress_bar

    return progress_bar(desc, unit, enabled=not no_progress and sys.stderr.isatty())

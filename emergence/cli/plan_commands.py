"""`emergence plan`: the finetuning runs that most narrow a task's forecast, within a budget."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from emergence.cli.group import cli
from emergence.cli.options import (
    check_new_file,
    int_list,
    json_option,
    link_option,
    out_file_option,
    overwrite_option,
    store_option,
)
from emergence.cli.render import echo_json, echo_table, fmt
from emergence.errors import EmergenceError


@cli.command()
@click.argument("spec_path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--task", default=None, help="The task (the store's only one when absent).")
@click.option("--metric", default=None, help="The metric (acc, or the task's only one, when absent).")
@click.option(
    "--runs", "n_runs", type=click.IntRange(min=1), default=None, help="Budget: this many finetuning runs."
)
@click.option(
    "--flops",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Budget: this many finetuning FLOPs (6 x params x tokens seen).",
)
@click.option("--amounts", default=None, help="Data amounts to choose among (default 4,8,...,4096).")
@click.option(
    "--max-seeds",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="At most this many seeds of one (checkpoint, data amount).",
)
@click.option(
    "--tokens-per-example",
    type=click.FloatRange(min=1),
    default=64.0,
    show_default=True,
    help="Tokens in one finetuning example (for a FLOPs budget).",
)
@click.option(
    "--chance",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="The task's chance accuracy (estimated from the weakest checkpoints when absent).",
)
@link_option
@out_file_option("Write the planned sweep spec here (needs SPEC_PATH, the spec it starts from).")
@overwrite_option
@store_option
@json_option
def plan(spec_path, task, metric, n_runs, flops, amounts, max_seeds, tokens_per_example, chance, link, out,
         overwrite, store_path, as_json):  # fmt: skip
    """Propose the finetuning runs (data amounts, each on every checkpoint less than halfway from chance to
    a perfect score few-shot, and seeds) that most narrow the 90% interval of a task's few-shot emergence
    point within a budget (--runs N or --flops F), at least three amounts so the law can be fitted, and
    compare with the default grid (64-4,096 examples) at the same budget.

    SPEC_PATH, the sweep spec of the ladder (its store, finetune settings and tasks), is copied to --out
    with its grid replaced by the plan: `emergence sweep OUT` runs it. Run the few-shot sweep first
    (data_amounts: [0]), so the ladder's losses are known; once finetuned runs are stored, the plan
    starts from their fit (run it again after each batch).
    """
    from emergence.config import SweepSpec
    from emergence.forecast import FitOptions, choose_pair, fit_table
    from emergence.forecast.plan import candidate_amounts, plan_spec, plan_task
    from emergence.store import Store

    if (n_runs is None) == (flops is None):
        raise EmergenceError("give one budget: --runs N (finetuning runs) or --flops F (finetuning FLOPs)")
    if out is not None:
        if spec_path is None:
            raise EmergenceError(
                "--out writes a sweep spec: give the spec to start from (emergence plan SPEC.yaml)"
            )
        check_new_file(out, overwrite)
    spec = SweepSpec.from_yaml(spec_path) if spec_path is not None else None
    store_path = spec.store if spec is not None else store_path
    with Store(store_path, read_only=True) as st:
        results = st.results()
    if results.empty:
        raise EmergenceError(
            f"no results in {store_path}: run the few-shot sweep first (data_amounts: [0]) so the ladder's "
            "losses and few-shot accuracies are known"
        )
    task, metric = choose_pair(results, task, metric)
    the_plan = plan_task(
        fit_table(results, task, metric), float(n_runs or flops), unit="runs" if n_runs else "FLOPs",
        finetune=spec.finetune if spec is not None else None, tokens_per_example=tokens_per_example,
        amounts=tuple(int_list(amounts)) if amounts else candidate_amounts(spec), max_seeds=max_seeds,
        options=FitOptions(link=link, chance=chance),
        n_examples=spec.eval.limit if spec is not None else None,
    )  # fmt: skip
    if out is not None:
        out.write_text(f"# emergence plan for {task}: {len(the_plan.runs)} runs\n" +
                       yaml.safe_dump(plan_spec(the_plan, spec, out.parent), sort_keys=False))  # fmt: skip
    if as_json:
        echo_json(the_plan.to_dict())
        return
    _echo_plan(the_plan)
    if out is not None:
        click.echo(f"wrote {out}: run it with `emergence sweep {out}`")


def _echo_plan(p) -> None:
    budget = f"{p.budget:g} runs" if p.unit == "runs" else f"{p.budget:.3g} finetuning FLOPs"
    click.echo(f"plan for {p.task}: {budget}, from the {'current fit' if p.source == 'fit' else 'prior'}")
    echo_table(
        [{"checkpoint": r.checkpoint, "loss": f"{r.pretraining_loss:.3f}", "data amount": r.data_amount,
          "seed": r.seed, "cost": fmt(r.cost)} for r in p.runs.itertuples()],
        ["checkpoint", "loss", "data amount", "seed", "cost"],
    )  # fmt: skip
    click.echo(f"expected 90% interval of the few-shot elbow: +/-{p.expected_half_width:.3f} nats "
               f"(now +/-{p.start_half_width:.3f}); cost {fmt(p.cost)}")  # fmt: skip
    if p.default_half_width is None:
        click.echo("the default grid (64-4,096 examples) does not fit in this budget on even one checkpoint")
    else:
        click.echo(
            f"the default grid at the same budget ({p.default_runs} runs): +/-{p.default_half_width:.3f} nats"
        )
    for note in p.assumptions:
        click.echo(f"  assumes: {note}")

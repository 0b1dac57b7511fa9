"""Commands that train, finetune and evaluate: sweep, ladder build, run, and the demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emergence.cli.group import cli
from emergence.cli.options import (
    budget_options,
    budgets_from,
    command_line,
    fit_options,
    fit_options_from,
    int_list,
    json_option,
    out_file_option,
    progress_for,
    store_option,
)
from emergence.cli.render import echo_forecast, echo_json, echo_story
from emergence.errors import EmergenceError


@cli.command()
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    default=None,
    help="The live run's sweep spec (default: the shipped knowledge-demo.yaml, writing into ./runs/).",
)
@click.option("--port", type=int, default=8501, show_default=True, help="The dashboard's port on 127.0.0.1.")
@click.option("--no-dashboard", is_flag=True, help="Only the live run; no dashboard.")
@click.option("--exit", "exit_after", is_flag=True, help="Stop the dashboard once the live run is done.")
@click.option("--n-boot", type=int, default=200, show_default=True, help="Bootstrap resamples per forecast.")
def demo(spec_path: Path | None, port: int, no_dashboard: bool, exit_after: bool, n_boot: int) -> None:  # fmt: skip
    """The main job: the dashboard on the shipped results at once, then the whole method live on the
    knowledge world's reduced ladder (build, sweep, fit, backtest, forecast JSON), landing in the dashboard
    as it goes; the summary leads with the forecast made before emergence and what then happened."""
    from emergence import demo as live

    live.environment()
    spec = live.live_spec(spec_path)  # a bad spec fails here, before anything starts
    dashboard = None
    if not no_dashboard:
        log = Path("runs/dashboard.log")
        dashboard, url = live.start_dashboard(live.free_port(port), log)
        click.echo(f"dashboard: {url}  (shipped results now; the live run lands as it goes; log {log})")
    try:
        documents = live.run_live(spec, say=click.echo, n_boot=n_boot)
        click.echo("")
        documents.sort(key=lambda pair: pair[0]["metric"] == "prob_correct")  # headline metrics first
        for document, before in documents:  # the headline: what was forecast before emergence, and then
            echo_story(document, before)
        for document, _ in documents:
            click.echo("")
            echo_forecast(document)
        if dashboard is not None and not exit_after:
            click.echo(f"\ndone. dashboard still at {url}: press Ctrl-C to stop it")
            live.wait_for(dashboard)
    finally:
        if dashboard is not None and dashboard.poll() is None:
            dashboard.terminate()


@cli.command()
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(path_type=Path))
@click.option("--retry-failed", is_flag=True, help="Run jobs that failed before again.")
@click.option(
    "--executor", type=click.Choice(["local", "ray"]), default=None, help="Override the spec's executor."
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Parallel workers (one model each)."
)
@click.option("--address", default=None, help="A Ray cluster to join (with --executor ray).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@json_option
def sweep(spec_path, retry_failed, executor, workers, address, no_progress, as_json):  # fmt: skip
    """Finetune and evaluate every job of SPEC.yaml not yet done; results go to the spec's store.

    A finished job is never run again; a sweep killed at any moment resumes where it stopped. Exits 1
    when a job failed (its one-line reason is in the store; the other jobs still ran).
    """
    from emergence.config import SweepSpec
    from emergence.harness.sweep import run_sweep

    with progress_for("sweep", "job", no_progress) as progress:
        summary = run_sweep(
            SweepSpec.from_yaml(spec_path), retry_failed=retry_failed, executor=executor, workers=workers,
            address=address, progress=progress,
        )  # fmt: skip
    if as_json:
        echo_json(summary.to_dict())
    else:
        click.echo(summary.message())
        for run_id, error in list(summary.errors.items())[:10]:
            click.echo(f"  failed {run_id}: {error}")
    if summary.failed:
        sys.exit(1)


@cli.group()
def ladder() -> None:
    """Checkpoint ladders."""


@ladder.command("build")
@click.option("--toy", is_flag=True, help="The built-in toy ladder (the only one built here).")
@click.option(
    "--world",
    type=click.Choice(["arithmetic", "knowledge"]),
    default="arithmetic",
    show_default=True,
    help="Which built-in world: 'knowledge' lines up in loss like a real ladder; 'arithmetic' does not.",
)
@click.option("--reduced", is_flag=True, help="The smaller toy ladder, for a demo.")
@click.option("--micro", is_flag=True, help="A two-checkpoint ladder built in seconds, for tests.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the corpus and training.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the checkpoints go (default runs/toy-ladder, or runs/knowledge-ladder).",
)
@click.option(
    "--replace-checkpoints",
    is_flag=True,
    help="A checkpoint the store knows with another loss, params or tokens (a size retrained into the same "
    "folder) takes the new values, the old ones kept as history; without it the build's checkpoints are "
    "refused.",
)
@store_option
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@json_option
def ladder_build(toy, world, reduced, micro, seed, out_dir, replace_checkpoints, store_path, no_progress, as_json):  # fmt: skip
    """Train the toy ladder (or finish an interrupted build) and register its checkpoints in the store."""
    if not toy:
        raise EmergenceError(
            "only the toy ladder is built here: pass --toy (other ladders are checkpoint folders or hub "
            "ids listed in a ladder spec)"
        )
    if reduced and micro:
        raise EmergenceError("--reduced and --micro are two different ladders: give one of them")
    from emergence.ladder.toy.build import build_toy_ladder
    from emergence.store import Store

    out_dir = out_dir or Path("runs/toy-ladder" if world == "arithmetic" else f"runs/{world}-ladder")
    with Store(store_path) as st, progress_for(f"{world} ladder", "step", no_progress) as progress:
        table = build_toy_ladder(
            out_dir, world=world, seed=seed, sizes=["micro"] if micro else None, reduced=reduced, store=st,
            progress=progress, replace_checkpoints=replace_checkpoints,
        )  # fmt: skip
    if as_json:
        echo_json(table.to_dict("records"))
    else:
        click.echo(table.to_string(index=False))
        click.echo(f"{len(table)} checkpoints in {out_dir}, registered in {store_path}")


@cli.command("run")
@click.argument("task")
@click.option(
    "--ladder",
    "ladder_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ladder spec (YAML): the toy ladder or a list of checkpoints.",
)
@click.option(
    "--data-amounts",
    default="0,64,256,1024",
    show_default=True,
    help="Finetuning examples per run, comma-separated (0: few-shot).",
)
@click.option("--seeds", default="0", show_default=True, help="Seeds, comma-separated.")
@click.option(
    "--metric", default=None, help="The metric to forecast (acc, or the task's only one, when absent)."
)
@budget_options
@out_file_option("The forecast JSON (default: forecasts/<task>__<metric>.json beside the store).")
@click.option("--method", type=click.Choice(["full", "lora"]), default=None, help="Finetuning method.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Parallel sweep workers.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@fit_options
@store_option
@json_option
def run_command(task, ladder_path, data_amounts, seeds, metric, flops, params, tokens, losses, out, method, workers,
                no_progress, store_path, as_json, **options):  # fmt: skip
    """The batch door: sweep TASK (an lm-eval task name or a task YAML) over a ladder, then fit, backtest
    and forecast it, and write the forecast JSON.

    Finished jobs are never rerun, so a second call only refits. Exits 1 when some jobs failed (the
    forecast uses the rest) or no emergence point was found.
    """
    from emergence.pipeline import run_pipeline

    sweep_options = {
        "finetune": {"method": method} if method else None,
        "executor": {"workers": workers} if workers else None,
    }
    document, summary, path = run_pipeline(
        task, ladder_path, store=store_path, budgets=budgets_from(flops, params, tokens, losses),
        options=fit_options_from(**options), metric=metric, out=out, data_amounts=int_list(data_amounts),
        seeds=int_list(seeds), sweep_options=sweep_options, progress=not no_progress, command=command_line(),
        on_step=None if as_json or no_progress else lambda label: click.echo(f"[{label}]", err=True),
    )  # fmt: skip
    if as_json:
        echo_json({"forecast": str(path), "sweep": summary.to_dict(), "document": document})
    else:
        click.echo(summary.message())
        echo_forecast(document)
        click.echo(f"wrote {path}")
    if summary.failed or document["emergence_point"]["status"] != "found":
        sys.exit(1)

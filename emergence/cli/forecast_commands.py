"""Commands that fit and forecast from the store's results: fit, forecast, backtest."""

from __future__ import annotations

import sys

import click

from emergence.cli.group import cli
from emergence.cli.options import (
    budget_options,
    budgets_from,
    check_new_file,
    command_line,
    fit_options,
    fit_options_from,
    json_option,
    out_file_option,
    overwrite_option,
    progress_for,
    store_option,
)
from emergence.cli.render import (
    advance,
    clip,
    echo_cutoffs,
    echo_forecast,
    echo_json,
    echo_table,
    fmt,
    fmt_interval,
)


@cli.command()
@click.option("--task", default=None, help="Only this task (all by default).")
@click.option("--metric", default=None, help="Only this metric (all by default).")
@fit_options
@store_option
@json_option
def fit(task, metric, store_path, as_json, **options):
    """Fit the emergence law and the loss laws for each (task, metric) in the store; keep the fits.

    A (task, metric) that cannot be fitted is listed with the reason and the rest are still fitted.
    """
    from emergence.forecast import fit_store, matching_pairs
    from emergence.store import Store

    with Store(store_path, create=False) as st:
        results = st.results()
        pairs = matching_pairs(results, task, metric)
        with progress_for("fitting", "benchmark") as progress:
            rows = fit_store(st, pairs, fit_options_from(**options), progress=progress, results=results)
    if as_json:
        echo_json(rows)
        return
    echo_table(
        [
            {"task": r["task"], "metric": r["metric"], "status": r["status"],
             "elbow (nats)": fmt_interval(r.get("elbow")), "FLOPs": fmt_interval(r.get("flops"), ".3g"),
             "note": clip(r.get("note") or "", 80)}
            for r in rows
        ],
        ["task", "metric", "status", "elbow (nats)", "FLOPs", "note"],
    )  # fmt: skip
    missed = sum(r["status"] != "fitted" for r in rows)
    if missed:
        click.echo(f"{len(rows) - missed} of {len(rows)} fitted; the others' reasons are in the note column")


@cli.command()
@click.option("--task", default=None, help="The task (the store's only one when absent).")
@click.option("--metric", default=None, help="The metric (acc, or the task's only one, when absent).")
@budget_options
@out_file_option("Write the forecast JSON (schema forecast-v1) here.")
@overwrite_option
@click.option("--compare-links", is_flag=True, help="Also fit the other link forms and report AIC/BIC.")
@click.option("--no-backtest", is_flag=True, help="Skip the backtest.")
@fit_options
@store_option
@json_option
def forecast(task, metric, flops, params, tokens, losses, out, overwrite, compare_links, no_backtest, store_path,
             as_json, **options):  # fmt: skip
    """Forecast few-shot emergence for a (task, metric) and the accuracy expected at budgets.

    Budgets as FLOPs (--flops 1e21), params + tokens (--params 1e9 --tokens 2e10) or a pretraining loss
    (--loss 2.9). The forecast is kept in the store beside earlier ones, and written to --out as
    schema-valid JSON. Exits 1 when no emergence point could be found.
    """
    from emergence.forecast import choose_pair, write_document
    from emergence.forecast import forecast as make_forecast
    from emergence.store import Store

    budgets = budgets_from(flops, params, tokens, losses)
    if out is not None:
        check_new_file(out, overwrite)
    with Store(store_path, create=False) as st:
        task, metric = choose_pair(st.results(), task, metric)  # all: an error lists the choices
        with progress_for(f"forecast {task}", "step") as progress:
            doc = make_forecast(
                st, task, metric, budgets, fit_options_from(**options, backtest=not no_backtest),
                compare=compare_links, command=command_line(), progress=progress,
            )  # fmt: skip
    if out is not None:
        write_document(doc, out)
    if as_json:
        echo_json(doc)
    else:
        echo_forecast(doc)
        if out is not None:
            click.echo(f"wrote {out}")
    if doc["emergence_point"]["status"] != "found":
        sys.exit(1)


@cli.command()
@click.option("--task", default=None, help="The task (the store's only one when absent).")
@click.option("--metric", default=None, help="The metric (acc, or the task's only one, when absent).")
@fit_options
@store_option
@json_option
def backtest(task, metric, store_path, as_json, **options):
    """The paper's backtest on the store's results: hold out checkpoints above each FLOPs cutoff, predict
    the few-shot elbow, compare with the elbow fitted on all few-shot results (success: within 0.1 nats).
    Also the same test by loss: the elbow forecast from every checkpoint still at chance few-shot.

    Exits 1 when the backtest cannot run (e.g. no few-shot results above the elbow).
    """
    from emergence.forecast import backtest_section, choose_pair, fit_table, run_before_emergence
    from emergence.store import Store

    fitting = fit_options_from(**options)
    with Store(store_path, read_only=True) as st:
        results = st.results()  # all of them, so that an unknown task's error lists the choices
    task, metric = choose_pair(results, task, metric)
    table = fit_table(results, task, metric)
    section, _ = backtest_section(table, fitting)
    before = run_before_emergence(table, fitting)
    if as_json:
        echo_json({"task": task, "metric": metric, **section, "before_emergence": before})
    else:
        _echo_backtest(task, metric, section, before)
    if section["status"] != "done":
        sys.exit(1)


def _echo_backtest(task: str, metric: str, section: dict, before: dict) -> None:
    name = f"{task}/{metric}"
    if before["status"] == "done":
        click.echo(
            f"{name}: from the {before['n_checkpoints']} checkpoints still at chance few-shot, the few-shot elbow "
            f"is forecast at {before['predicted_elbow']:.3f} [{before['lower']:.3f}, {before['upper']:.3f}] nats; "
            f"fitted on all few-shot results it is {before['reference_elbow']:.3f} (error {before['error']:+.3f} "
            f"nats, {'within' if before['success'] else 'outside'} 0.1)"
        )
    else:
        click.echo(f"{name}: no forecast from the checkpoints still at chance: {before['reason']}")
    if section["status"] != "done":
        click.echo(f"{name}: backtest skipped: {section['reason']}")
        return
    click.echo(
        f"{name}: median error {fmt(section['median_error_nats'])} nats, "
        f"advance factor {advance(section['advance_factor'])}"
    )
    echo_cutoffs(section)

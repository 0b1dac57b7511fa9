"""The `emergence` command line: parses, calls the library, prints. Exit codes: 0 ok, 1 failed, 2 bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from emergence import __version__
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


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emergence")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Forecast when a capability emerges, by finetuning a ladder of small checkpoints."""


# -- specs and the store ----------------------------------------------------------------------------------
@cli.group()
def spec() -> None:
    """Ladder and sweep specs (YAML)."""


@spec.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(["sweep", "ladder"]), default="sweep", show_default=True)
@json_option
def spec_check(path: Path, kind: str, as_json: bool) -> None:
    """Validate a spec file and print it with every default filled in."""
    from emergence.config import LadderSpec, SweepSpec

    model = (SweepSpec if kind == "sweep" else LadderSpec).from_yaml(path)
    if as_json:
        _echo_json(model.model_dump(mode="json"))
    else:
        click.echo(f"# {path}: valid {kind} spec")
        click.echo(model.to_yaml(), nl=False)


@cli.group()
def store() -> None:
    """The run store."""


@store.command("info")
@store_option
@json_option
def store_info(store_path: Path, as_json: bool) -> None:
    """Print a store's schema version and row counts (reads only; a missing store is an error)."""
    from emergence.store import Store

    with Store(store_path, read_only=True) as st:
        info = {"store": str(store_path), "schema_version": st.schema_version, **st.counts()}
    if as_json:
        _echo_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key:>16}  {value}")


@store.command("release")
@click.option("--worker", "workers", multiple=True, help="Also release this worker's claims (host:pid).")
@click.option("--all", "release_all", is_flag=True, help="Release every claim (only when no sweep runs).")
@store_option
@json_option
def store_release(workers, release_all, store_path, as_json):
    """Hand back jobs claimed by sweeps that died: on this host, those whose process is gone; on any host,
    those without a heartbeat for 10 minutes; and those of --worker (or --all) as you say."""
    from emergence.harness.claims import dead_claims
    from emergence.store import Store

    with Store(store_path, create=False) as st:
        claims = st.claims()
        reasons = dead_claims(claims)
        unknown = sorted(set(workers) - set(claims["worker"]))
        if unknown:
            known = ", ".join(claims["worker"]) or "none"
            raise EmergenceError(f"no claims by worker {unknown[0]} in {store_path} (claims by: {known})")
        for worker in claims["worker"] if release_all else workers:
            reasons.setdefault(worker, "released as asked")
        released = {w: int(claims.set_index("worker").loc[w, "runs"]) for w in reasons}
        st.release_runs(sorted(reasons))
        live = claims[~claims["worker"].isin(list(reasons))]
    if as_json:
        _echo_json({"released": [{"worker": w, "runs": n, "why": reasons[w]} for w, n in released.items()],
                    "live": live.to_dict("records")})  # fmt: skip
        return
    for worker, n in released.items():
        click.echo(f"released {n} job(s) of {worker}: {reasons[worker]}")
    if not released:
        click.echo("no claims of dead sweeps")
    for row in live.itertuples(index=False):
        click.echo(f"left {row.runs} job(s) of {row.worker}: alive (heartbeat {_ago(row.heartbeat)}); "
                   "--worker to release them anyway")  # fmt: skip


def _ago(when: float) -> str:
    import time

    seconds = max(0.0, time.time() - when)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


@store.command("upgrade")
@store_option
def store_upgrade(store_path):
    """Migrate a store written by an older emergence to this version's schema (every row is kept)."""
    from emergence.store import Store

    with Store(store_path, read_only=False, create=False) as st:
        click.echo(f"{store_path}: schema version {st.schema_version}")


@cli.command()
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    default=None,
    help="The live run's sweep spec (default: the shipped toy-demo.yaml, writing into ./runs/).",
)
@click.option("--port", type=int, default=8501, show_default=True, help="The dashboard's port on 127.0.0.1.")
@click.option("--no-dashboard", is_flag=True, help="Only the live run; no dashboard.")
@click.option("--exit", "exit_after", is_flag=True, help="Stop the dashboard once the live run is done.")
@click.option("--n-boot", type=int, default=200, show_default=True, help="Bootstrap resamples per forecast.")
def demo(spec_path: Path, port: int, no_dashboard: bool, exit_after: bool, n_boot: int) -> None:
    """The main job: the dashboard on the shipped results at once, then the whole method live on the
    reduced toy ladder (build, sweep, fit, backtest, forecast JSON), landing in the dashboard as it goes."""
    from emergence import demo as live

    live.environment()
    dashboard = None
    if not no_dashboard:
        log = Path("runs/dashboard.log")
        dashboard, url = live.start_dashboard(live.free_port(port), log)
        click.echo(f"dashboard: {url}  (shipped results now; the live run lands as it goes; log {log})")
    try:
        documents = live.run_live(spec_path, say=click.echo, n_boot=n_boot)
        for document in documents:
            click.echo("")
            _echo_forecast(document)
        if dashboard is not None and not exit_after:
            click.echo(f"\ndone. dashboard still at {url}: press Ctrl-C to stop it")
            live.wait_for(dashboard)
    finally:
        if dashboard is not None and dashboard.poll() is None:
            dashboard.terminate()


# -- sweeps -----------------------------------------------------------------------------------------------
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
def sweep(
    spec_path: Path,
    retry_failed: bool,
    executor: str | None,
    workers: int | None,
    address: str | None,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Finetune and evaluate every job of SPEC.yaml not yet done; results go to the spec's store.

    A finished job is never run again; a sweep killed at any moment resumes where it stopped. Exits 1
    when a job failed (its one-line reason is in the store; the other jobs still ran).
    """
    from emergence.config import SweepSpec
    from emergence.harness.sweep import run_sweep
    from emergence.progress import progress_bar

    with progress_bar("sweep", "job", enabled=not no_progress) as progress:
        summary = run_sweep(
            SweepSpec.from_yaml(spec_path),
            retry_failed=retry_failed,
            executor=executor,
            workers=workers,
            address=address,
            progress=progress,
        )
    if as_json:
        _echo_json(summary.to_dict())
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
@click.option("--reduced", is_flag=True, help="The smaller toy ladder, for a demo.")
@click.option("--micro", is_flag=True, help="A two-checkpoint ladder built in seconds, for tests.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the corpus and training.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/toy-ladder"),
    show_default=True,
    help="Where the checkpoints go.",
)
@store_option
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@json_option
def ladder_build(
    toy: bool,
    reduced: bool,
    micro: bool,
    seed: int,
    out_dir: Path,
    store_path: Path,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Train the toy ladder (or finish an interrupted build) and register its checkpoints in the store."""
    if not toy:
        raise EmergenceError(
            "only the toy ladder is built here: pass --toy (other ladders are checkpoint folders or hub "
            "ids listed in a ladder spec)"
        )
    if reduced and micro:
        raise EmergenceError("--reduced and --micro are two different ladders: give one of them")
    from emergence.ladder.toy.build import build_toy_ladder
    from emergence.progress import progress_bar
    from emergence.store import Store

    with Store(store_path) as st, progress_bar("toy ladder", "step", enabled=not no_progress) as progress:
        table = build_toy_ladder(
            out_dir,
            seed=seed,
            sizes=["micro"] if micro else None,
            reduced=reduced,
            store=st,
            progress=progress,
        )
    if as_json:
        _echo_json(table.to_dict("records"))
    else:
        click.echo(table.to_string(index=False))
        click.echo(f"{len(table)} checkpoints in {out_dir}, registered in {store_path}")


# -- results in, fits, forecasts, export (issue 6) --------------------------------------------------------
def _fit_options(func):
    """The options every fitting command shares (the law's form, D0, intervals, bootstrap)."""
    options = [
        click.option(
            "--link",
            type=click.Choice(["relu", "softplus", "sigmoid"]),
            default="relu",
            show_default=True,
            help="Accuracy vs loss around the elbow.",
        ),
        click.option(
            "--shift",
            type=click.Choice(["log_power", "power", "none"]),
            default="log_power",
            show_default=True,
            help="How the elbow moves with the finetuning data amount.",
        ),
        click.option(
            "--d0",
            type=click.FloatRange(min=1e-9),
            default=1.0,
            show_default=True,
            help="The low-data limit D0 the elbow is extrapolated to.",
        ),
        click.option(
            "--chance",
            type=click.FloatRange(0, 1, max_open=True),
            default=None,
            help="Chance accuracy if known (fitted when absent).",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.1,
            show_default=True,
            help="1 - interval level (0.1: 90% intervals).",
        ),
        click.option(
            "--n-boot",
            type=click.IntRange(min=0),
            default=200,
            show_default=True,
            help="Bootstrap resamples for the intervals (0: profile/Wald intervals).",
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _budget_options(func):
    """The budget options of `forecast` and `run`: FLOPs, params + tokens, or a pretraining loss."""
    options = [
        click.option(
            "--flops", multiple=True, type=float, help="A budget in training FLOPs, e.g. 1e21 (repeatable)."
        ),
        click.option(
            "--params", multiple=True, type=float, help="A budget's parameter count (with --tokens)."
        ),
        click.option(
            "--tokens", multiple=True, type=float, help="A budget's training tokens (with --params)."
        ),
        click.option(
            "--loss", "losses", multiple=True, type=float, help="A budget as a pretraining loss in nats."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(link, shift, d0, chance, alpha, n_boot, seed, **extra):
    from emergence.forecast import FitOptions

    return FitOptions(
        link=link, shift=shift, d0=d0, chance=chance, alpha=alpha, n_boot=n_boot, seed=seed, **extra
    )


def _command_line() -> str:
    import shlex

    return shlex.join(["emergence", *sys.argv[1:]])


def _progress(length: int, label: str):
    """A progress bar on stderr, shown only when stderr is a terminal (logs and pipes stay clean)."""
    return click.progressbar(length=length, label=label, file=sys.stderr, hidden=not sys.stderr.isatty())


def _fmt(value, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _advance(value) -> str:
    return "- (no cutoff within 0.1 nats)" if value is None else f"{value:.3g}x"


def _fmt_interval(interval: dict | None, spec: str = ".3f") -> str:
    if not interval:
        return "-"
    return f"{interval['estimate']:{spec}} [{interval['lower']:{spec}}, {interval['upper']:{spec}}]"


def _echo_table(rows: list[dict], columns: list[str]) -> None:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["lmeval", "olmo", "tidy"]),
    default=None,
    help="The input's format (detected when absent).",
)
@click.option(
    "--params-map",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="olmo: size -> parameter count (JSON/YAML/CSV; params.json beside the CSVs by default).",
)
@click.option(
    "--models",
    "models",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="lmeval: model -> checkpoint, pretraining_loss, params, tokens, flops, data_amount, seed.",
)
@click.option(
    "--n-examples",
    type=click.IntRange(min=1),
    default=None,
    help="olmo: examples per evaluation (the logs do not say; 1000 by default).",
)
@click.option(
    "--loss-column", default=None, help="olmo: the pretraining-loss column (C4 validation by default)."
)
@click.option(
    "--warmup-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="olmo: skip steps below this fraction of a run's last step (0.1 by default).",
)
@click.option("--only-task", "tasks", multiple=True, help="olmo: ingest only this task (repeatable).")
@click.option(
    "--replace-checkpoints",
    is_flag=True,
    help="A known checkpoint with other params, tokens, FLOPs or loss takes the new values (the old ones "
    "are kept as history); without it such input is refused.",
)
@store_option
@json_option
def ingest(
    path, fmt, params_map, models, n_examples, loss_column, warmup_fraction, tasks, replace_checkpoints,
    store_path, as_json,
):  # fmt: skip
    """Put existing results into the store: an lm-eval 0.4.x output folder, OLMo ladder CSVs, or a tidy CSV.

    Everything is checked first and written in one transaction: bad input stores nothing. A result
    already stored with other values is kept and superseded by the new one.
    """
    from emergence.ingest import read_results
    from emergence.store import Store

    fmt, rows = read_results(
        path,
        fmt,
        params_map=params_map,
        models=models,
        n_examples=n_examples,
        loss_column=loss_column,
        warmup_fraction=warmup_fraction,
        tasks=list(tasks) or None,
    )
    with Store(store_path) as st:
        summary = st.add_results(rows, fmt=fmt, source=str(path), replace_checkpoints=replace_checkpoints)
    if as_json:
        _echo_json(summary)
        return
    checkpoints = f"{summary['checkpoints']} checkpoints ({summary['new_checkpoints']} new"
    if summary["replaced_checkpoints"]:
        checkpoints += f", {summary['replaced_checkpoints']} replaced, old values kept as history"
    runs = f"{summary['runs']} runs ({summary['new_runs']} new"
    if summary["superseded"]:
        runs += f", {summary['superseded']} supersede earlier measurements of their cells, kept"
    click.echo(
        f"ingested {summary['rows']} results ({summary['format']}): {checkpoints}), {runs}), "
        f"{len(summary['tasks'])} task(s) into {store_path}"
    )
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@click.option("--task", default=None, help="Only this task (all by default).")
@click.option("--metric", default=None, help="Only this metric (all by default).")
@_fit_options
@store_option
@json_option
def fit(task, metric, store_path, as_json, **fit_options):
    """Fit the emergence law and the loss laws for each (task, metric) in the store; store the fits.

    Exits 1 when some (task, metric) could not be fitted (the table says why).
    """
    from emergence.forecast import fit_store, task_pairs
    from emergence.store import Store

    options = _options(**fit_options)
    with Store(store_path, create=False) as st:
        results = st.results(task, metric)
        pairs = task_pairs(results)
        if not pairs:
            raise EmergenceError(f"no finished results in {store_path} for task {task!r}, metric {metric!r}")
        with _progress(len(pairs), "fitting") as bar:
            rows = fit_store(st, pairs, options, progress=lambda label: bar.update(1))
    if as_json:
        _echo_json(rows)
    else:
        _echo_table(
            [
                {
                    "task": r["task"],
                    "metric": r["metric"],
                    "status": r["status"],
                    "elbow (nats)": _fmt_interval(r.get("elbow")),
                    "FLOPs": _fmt_interval(r.get("flops"), ".3g"),
                    "note": r.get("note", "")[:80],
                }
                for r in rows
            ],
            ["task", "metric", "status", "elbow (nats)", "FLOPs", "note"],
        )
    if any(r["status"] != "fitted" for r in rows):
        sys.exit(1)


def _budgets(flops, params, tokens, losses):
    from emergence.forecast import Budget

    if len(params) != len(tokens):
        raise EmergenceError(
            f"give --params and --tokens in pairs (got {len(params)} --params, {len(tokens)} --tokens)"
        )
    budgets = [Budget(flops=f) for f in flops]
    budgets += [Budget(params=p, tokens=t) for p, t in zip(params, tokens, strict=True)]
    return budgets + [Budget(loss=v) for v in losses]


def _echo_forecast(doc: dict) -> None:
    point = doc["emergence_point"]
    level = f"{100 * doc['interval_level']:.0f}%"
    click.echo(f"{doc['task']} / {doc['metric']}  (chance {doc['chance']:.3f}, {level} intervals)")
    if point["status"] == "found":
        click.echo(f"few-shot emergence at loss {_fmt_interval(point['loss'])} nats")
        click.echo(f"                  at FLOPs {_fmt_interval(point['flops'], '.3g')}")
    else:
        click.echo(f"no emergence point: {point['reason']}")
    bt = doc["backtest"]
    if bt["status"] == "done" and bt.get("median_error_nats") is None:
        notes = [c["note"] for c in bt["cutoffs"] if c.get("note")]
        if not bt["cutoffs"]:
            click.echo("backtest: no FLOPs cutoff keeps enough checkpoints before few-shot emergence to fit")
        else:
            why = f": {notes[0]}" if notes else ""
            click.echo(f"backtest: none of the {len(bt['cutoffs'])} FLOPs cutoffs could be fitted{why}")
    elif bt["status"] == "done":
        click.echo(
            f"backtest: median error {_fmt(bt.get('median_error_nats'))} nats, "
            f"advance factor {_advance(bt.get('advance_factor'))}"
        )
    else:
        click.echo(f"backtest: skipped ({bt.get('reason')})")
    if doc["budgets"]:
        _echo_table(
            [
                {
                    "budget": b["label"],
                    "loss": _fmt_interval(b["pretraining_loss"]),
                    "accuracy": _fmt_interval(b["accuracy"]),
                    "P(emerged)": f"{b['prob_emerged']:.2f}",
                }
                for b in doc["budgets"]
            ],
            ["budget", "loss", "accuracy", "P(emerged)"],
        )


@cli.command()
@click.option("--task", default=None, help="The task (the store's only one when absent).")
@click.option("--metric", default=None, help="The metric (acc, or the task's only one, when absent).")
@_budget_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the forecast JSON (schema forecast-v1) here.",
)
@click.option("--overwrite", is_flag=True, help="Replace the --out file if it exists.")
@click.option("--compare-links", is_flag=True, help="Also fit the other link forms and report AIC/BIC.")
@click.option("--no-backtest", is_flag=True, help="Skip the backtest.")
@_fit_options
@store_option
@json_option
def forecast(
    task,
    metric,
    flops,
    params,
    tokens,
    losses,
    out,
    overwrite,
    compare_links,
    no_backtest,
    store_path,
    as_json,
    **fit_options,
):
    """Forecast few-shot emergence for a (task, metric) and the accuracy expected at budgets.

    Budgets as FLOPs (--flops 1e21), params + tokens (--params 1e9 --tokens 2e10) or a pretraining loss
    (--loss 2.9). The forecast is stored, and written to --out as schema-valid JSON. Exits 1 when no
    emergence point could be found.
    """
    from emergence.forecast import choose_pair, write_document
    from emergence.forecast import forecast as make_forecast
    from emergence.store import Store

    budgets = _budgets(flops, params, tokens, losses)
    options = _options(**fit_options, backtest=not no_backtest)
    labels = ["emergence law", "loss law", "backtest", "budgets", "document"]
    if out is not None:
        _check_new_file(out, overwrite)
    with Store(store_path, create=False) as st:
        task, metric = choose_pair(st.results(), task, metric)  # all: an error lists the choices
        with _progress(len(labels), f"forecast {task}") as bar:
            doc = make_forecast(
                st,
                task,
                metric,
                budgets,
                options,
                compare=compare_links,
                command=_command_line(),
                progress=lambda label: bar.update(1),
            )
    if out is not None:
        write_document(doc, out)
    if as_json:
        _echo_json(doc)
    else:
        _echo_forecast(doc)
        if out is not None:
            click.echo(f"wrote {out}")
    if doc["emergence_point"]["status"] != "found":
        sys.exit(1)


@cli.command()
@click.option("--task", default=None, help="The task (the store's only one when absent).")
@click.option("--metric", default=None, help="The metric (acc, or the task's only one, when absent).")
@_fit_options
@store_option
@json_option
def backtest(task, metric, store_path, as_json, **fit_options):
    """The paper's backtest on the store's results: hold out checkpoints above each FLOPs cutoff, predict
    the few-shot elbow, compare with the elbow fitted on all few-shot results (success: within 0.1 nats).
    Also the same test by loss: the elbow forecast from every checkpoint still at chance few-shot.

    Exits 1 when the backtest cannot run (e.g. no few-shot results above the elbow).
    """
    from emergence.forecast import backtest_section, choose_pair, fit_table, run_before_emergence
    from emergence.store import Store

    options = _options(**fit_options)
    with Store(store_path, read_only=True) as st:
        results = st.results()  # all of them, so that an unknown task's error lists the choices
        task, metric = choose_pair(results, task, metric)
    table = fit_table(results, task, metric)
    section, _ = backtest_section(table, options)
    before = run_before_emergence(table, options)
    if as_json:
        _echo_json({"task": task, "metric": metric, **section, "before_emergence": before})
        if section["status"] != "done":
            sys.exit(1)
        return
    if before["status"] == "done":
        click.echo(
            f"{task}/{metric}: from the {before['n_checkpoints']} checkpoints still at chance few-shot, the "
            f"few-shot elbow is forecast at {before['predicted_elbow']:.3f} [{before['lower']:.3f}, "
            f"{before['upper']:.3f}] nats; fitted on all few-shot results it is {before['reference_elbow']:.3f} "
            f"(error {before['error']:+.3f} nats, {'within' if before['success'] else 'outside'} 0.1)"
        )
    else:
        click.echo(f"{task}/{metric}: no forecast from the checkpoints still at chance: {before['reason']}")
    if section["status"] != "done":
        click.echo(f"{task}/{metric}: backtest skipped: {section['reason']}")
    else:
        click.echo(
            f"{task}/{metric}: median error {_fmt(section['median_error_nats'])} nats, "
            f"advance factor {_advance(section['advance_factor'])}"
        )
        _echo_table(
            [
                {
                    "cutoff FLOPs": _fmt(c["cutoff_flops"]),
                    "predicted": _fmt(c.get("predicted_elbow"), ".3f"),
                    "actual": _fmt(c.get("actual_elbow"), ".3f"),
                    "error (nats)": _fmt(c.get("error_nats"), ".3f"),
                    "success": "yes" if c["success"] else "no",
                    "advance": _fmt(c.get("advance_factor")),
                    "checkpoints": str(c.get("n_checkpoints") or "-"),
                    "why not": c.get("note") or "",
                }
                for c in section["cutoffs"]
            ],
            [
                "cutoff FLOPs",
                "checkpoints",
                "predicted",
                "actual",
                "error (nats)",
                "success",
                "advance",
                "why not",
            ],
        )
    if section["status"] != "done":
        sys.exit(1)


@cli.command()
@click.option("--task", default=None, help="Only this task's forecasts.")
@click.option("--metric", default=None, help="Only this metric's forecasts.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="A .json file (one forecast) or a folder (one <task>__<metric>.json each).",
)
@click.option(
    "--results",
    "results_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the results table as a tidy CSV (what `emergence ingest --format tidy` reads).",
)
@click.option("--overwrite", is_flag=True, help="Replace files that exist at --out or --results.")
@store_option
@json_option
def export(task, metric, out, results_csv, overwrite, store_path, as_json):
    """Export the current forecast of each (task, metric) as schema-valid JSON: the newest computed one, or
    the newest imported one where none was computed."""
    from emergence.forecast import stored_forecasts, write_document
    from emergence.ingest import write_tidy
    from emergence.store import Store

    with Store(store_path, read_only=True) as st:
        docs = stored_forecasts(st, task, metric)
        results = st.results(task, metric) if results_csv else None
    if not docs:
        raise EmergenceError(
            f"no stored forecast for task {task!r}, metric {metric!r}; run `emergence forecast`"
        )
    if out.suffix.lower() == ".json" or out.is_file():
        if len(docs) > 1:
            raise EmergenceError(
                f"{len(docs)} forecasts match; give --task/--metric, or a folder as --out (not a file)"
            )
        targets = [(docs[0], out)]
    else:
        safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)  # noqa: E731
        targets = [(d, out / f"{safe(d['task'])}__{safe(d['metric'])}.json") for d in docs]
    for path in [p for _, p in targets] + ([results_csv] if results_csv is not None else []):
        _check_new_file(path, overwrite)
    paths = [write_document(d, p) for d, p in targets]
    if results_csv is not None:
        write_tidy(results, results_csv)
    if as_json:
        _echo_json({"forecasts": [str(p) for p in paths], "results": results_csv and str(results_csv)})
    else:
        for p in paths:
            click.echo(f"wrote {p}")
        if results_csv is not None:
            click.echo(f"wrote {results_csv} ({len(results)} results)")


def _check_new_file(path: Path, overwrite: bool) -> None:
    """Refuse to write over a file the user has, unless asked to."""
    if path.is_dir():
        raise EmergenceError(f"{path} is a folder; give a file path")
    if path.exists() and not overwrite:
        raise EmergenceError(f"{path} exists; choose another path, or pass --overwrite to replace it")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@json_option
def import_(paths, store_path, as_json):
    """Import forecast JSON files (each validated against the schema; all or none). They are kept as
    imported forecasts beside the store's own and never replace a forecast computed here."""
    from emergence.forecast import import_documents
    from emergence.forecast_document import read_document
    from emergence.store import Store

    for p in paths:  # every file is checked before the store is opened
        read_document(p)
    with Store(store_path) as st:
        stored = import_documents(st, paths)
    if as_json:
        _echo_json([{"task": d["task"], "metric": d["metric"], "id": i, "new": new} for d, i, new in stored])
    else:
        new = sum(n for *_, n in stored)
        again = f" ({len(stored) - new} already there)" if new < len(stored) else ""
        click.echo(f"imported {new} forecast(s) into {store_path}{again}, marked imported")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected whole numbers separated by commas, got {text!r}") from None


@cli.command("run")
@click.argument("task")
@click.option(
    "--ladder",
    "ladder",
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
@_budget_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The forecast JSON (default: forecasts/<task>__<metric>.json beside the store).",
)
@click.option("--method", type=click.Choice(["full", "lora"]), default=None, help="Finetuning method.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Parallel sweep workers.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@_fit_options
@store_option
@json_option
def run_command(
    task,
    ladder,
    data_amounts,
    seeds,
    metric,
    flops,
    params,
    tokens,
    losses,
    out,
    method,
    workers,
    no_progress,
    store_path,
    as_json,
    **fit_options,
):
    """The batch door: sweep TASK (an lm-eval task name or a task YAML) over a ladder, then fit, backtest
    and forecast it, and write the forecast JSON.

    Finished jobs are never rerun, so a second call only refits. Exits 1 when some jobs failed (the
    forecast uses the rest) or no emergence point was found.
    """
    from emergence.pipeline import run_pipeline

    budgets = _budgets(flops, params, tokens, losses)
    sweep_options = {
        "finetune": {"method": method} if method else None,
        "executor": {"workers": workers} if workers else None,
    }
    document, summary, path = run_pipeline(
        task,
        ladder,
        store=store_path,
        budgets=budgets,
        options=_options(**fit_options),
        metric=metric,
        out=out,
        data_amounts=_int_list(data_amounts),
        seeds=_int_list(seeds),
        sweep_options=sweep_options,
        progress=not no_progress,
        command=_command_line(),
        on_step=None if as_json or no_progress else lambda label: click.echo(f"[{label}]", err=True),
    )
    if as_json:
        _echo_json({"forecast": str(path), "sweep": summary.to_dict(), "document": document})
    else:
        click.echo(summary.message())
        _echo_forecast(document)
        click.echo(f"wrote {path}")
    if summary.failed or document["emergence_point"]["status"] != "found":
        sys.exit(1)


# -- entry point ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a user error prints one line and exits 2 (a traceback only with --debug)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="emergence", standalone_mode=False)
    except EmergenceError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        if debug:
            raise
        click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

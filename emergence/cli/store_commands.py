"""Commands on the store and on results and forecasts in files: specs, store info/release/upgrade, ingest,
import, export, and where the built-in pieces are."""

from __future__ import annotations

import time
from pathlib import Path

import click

from emergence.cli.group import cli
from emergence.cli.options import check_new_file, json_option, store_option
from emergence.cli.render import echo_json
from emergence.errors import EmergenceError


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
        echo_json(model.model_dump(mode="json"))
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
        echo_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key:>20}  {value}")


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
        echo_json({"released": [{"worker": w, "runs": n, "why": reasons[w]} for w, n in released.items()],
                   "live": live.to_dict("records")})  # fmt: skip
        return
    for worker, n in released.items():
        click.echo(f"released {n} job(s) of {worker}: {reasons[worker]}")
    if not released:
        click.echo("no claims of dead sweeps")
    for row in live.itertuples(index=False):
        ago = max(0.0, time.time() - row.heartbeat)
        ago = f"{ago:.0f} s ago" if ago < 120 else f"{ago / 60:.0f} min ago"
        click.echo(
            f"left {row.runs} job(s) of {row.worker}: alive (heartbeat {ago}); --worker to release them anyway"
        )


@store.command("upgrade")
@store_option
def store_upgrade(store_path):
    """Migrate a store written by an older emergence to this version's schema (every row is kept)."""
    from emergence.store import Store

    with Store(store_path, create=False) as st:
        click.echo(f"{store_path}: schema version {st.schema_version}")


@cli.command()
@json_option
def paths(as_json: bool) -> None:
    """Where this installation keeps its built-in tasks, dashboard, specs and shipped demo run."""
    from emergence import builtin

    found = {
        "tasks": builtin.tasks_dir(), "dashboard": builtin.dashboard_app(), "specs": builtin.specs_dir(),
        "shipped_store": builtin.shipped_store(),
    }  # fmt: skip
    if as_json:
        echo_json({k: str(v) for k, v in found.items()})
    else:
        for key, value in found.items():
            click.echo(f"{key:>14}  {value}")
        click.echo(
            f"\nrun the built-in tasks with lm-eval: lm_eval --include_path {found['tasks']} --tasks toy ..."
        )


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
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
    help="lmeval: model -> checkpoint, run, pretraining_loss, params, tokens, flops, data_amount, seed.",
)
@click.option(
    "--n-examples",
    default=None,
    help="Examples per task where the files do not say: a number (olmo), or a task -> examples map "
    "(JSON/YAML/CSV; olmo and lmeval).",
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
    paths, fmt, params_map, models, n_examples, loss_column, warmup_fraction, tasks, replace_checkpoints,
    store_path, as_json,
):  # fmt: skip
    """Put existing results into the store: lm-eval output (0.4 folders, 0.3 result JSON), OLMo ladder
    CSVs, or tidy CSVs; several PATHS are read together.

    Everything is checked first and written in one transaction: bad input stores nothing. A result
    already stored with other values is kept and superseded by the new one.
    """
    import pandas as pd

    from emergence.ingest import read_results
    from emergence.store import Store
    from emergence.table import validate_results

    if n_examples is not None:
        n_examples = int(n_examples) if n_examples.isdigit() and int(n_examples) > 0 else Path(n_examples)
    frames, formats = [], set()
    for path in paths:
        found, frame = read_results(
            path, fmt, params_map=params_map, models=models, n_examples=n_examples, loss_column=loss_column,
            warmup_fraction=warmup_fraction, tasks=list(tasks) or None,
        )  # fmt: skip
        frames.append(frame)
        formats.add(found)
    notes = sorted({note for frame in frames for note in frame.attrs.get("notes", [])})
    rows = pd.concat(frames, ignore_index=True)
    if "source_file" in rows:  # a file reached through two of the paths given is read once
        rows = rows.drop_duplicates(["source_file", "row_label", "checkpoint", "task", "metric"])
    rows = validate_results(rows, ", ".join(map(str, paths)))
    fmt = "+".join(sorted(formats))
    with Store(store_path) as st:
        summary = st.add_results(
            rows, fmt=fmt, source=", ".join(map(str, paths)), replace_checkpoints=replace_checkpoints
        )
    summary["warnings"] = [*notes, *summary["warnings"]]
    if as_json:
        echo_json(summary)
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
        click.echo(f"note: {warning}", err=True)


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
def export(task, metric, out, results_csv, overwrite, store_path, as_json):  # fmt: skip
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
        check_new_file(path, overwrite)
    paths = [write_document(d, p) for d, p in targets]
    if results_csv is not None:
        write_tidy(results, results_csv)
    if as_json:
        echo_json({"forecasts": [str(p) for p in paths], "results": results_csv and str(results_csv)})
        return
    for p in paths:
        click.echo(f"wrote {p}")
    if results_csv is not None:
        click.echo(f"wrote {results_csv} ({len(results)} results)")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@json_option
def import_(paths, store_path, as_json):
    """Import forecast JSON files (each validated against the schema; all or none). They are kept as
    imported forecasts beside the store's own and never replace a forecast computed here."""
    from emergence.forecast import import_documents, read_document
    from emergence.store import Store

    for p in paths:  # every file is checked before the store is opened
        read_document(p)
    with Store(store_path) as st:
        stored = import_documents(st, paths)
    if as_json:
        echo_json([{"task": d["task"], "metric": d["metric"], "id": i, "new": new} for d, i, new in stored])
        return
    new = sum(n for *_, n in stored)
    again = f" ({len(stored) - new} already there)" if new < len(stored) else ""
    click.echo(f"imported {new} forecast(s) into {store_path}{again}, marked imported")

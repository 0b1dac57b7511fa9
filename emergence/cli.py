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
    """Create the store if missing, and print its schema version and row counts."""
    from emergence.store import Store

    with Store(store_path) as st:
        info = {"store": str(store_path), "schema_version": st.schema_version, **st.counts()}
    if as_json:
        _echo_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key:>16}  {value}")


@cli.command()
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    default=Path("data/specs/toy-demo.yaml"),
    show_default=True,
    help="The demo sweep spec.",
)
def demo(spec_path: Path) -> None:
    """The main job on the embedded default (toy ladder, SQLite store, local executor)."""
    from emergence.config import SweepSpec
    from emergence.store import Store

    sweep = SweepSpec.from_yaml(spec_path)
    with Store(sweep.store) as st:
        version, counts = st.schema_version, st.counts()
    click.echo(
        f"spec {spec_path}: {len(sweep.tasks)} task(s) x {len(sweep.data_amounts)} data amounts "
        f"x {len(sweep.seeds)} seed(s); store {sweep.store} (schema v{version}, {counts['runs']} runs)"
    )


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

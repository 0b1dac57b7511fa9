"""The `emergence` command line: parses, calls the library, prints. Exit codes: 0 ok, 1 failed, 2 bad input.

Commands live by subject: store_commands (specs, the store, ingest, import, export), forecast_commands
(fit, forecast, backtest), harness_commands (sweep, ladder, run, demo); options and render hold what
they share.
"""

from __future__ import annotations

import sys

import click

from emergence.cli import forecast_commands, harness_commands, store_commands  # noqa: F401 (they register)
from emergence.cli.group import cli
from emergence.errors import EmergenceError, describe

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a user error prints one line and exits 2 (a traceback only with --debug)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = False
    try:
        with cli.make_context("emergence", args) as ctx:
            debug = bool(ctx.params.get("debug"))
            cli.invoke(ctx)
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
        click.echo(f"error: {describe(exc)} (run with --debug for the traceback)", err=True)
        sys.exit(1)

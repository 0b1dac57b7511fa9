"""The `emergence` command group; command modules register their commands on it."""

from __future__ import annotations

import click

from emergence import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emergence")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Forecast when a capability emerges, by finetuning a ladder of small checkpoints."""

"""The command line as a user meets it (emergence.cli): help, JSON output, --debug, one-line errors, exit 2."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from emergence.cli import cli
from emergence.store import Store


def emergence(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "emergence.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_and_version():
    out = emergence("--help")
    assert out.returncode == 0 and "Forecast when a capability emerges" in out.stdout
    assert emergence("--version").stdout.strip().startswith("emergence, version")


def test_store_info_json(tmp_path):
    out = emergence("store", "info", "--store", str(tmp_path / "s.sqlite"), "--json")
    assert out.returncode == 2 and "no store at" in out.stderr and not (tmp_path / "s.sqlite").exists()
    Store(tmp_path / "s.sqlite").close()
    out = emergence("store", "info", "--store", str(tmp_path / "s.sqlite"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs"] == 0


def test_bad_spec_is_one_line_exit_2(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("ladder: {toy: {}}\ntasks: [t]\ndata_amounts: [-1]\n")
    out = emergence("spec", "check", str(path))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "data_amounts.0" in out.stderr and "Traceback" not in out.stderr
    debug = emergence("--debug", "spec", "check", str(path))
    assert "Traceback" in debug.stderr


def test_unwritable_store_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    csv = tmp_path / "r.csv"
    csv.write_text(
        "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\nt,acc,c,3,0,0,0.5,10\n"
    )
    out = emergence("ingest", str(csv), "--store", str(blocker / "s.sqlite"))
    assert out.returncode == 2 and out.stderr.startswith("error: cannot open the store")


@pytest.mark.parametrize("command", ["ingest", "fit", "forecast", "backtest", "export", "import", "sweep", "run",
                                     "demo", "paths", "store", "ladder", "spec", "plan"])  # fmt: skip
def test_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output and "--help" in result.output


def test_debug_is_the_groups_flag(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("nothing: here\n")
    quiet = emergence("spec", "check", str(path))
    loud = emergence("--debug", "spec", "check", str(path))
    assert "Traceback" not in quiet.stderr and quiet.stderr.startswith("error: ")
    assert "Traceback" in loud.stderr and "EmergenceError" in loud.stderr


def test_demo_with_a_bad_spec_fails_before_starting_anything(tmp_path):
    r = emergence("demo", "--spec", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert (
        r.returncode == 2
        and r.stderr.strip().splitlines()[-1] == f"error: no such spec file: {tmp_path / 'nope.yaml'}"
    )
    assert (
        "dashboard" not in r.stdout and not (tmp_path / "runs").exists()
    )  # no dashboard started, nothing made

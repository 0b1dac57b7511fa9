"""The CLI in process (`main`), and a store of OLMo-format results to run it on."""

import json

import pytest

from tests.builders import run_cli
from tests.tables import write_olmo_ladder


@pytest.fixture
def run(capsys):
    """Run `emergence ARGS...` in process: (exit code, stdout, stderr)."""

    def invoke(*args):
        return run_cli(capsys, *args)

    return invoke


@pytest.fixture
def store(tmp_path, run):
    path = tmp_path / "s.sqlite"
    code, out, _ = run("ingest", write_olmo_ladder(tmp_path / "ladder"), "--store", path, "--json")
    assert code == 0 and json.loads(out)["runs"] == 72
    return path

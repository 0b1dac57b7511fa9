"""The CLI in process (`main`), and a store of OLMo-format results to run it on."""

import json

import pytest

from emergence.cli import main
from tests.tables import write_olmo_ladder


@pytest.fixture
def run(capsys):
    """Run `emergence ARGS...` in process: (exit code, stdout, stderr)."""

    def invoke(*args):
        try:
            main(list(map(str, args)))
            code = 0
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


@pytest.fixture
def store(tmp_path, run):
    path = tmp_path / "s.sqlite"
    code, out, _ = run("ingest", write_olmo_ladder(tmp_path / "ladder"), "--store", path, "--json")
    assert code == 0 and json.loads(out)["runs"] == 72
    return path

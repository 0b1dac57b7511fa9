"""quiet_libraries (emergence/ladder/quiet.py): transformers' bars and notices stay off the screen."""

import os
import subprocess
import sys

from tests.builders import ROOT

SAVE_AND_LOAD = """
import sys
from emergence.ladder.quiet import quiet_libraries
from tests.builders import save_tiny_llama

quiet_libraries()
save_tiny_llama(sys.argv[1])  # transformers draws "Writing model shards" here, unless quieted
from transformers import AutoModelForCausalLM
AutoModelForCausalLM.from_pretrained(sys.argv[1])  # and "Loading weights" here
assert "datasets" not in sys.modules  # a ladder build does not pay for importing it
"""


def test_saving_and_loading_a_checkpoint_prints_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_DATASETS_DISABLE", "TRANSFORMERS_"))}
    run = subprocess.run([sys.executable, "-c", SAVE_AND_LOAD, str(tmp_path / "ck")], capture_output=True,
                         text=True, cwd=ROOT, env=env | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == "" and run.stdout == "", run.stderr

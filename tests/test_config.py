"""Specs: valid files load with defaults; every mistake is one line naming the file and the field."""

import pytest

from emergence.config import LadderSpec, SweepSpec
from emergence.errors import EmergenceError

GOOD = """
store: out/store.sqlite
ladder:
  toy: {reduced: true}
tasks: [toy_sum]
data_amounts: [0, 64, 256]
seeds: [0, 1]
finetune: {method: lora, learning_rate: 1.0e-4}
"""


def _write(tmp_path, text, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_sweep_spec_round_trips(tmp_path):
    spec = SweepSpec.from_yaml(_write(tmp_path, GOOD))
    assert spec.store == tmp_path / "out/store.sqlite"  # relative to the spec's folder
    assert spec.finetune.method == "lora" and spec.finetune.epochs == 2.0
    assert spec.ladder.toy.reduced
    again = SweepSpec.from_yaml(_write(tmp_path, spec.to_yaml(), "again.yaml"))
    assert again == spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("data_amounts", "data_amount"),
            "unknown field 'data_amount' (did you mean 'data_amounts'?)",
        ),
        (GOOD.replace("learning_rate", "learning_rat"), "unknown field 'finetune.learning_rat'"),
        (  # nothing close: the fields that level takes
            GOOD.replace("reduced: true", "micro: true"),
            "unknown field 'ladder.toy.micro'; ladder.toy takes out_dir, reduced, seed, sizes",
        ),
        (GOOD + "colour: red\n", "unknown field 'colour'; the spec takes data_amounts, eval, executor"),
        (
            GOOD.replace("[0, 64, 256]", "[0, -64, 256]"),
            "data_amounts.1: Input should be greater than or equal to 0",
        ),
        (GOOD.replace("method: lora", "method: qlora"), "finetune.method: Input should be 'full' or 'lora'"),
        (GOOD.replace("[0, 1]", "[0, 0]"), "seeds: values must be unique"),
        (GOOD.replace("tasks: [toy_sum]", "tasks: [missing/task.yaml]"), "tasks: no such file or folder"),
        (GOOD.replace("tasks: [toy_sum]", ""), "tasks: required field is missing"),
        (
            GOOD.replace("reduced: true", "reduced: maybe"),
            "ladder.toy.reduced: Input should be a valid boolean",
        ),
        ("store: [unclosed", "not valid YAML at line 1"),
        ("- a\n- b\n", "expected a mapping of fields"),
    ],
)
def test_bad_sweep_spec_is_one_clear_line(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(EmergenceError) as info:
        SweepSpec.from_yaml(path)
    message = str(info.value)
    assert expected in message
    assert message.startswith(str(path)) and "\n" not in message


def test_missing_spec_file(tmp_path):
    with pytest.raises(EmergenceError, match="no such spec file"):
        SweepSpec.from_yaml(tmp_path / "nope.yaml")


def test_ladder_of_local_checkpoints(tmp_path):
    (tmp_path / "ck1").mkdir()
    good = "checkpoints:\n  - {id: a, path: ck1, pretraining_loss: 3.1, params: 1.0e6}\n"
    spec = LadderSpec.from_yaml(_write(tmp_path, good, "ladder.yaml"))
    assert spec.checkpoints[0].path == tmp_path / "ck1"
    assert not spec.checkpoints[0].trust_remote_code
    for text, expected in [
        (good.replace("ck1", "ck2"), "checkpoints.0.path: no such file or folder"),
        (good.replace("pretraining_loss: 3.1, ", ""), "has no pretraining_loss"),
        (good.replace("path: ck1", "path: ck1, hub: org/model"), "exactly one of 'path'"),
        (good.replace("3.1", "-3.1"), "checkpoints.0.pretraining_loss: Input should be greater than 0"),
        ("name: empty\n", "give either 'toy'"),
    ]:
        with pytest.raises(EmergenceError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            LadderSpec.from_yaml(_write(tmp_path, text, "ladder.yaml"))


def test_sweep_names_a_ladder_file(tmp_path):
    (tmp_path / "ladder.yaml").write_text("toy: {seed: 3}\n")
    spec = SweepSpec.from_yaml(_write(tmp_path, "ladder: ladder.yaml\ntasks: [toy_sum]\n"))
    assert spec.ladder.toy.seed == 3
    (tmp_path / "ladder.yaml").write_text("toy: {sede: 3}\n")
    with pytest.raises(
        EmergenceError, match=r"ladder.yaml: unknown field 'toy.sede' \(did you mean 'seed'\?\)"
    ):
        SweepSpec.from_yaml(tmp_path / "sweep.yaml")

"""Property tests: random and mutated spec files either load or raise one clear EmergenceError."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence.config import LadderSpec, SweepSpec
from emergence.errors import EmergenceError

VALID = """store: out.sqlite
ladder:
  toy: {reduced: true, seed: 1}
tasks: [toy_sum, toy_mc]
data_amounts: [0, 64, 256]
seeds: [0, 1]
finetune: {method: lora, learning_rate: 1.0e-4, epochs: 2, batch_size: 8}
eval: {num_fewshot: 3, limit: 100}
executor: {kind: local, workers: 1}
"""

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load(tmp_path, text: str, model=SweepSpec):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    try:
        model.from_yaml(path)
    except EmergenceError as exc:
        message = str(exc)
        assert message and "\n" not in message and str(path) in message


@SETTINGS
@given(st.text(alphabet=string.printable, max_size=300))
def test_random_text(tmp_path, text):
    _load(tmp_path, text)
    _load(tmp_path, text, LadderSpec)


@SETTINGS
@given(st.data())
def test_mutated_valid_spec(tmp_path, data):
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, max(len(text) - 1, 0)))
        op = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        char = data.draw(st.sampled_from(list(":{}[]-,'\"\n #0-1e.xy!&*|>%@`")))
        if op == "delete":
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + char + text[i:]
        elif op == "replace":
            text = text[:i] + char + text[i + 1 :]
        else:
            text = text[:i]
    _load(tmp_path, text)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            ["store", "ladder", "tasks", "data_amounts", "seeds", "finetune", "eval", "executor", "x"]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=6,
        ),
    )
)
def test_random_structures(tmp_path, data):
    import yaml

    _load(tmp_path, yaml.safe_dump(data))

"""Reading the user's files (emergence.files): one-line refusals naming the file; CSV formula escapes."""

import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.files import csv_text, read_csv, read_json, read_text, read_yaml


def test_binary_and_undecodable_files_are_named(tmp_path):
    for data in (b"\x89PNG\r\n\x1a\n\x00\x00", b"\xff\xfe\xfa"):
        path = tmp_path / "f.yaml"
        path.write_bytes(data)
        with pytest.raises(EmergenceError) as info:
            read_text(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_yaml_key_given_twice_is_refused_at_any_depth(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("a: 1\nb:\n  c: 2\n  c: 3\n")
    with pytest.raises(EmergenceError, match="key 'c' appears twice in one mapping \\(lines 3 and 4\\)"):
        read_yaml(path)
    path.write_text("a: [{x: 1}, {x: 2}]\n")
    assert read_yaml(path) == {"a": [{"x": 1}, {"x": 2}]}


def test_json_constants_are_refused(tmp_path):
    path = tmp_path / "f.json"
    path.write_text('{"a": NaN}')
    with pytest.raises(EmergenceError, match="NaN is not valid JSON"):
        read_json(path)


def test_csv_cells_that_would_start_a_formula_round_trip(tmp_path):
    frame = pd.DataFrame(
        {"name": ["=1+1", "+x", "-y", "@z", "'q", "plain"], "value": [1.0, -2.0, 3, 4, 5, 6]}
    )
    text = csv_text(frame)
    assert "'=1+1" in text and "\n-2" not in text.replace(",-2", "")  # numbers are left alone
    (tmp_path / "f.csv").write_text(text)
    back = read_csv(tmp_path / "f.csv")
    assert back["name"].tolist() == frame["name"].tolist()

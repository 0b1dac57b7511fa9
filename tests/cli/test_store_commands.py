"""ingest / import / export: refusals as a user meets them."""

import json
import subprocess
import sys

from emergence.builtin import shipped_store

TASK = ["--task", "hellaswag_val_rc_5shot", "--metric", "len_norm"]
FAST = ["--n-boot", "0"]
SHIPPED = shipped_store()


def test_bad_forecast_json_is_refused_with_its_path(tmp_path, run):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema_version": "1.0", "task": "t"}))
    code, _, err = run("import", path, "--store", tmp_path / "s.sqlite")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "bad.json: $: 'metric' is a required property" in err
    path.write_text('{"schema_version": "1.0", "task": "t", "metri')
    code, _, err = run("import", path, "--store", tmp_path / "s.sqlite")
    assert code == 2 and "the file looks truncated" in err


def test_one_line_error_in_a_real_process(tmp_path, run):
    bad = tmp_path / "results.csv"
    bad.write_text(
        "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\nt,acc,c,3,0,0,1.5,10\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "emergence.cli", "ingest", str(bad), "--store", str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "line 2: accuracy must be a fraction within [0, 1], not a percentage (got 1.5)" in out.stderr

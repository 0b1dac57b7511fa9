"""Untrusted files: weights from safetensors only, a checkpoint's code only when asked, YAML only through
safe loading, `!function` task code only from the user's own task folders, never from an upload, the
dashboard on loopback, and uploads that never write outside the store or run anything.

Covered elsewhere: a folder with only pickled weights is refused (tests/harness/test_run_job.py), bad
uploads change nothing (tests/dashboards/test_app.py), the shipped loopback config (same file).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emergence.config import CheckpointSpec, LadderSpec, SweepSpec
from emergence.errors import EmergenceError
from emergence.ingest import read_lmeval
from emergence.ladder.checkpoints import checkpoint_identity
from emergence.store import Store
from tests.builders import ROOT
from tests.tables import write_lmeval


def _evil_module(folder: Path, marker: Path, body: str = "") -> str:
    """Python that leaves ``marker`` behind when it runs."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n{body}"


# -- checkpoints -------------------------------------------------------------------------------------------
def test_pickled_weights_are_not_loaded_even_beside_a_safetensors_file(two_checkpoints, tmp_path):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from emergence.ladder.checkpoints import load_checkpoint

    folder = tmp_path / "pickled"
    shutil.copytree(two_checkpoints[0][1], folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the same weights, as a pickle
    save_file({"x": torch.zeros(1)}, folder / "stray.safetensors")  # passes a glob for *.safetensors
    with pytest.raises(OSError, match="model.safetensors"):
        load_checkpoint(checkpoint_identity(CheckpointSpec(id="p", path=folder, pretraining_loss=1.0)))


def test_a_checkpoints_own_code_runs_only_with_trust_remote_code(two_checkpoints, tmp_path, monkeypatch):
    import transformers.dynamic_module_utils as dynamic

    from emergence.ladder.checkpoints import load_checkpoint

    folder, marker = tmp_path / "custom", tmp_path / "code-ran"
    shutil.copytree(two_checkpoints[0][1], folder)
    config = json.loads((folder / "config.json").read_text())
    config |= dict(
        model_type="custom_llama",
        architectures=["CustomModel"],
        auto_map={"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.CustomModel"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(
        _evil_module(folder, marker, "from transformers import LlamaConfig, LlamaForCausalLM\n"
                     "class CustomConfig(LlamaConfig):\n    model_type = 'custom_llama'\n"
                     "class CustomModel(LlamaForCausalLM):\n    config_class = CustomConfig\n")
    )  # fmt: skip
    spec = CheckpointSpec(id="c", path=folder, pretraining_loss=1.0)
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_checkpoint(checkpoint_identity(spec))
    assert not marker.exists()

    # asked for explicitly in the ladder spec: the code runs (transformers copies it to a cache; keep it here)
    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    trusted = CheckpointSpec(id="c", path=folder, pretraining_loss=1.0, trust_remote_code=True)
    model, _ = load_checkpoint(checkpoint_identity(trusted))
    assert marker.exists() and type(model).__name__ == "CustomModel"


# -- YAML --------------------------------------------------------------------------------------------------
PYTHON_TAG = "!!python/object/apply:os.system ['touch {marker}']"


@pytest.mark.parametrize("where", ["sweep spec", "ladder spec", "models map"])
def test_yaml_never_constructs_python_objects(tmp_path, where):
    marker = tmp_path / "code-ran"
    tag = PYTHON_TAG.format(marker=marker)
    path = tmp_path / "file.yaml"
    if where == "sweep spec":
        path.write_text(f"ladder: {{toy: {{}}}}\ntasks: [t]\nstore: {tag}\n")
        load = lambda: SweepSpec.from_yaml(path)  # noqa: E731
    elif where == "ladder spec":
        path.write_text(f"name: {tag}\ntoy: {{}}\n")
        load = lambda: LadderSpec.from_yaml(path)  # noqa: E731
    else:
        write_lmeval(tmp_path / "out", samples=False)
        path.write_text(f"- model: models/ck-3__d256__s1\n  pretraining_loss: {tag}\n")
        load = lambda: read_lmeval(tmp_path / "out", models=path)  # noqa: E731
    with pytest.raises(EmergenceError) as info:
        load()
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
UNSAFE_LOADERS = {"Loader", "UnsafeLoader", "FullLoader"}


def test_the_code_loads_yaml_only_through_safe_load():
    """Every YAML read in the package and the dashboard goes through yaml.safe_load (an AST scan)."""
    found = []
    for path in [*(ROOT / "emergence").rglob("*.py"), *(ROOT / "dashboards").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "yaml"
            ) and node.attr in UNSAFE_YAML | UNSAFE_LOADERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: yaml.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "yaml":
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: from yaml import {a.name}" for a in node.names
                          if a.name in UNSAFE_YAML | UNSAFE_LOADERS]  # fmt: skip
    assert found == []


# -- lm-eval `!function` -----------------------------------------------------------------------------------
def test_function_tags_run_from_the_users_own_task_folder(task_yaml, tmp_path):
    """A task YAML of the user's (named in their spec) may carry Python, as lm-eval allows."""
    from emergence.harness.sweep import check_tasks

    folder, marker = tmp_path / "mytask", tmp_path / "code-ran"
    folder.mkdir()
    (folder / "utils.py").write_text(
        _evil_module(folder, marker, "def text(doc):\n    return doc['question']\n")
    )
    text = task_yaml.read_text().replace("task: tiny_mc", "task: tiny_mc_fn")
    (folder / "t.yaml").write_text(
        text.replace("doc_to_text: '{{question}}'", "doc_to_text: !function utils.text")
    )
    check_tasks([str(folder / "t.yaml")])
    assert marker.exists()


@pytest.fixture
def dashboard_store(tmp_path) -> Path:
    from emergence.dashboards.demo_store import build_store

    path = tmp_path / "store" / "store.sqlite"
    path.parent.mkdir()
    build_store(path, ("arith_sum",), n_checkpoints=4, failed=0, pending=0)
    return path


def _upload(store: Path, kind: str, files: list[tuple[str, bytes]], models: tuple[str, bytes] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=120)
    at.session_state["store_path"] = str(store)
    at.run()
    at.switch_page("views/import_export.py").run()
    at.radio(key="upload_kind").set_value(kind).run()
    uploaders = {u.label: u for u in at.get("file_uploader")}
    if models is not None:
        uploaders["Models map (optional)"].set_value((*models, "application/octet-stream"))
    value = [(name, content, "application/octet-stream") for name, content in files]
    uploaders["Files"].set_value(value if len(value) > 1 else value[0]).run()
    assert not at.exception, at.exception
    return at


def test_an_upload_never_runs_code(dashboard_store, tmp_path, monkeypatch, restore_main_module):
    """A models map that is really a task YAML with `!function` (and a Python tag): refused as data,
    nothing imported or run, nothing stored; results JSON whose configs name `!function` stay data."""
    code, marker = tmp_path / "code", tmp_path / "code-ran"
    code.mkdir()
    (code / "evil.py").write_text(_evil_module(code, marker, "def text(doc):\n    return ''\n"))
    monkeypatch.syspath_prepend(str(code))  # were anything to resolve `evil.text`, it would find it
    before = Store(dashboard_store).counts()
    results = tmp_path / "out"
    sub = write_lmeval(
        results, samples=False, extra={"configs": {"toy_mc": {"doc_to_text": "!function evil.text"}}}
    )
    results_json = next(sub.glob("results_*.json")).read_bytes()
    task_yaml = (
        "task: evil\ndataset_path: json\ndoc_to_text: !function evil.text\n"
        f"- model: x\n  pretraining_loss: {PYTHON_TAG.format(marker=marker)}\n"
    ).encode()
    at = _upload(dashboard_store, "lm-eval results (results_*.json)", [("results_a.json", results_json)],
                 models=("models.yaml", task_yaml))  # fmt: skip
    assert any(e.value.startswith("Refused, nothing was stored") for e in at.error), [
        e.value for e in at.error
    ]
    assert Store(dashboard_store).counts() == before and not marker.exists()

    at = _upload(dashboard_store, "lm-eval results (results_*.json)", [("results_a.json", results_json)])
    assert not at.error, [e.value for e in at.error]
    at.button(key="upload_import").click().run()
    assert Store(dashboard_store).counts()["runs"] > before["runs"] and not marker.exists()


def test_an_upload_never_writes_outside_the_store(
    dashboard_store, tmp_path, monkeypatch, restore_main_module
):
    from emergence.dashboards.demo_store import simulated_rows

    monkeypatch.chdir(tmp_path)
    rows = simulated_rows(("new_task",), seed=3)  # another ladder: its checkpoints get names of their own
    csv = (
        rows.assign(checkpoint="other-" + rows["checkpoint"])
        .drop(columns=["flops"])
        .to_csv(index=False)
        .encode()
    )
    escape = tmp_path / "escaped.csv"
    names = [f"../../../../../../..{escape}", str(tmp_path / "abs.csv"), "../up.csv"]
    snapshot = sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("store.sqlite"))
    for name in names:
        at = _upload(dashboard_store, "Tidy results CSV", [(name, csv)])
        assert not at.error, [e.value for e in at.error]
        at.button(key="upload_import").click().run()
        assert not at.exception and not at.error
    assert "new_task" in set(Store(dashboard_store).results()["task"])
    assert sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("store.sqlite")) == snapshot
    assert not (tmp_path.parent / "up.csv").exists()


# -- the dashboard listens on loopback only ----------------------------------------------------------------
def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                out.add(address)
    return out


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from /proc (Linux)"
)
@pytest.mark.parametrize("how", ["emergence demo's launcher", "streamlit run app.py in dashboards/"])
def test_the_dashboard_listens_on_loopback_only(tmp_path, how):
    from emergence import demo

    port = demo.free_port(8599)
    if how.startswith("emergence"):
        proc, _ = demo.start_dashboard(port, tmp_path / "dashboard.log")
    else:  # as the README says to start it by hand: its .streamlit/config.toml decides the address
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=ROOT / "dashboards", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _listening(port) and time.monotonic() < deadline:
            assert proc.poll() is None, "the dashboard exited at start"
            time.sleep(0.2)
        assert _listening(port) and _listening(port) <= LOOPBACK, _listening(port)
    finally:
        proc.terminate()
        proc.wait(30)

"""What tests build and share across folders: tiny checkpoints, a tiny lm-eval task, quick sweep specs,
a plain lm-eval run to compare with.

Plain functions, not fixtures and not tests: each folder's conftest.py wraps what it needs in fixtures.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
"""The repository."""


def tiny_llama(tokenizer, *, seed: int = 0, hidden: int = 16, layers: int = 1, max_positions: int = 128):
    """A randomly initialised Llama sized for the toy char tokenizer (seeded)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_tiny_llama(folder, *, seed: int = 0, hidden: int = 16, layers: int = 1):
    """A tiny_llama with the toy char tokenizer, saved as safetensors."""
    from emergence.ladder.toy.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    model = tiny_llama(tokenizer, seed=seed, hidden=hidden, layers=layers)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def tiny_ladder(root: Path, widths=(8, 16, 24)) -> list[tuple[str, Path]]:
    """Tiny checkpoints of rising width, saved under ``root``: a list of (id, folder)."""
    out = []
    for i, hidden in enumerate(widths):
        folder = root / f"ck{i}"
        save_tiny_llama(folder, seed=i, hidden=hidden)
        out.append((f"ck{i}", folder))
    return out


def write_task(folder, name: str = "tiny_mc", n_train: int = 64, n_test: int = 16):
    """A multiple-choice lm-eval task (is a+b even or odd?) as a YAML (data paths absolute: lm-eval
    resolves them against the current directory)."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        rows = []
        for _ in range(n):
            a, b = rng.randrange(10), rng.randrange(10)
            rows.append(dict(question=f"{a}+{b} is", label=(a + b) % 2))
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / f"{name}.yaml"
    path.write_text(
        f"task: {name}\n"
        "dataset_path: json\n"
        f"dataset_kwargs: {{data_files: {{train: {folder / 'train.jsonl'}, test: {folder / 'test.jsonl'}}}}}\n"
        "output_type: multiple_choice\n"
        "training_split: train\n"
        "test_split: test\n"
        "doc_to_text: '{{question}}'\n"
        "doc_to_choice: ['even', 'odd']\n"
        "doc_to_target: label\n"
        "metric_list: [{metric: acc, aggregation: mean, higher_is_better: true}]\n"
    )
    return path


def lm_eval_run(lm, task, **kwargs) -> dict:
    """Plain lm-eval's results and logged samples of one task (``simple_evaluate`` as its docs show it)."""
    from lm_eval import simple_evaluate

    res = simple_evaluate(
        model=lm, tasks=[task], log_samples=True, bootstrap_iters=0, verbosity="ERROR", **kwargs
    )
    name = next(iter(res["results"]))
    return dict(results=res["results"][name], samples=res["samples"][name])


def write_spec(folder: Path, ladder, tasks, *, data_amounts=(0, 8), store: Path | None = None) -> Path:
    """A quick sweep YAML over ``ladder`` (a list of (id, folder)): 2 finetuning steps, 8 test examples."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = dict(
        store=str(store or folder / "store.sqlite"),
        ladder=dict(
            checkpoints=[dict(id=n, path=str(p), pretraining_loss=5.0 - i) for i, (n, p) in enumerate(ladder)]
        ),
        tasks=[str(t) for t in tasks],
        data_amounts=list(data_amounts),
        seeds=[0],
        finetune=dict(method="full", learning_rate=1e-3, epochs=2, batch_size=4),
        eval=dict(limit=8, batch_size=8),
    )
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@contextmanager
def read_only(path: Path):
    """Make ``path`` unwritable for this process: immutable for root (who ignores modes), else mode 0444."""
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a file read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run `emergence ARGS...` in process: (exit code, stdout, stderr)."""
    from emergence.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err

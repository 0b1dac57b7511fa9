"""Tiny checkpoints and a tiny lm-eval task, made here in seconds, for harness tests."""

import json
import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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


@pytest.fixture(scope="session")
def tiny_ladder(tmp_path_factory):
    """Three tiny checkpoints of rising width: a list of (id, folder)."""
    root = tmp_path_factory.mktemp("ladder")
    out = []
    for i, hidden in enumerate((8, 16, 24)):
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


@pytest.fixture(scope="session")
def micro_toy_ladder(tmp_path_factory):
    """The toy world's micro ladder (two checkpoints, trained in seconds): a list of (id, folder)."""
    from emergence.ladder.sources import checkpoints_from_table
    from emergence.ladder.toy.build import build_toy_ladder

    table = build_toy_ladder(tmp_path_factory.mktemp("toy"), seed=0, sizes=["micro"], progress=False)
    return [(c.id, c.path) for c in checkpoints_from_table(table)]


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("task"))

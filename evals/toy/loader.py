"""Loads a toy task's jsonl splits from the folder beside this file, wherever the repo is cloned.

lm-eval resolves `data_files` against the current directory; `custom_dataset: !function` is resolved
against the YAML's folder, so the data travel with the YAML.
"""

from pathlib import Path

import datasets

HERE = Path(__file__).resolve().parent


def load(task: str, **_metadata) -> datasets.DatasetDict:
    """DatasetDict with "train" (finetuning pool) and "test" splits of a toy task."""
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_json(str(HERE / "data" / f"{task}_{split}.jsonl"))
            for split in ("train", "test")
        }
    )

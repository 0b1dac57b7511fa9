"""lm-eval output folders: ``results_<date>.json`` files written by lm-eval 0.4.x (``--output_path``).

Results files are read in the folder or one level down (one sub-folder per model), with
``samples_<task>_<date>.jsonl`` beside them when the run logged samples (they give the number of
examples). lm-eval does not know the pretraining loss or the finetuning data amount: give them per model
in a ``models`` map (CSV, JSON or YAML; keys ``model`` and any of ``checkpoint, family, step, params,
tokens, flops, pretraining_loss, data_amount, seed``). ``model`` matches the results' ``model_name``, the
sanitized name, the ``pretrained=`` argument or the folder name. Unmapped models become few-shot runs
(data_amount 0, seed 0) on a checkpoint named after the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from emergence.errors import EmergenceError
from emergence.files import read_json, read_text
from emergence.ingest.maps import number, read_mapping

# lm-eval metrics that are not accuracies in [0, 1]; they are not ingested.
NOT_ACCURACY = {"perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte", "likelihood"}
MODEL_MAP_KEYS = ("checkpoint", "family", "step", "params", "tokens", "flops", "pretraining_loss")


def read_lmeval(path: str | Path, *, models: str | Path | dict | None = None) -> pd.DataFrame:
    """Rows of an lm-eval 0.4.x output folder (or one results_*.json); see the module docstring.

    Args:
        path: the ``--output_path`` folder, a model's sub-folder, or a results JSON.
        models: model -> checkpoint metadata and data_amount/seed (a dict or a CSV/JSON/YAML file).
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("results_*.json")) + sorted(path.glob("*/results_*.json"))
        if not files:
            raise EmergenceError(f"{path}: no lm-eval results_*.json found (in it or one folder down)")
    else:
        raise EmergenceError(f"no such file or folder: {path}")
    mapping = {} if models is None else read_mapping(models, what="models map")
    for name, meta in mapping.items():
        if not isinstance(meta, dict):
            raise EmergenceError(f"models map: {name} must map to fields such as pretraining_loss")
        unknown = set(meta) - {*MODEL_MAP_KEYS, "data_amount", "seed"}
        if unknown:
            raise EmergenceError(
                f"models map: {name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                f"allowed: {', '.join((*MODEL_MAP_KEYS, 'data_amount', 'seed'))}"
            )
    frames = [_read_lmeval_file(f, mapping) for f in files]
    rows = pd.concat(frames, ignore_index=True)
    # a task evaluated again later for the same model: the newest results file wins
    return rows.drop_duplicates(["checkpoint", "task", "metric", "data_amount", "seed"], keep="last")


def _lmeval_model(data: dict, path: Path) -> tuple[str, list[str]]:
    """The model's display name and every name it may be mapped by."""
    names = []
    for key in ("model_name", "model_name_sanitized"):
        if isinstance(data.get(key), str) and data[key]:
            names.append(data[key])
    config = data.get("config")
    if isinstance(config, dict):
        args = config.get("model_args")
        if isinstance(args, dict) and isinstance(args.get("pretrained"), str):
            names.append(args["pretrained"])
        elif isinstance(args, str):
            for part in args.split(","):
                key, _, value = part.partition("=")
                if key.strip() == "pretrained" and value.strip():
                    names.append(value.strip())
    if path.parent.name:
        names.append(path.parent.name)
    names = list(dict.fromkeys(names))
    if not names:
        raise EmergenceError(f"{path}: cannot tell which model these results are for")
    sanitized = data.get("model_name_sanitized")
    label = sanitized if isinstance(sanitized, str) and sanitized else re.sub(r"[^\w.-]+", "__", names[0])
    return label, names


def _check_lmeval_version(data: Any, path: Path) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise EmergenceError(f"{path}: not an lm-eval results file (no 'results' mapping)")
    version = data.get("lm_eval_version")
    if isinstance(version, str) and re.match(r"^\d+\.\d+", version) and not version.startswith("0.4."):
        raise EmergenceError(f"{path}: written by lm-eval {version}; only the 0.4.x layout is supported")
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            raise EmergenceError(f"{path}: results.{task} must be a mapping of metrics")
        flat = [k for k in metrics if k not in ("alias", "name", "sample_len", "sample_count")]
        if flat and not any("," in str(k) for k in flat):
            raise EmergenceError(
                f"{path}: results.{task} has metric keys without a filter (e.g. '{flat[0]}'): that is "
                "lm-eval 0.3 output; only the 0.4.x layout ('acc,none') is supported"
            )
    return data


def _sample_counts(path: Path, task: str) -> dict[str, int] | None:
    """Examples per filter from samples_<task>_<date>.jsonl beside a results file, if it is there."""
    date = path.stem.removeprefix("results_")
    name = f"samples_{task}_{date}.jsonl"
    if Path(name).name != name or "\0" in name:  # a task name lm-eval could not have written a file for
        return None
    samples = path.with_name(name)
    if not samples.is_file():
        return None
    docs: dict[str, set] = {}
    for lineno, line in enumerate(read_text(samples).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise EmergenceError(f"{samples}: line {lineno} is not valid JSON (truncated file?)") from None
        if not isinstance(sample, dict):
            raise EmergenceError(f"{samples}: line {lineno} is not a sample record")
        doc = sample.get("doc_id", lineno)
        docs.setdefault(str(sample.get("filter", "none")), set()).add(json.dumps(doc, sort_keys=True))
    return {f: len(d) for f, d in docs.items()}


def _read_lmeval_file(path: Path, mapping: dict) -> pd.DataFrame:
    data = _check_lmeval_version(read_json(path), path)
    label, names = _lmeval_model(data, path)
    meta = next((mapping[n] for n in names if n in mapping), {})
    groups = set(data["groups"]) if isinstance(data.get("groups"), dict) else set()
    subtasks = data.get("group_subtasks")
    if isinstance(subtasks, dict):
        groups |= {g for g, members in subtasks.items() if isinstance(members, list) and members}
    n_samples = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    counted = config.get("model_num_parameters")
    params = meta.get("params", counted if isinstance(counted, int | float) and counted > 0 else None)
    rows = []
    for task, metrics in data["results"].items():
        if task in groups:
            continue
        counts = _sample_counts(path, task)
        for key, value in metrics.items():
            name, comma, filt = str(key).partition(",")
            if not comma or name.endswith("_stderr") or name in NOT_ACCURACY:
                continue
            where = f"{path}: results.{task}.{key}"
            accuracy = number(value, where.rsplit(".", 1)[0], key)
            stderr = metrics.get(f"{name}_stderr,{filt}")
            stderr = (
                float(stderr) if isinstance(stderr, int | float) and not isinstance(stderr, bool) else None
            )
            n = _lmeval_n(counts, filt, n_samples.get(task), metrics.get("sample_len"))
            if n is None:
                raise EmergenceError(
                    f"{path}: cannot tell how many examples {task} used (no n-samples, sample_len or "
                    "samples file); rerun lm-eval with --log_samples"
                )
            rows.append(
                {
                    "task": str(task),
                    "metric": name if filt == "none" else f"{name},{filt}",
                    "checkpoint": str(meta.get("checkpoint", label)),
                    "family": meta.get("family"),
                    "step": meta.get("step"),
                    "params": params,
                    "tokens": meta.get("tokens"),
                    "flops": meta.get("flops"),
                    "pretraining_loss": meta.get("pretraining_loss"),
                    "data_amount": meta.get("data_amount", 0),
                    "seed": meta.get("seed", 0),
                    "accuracy": accuracy,
                    "n_examples": n,
                    "stderr": stderr,
                    "source_file": str(path),
                    "row_label": f"results.{task}.{key}",
                }
            )
    if not rows:
        raise EmergenceError(f"{path}: no accuracy metrics in its results")
    return pd.DataFrame(rows)


def _lmeval_n(counts: dict | None, filt: str, n_samples: Any, sample_len: Any) -> int | None:
    if counts:
        return counts.get(filt) or max(counts.values())
    if isinstance(n_samples, dict):
        effective = n_samples.get("effective", n_samples.get("original"))
        if isinstance(effective, int) and not isinstance(effective, bool) and effective > 0:
            return effective
    if isinstance(sample_len, int) and not isinstance(sample_len, bool) and sample_len > 0:
        return sample_len
    return None

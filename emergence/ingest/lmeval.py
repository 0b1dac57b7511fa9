"""lm-eval results files, as lm-eval writes them: 0.4.x ``results_<date>.json`` (``--output_path``) and the
0.3 layout (one JSON per run, e.g. Pythia's published evals), in a folder searched recursively.

A file's model is a checkpoint: its ``pretrained`` name with the ``revision`` evaluated (``name@step1000``),
so the revisions of one model are separate checkpoints of one training run. lm-eval knows neither the
pretraining loss nor the finetuning data: give them per model in a ``models`` map (CSV, JSON or YAML;
``model`` and any of checkpoint, family, run, step, params, tokens, flops, pretraining_loss, data_amount,
seed); ``model`` matches the model's name with or without its revision, the sanitized name, or the folder.

Examples per task: from ``samples_<task>_<date>.jsonl`` beside a 0.4 file, or its ``n-samples``; in 0.3
files, from an accuracy and its standard error (lm-eval's stderr of a mean of 0/1 scores is
sqrt(p (1 - p) / (n - 1))), or from the ``n_examples`` map given; each assumption is noted. 0.3 runs with
shots name their tasks ``<task>_<n>shot`` (the same task zero-shot is another benchmark). The same
checkpoint, task and metric in two files is kept once when the values agree and refused when they do not.
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
NOT_ACCURACY = {"perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte", "likelihood",
                "likelihood_difference", "ppl"}  # fmt: skip
MODEL_MAP_KEYS = ("checkpoint", "family", "run", "step", "params", "tokens", "flops", "pretraining_loss",
                  "data_amount", "seed")  # fmt: skip


def results_files(path: Path) -> tuple[list[Path], int]:
    """The lm-eval results files at ``path`` (a file, or a folder searched recursively) and how many other
    JSON files the folder holds."""
    if path.is_file():
        return [path], 0
    if not path.is_dir():
        raise EmergenceError(f"no such file or folder: {path}")
    files, others = [], 0
    for candidate in sorted(path.rglob("*.json")):
        if candidate.name.startswith("results_"):  # lm-eval 0.4's own name: a results file, checked as one
            files.append(candidate)
            continue
        try:
            head = read_text(candidate)[:200_000]
        except EmergenceError:
            others += 1
            continue
        if '"results"' in head and ('"config"' in head or '"versions"' in head):
            files.append(candidate)
        else:
            others += 1
    if not files:
        raise EmergenceError(f"{path}: no lm-eval results files found (results_*.json, or 0.3 result JSON)")
    return files, others


def read_lmeval(
    path: str | Path, *, models: str | Path | dict | None = None, n_examples: str | Path | dict | None = None
) -> pd.DataFrame:
    """Rows of lm-eval results files (see the module docstring).

    Args:
        path: an output folder (searched recursively) or one results JSON.
        models: model -> checkpoint metadata and data_amount/seed (a dict or a CSV/JSON/YAML file).
        n_examples: task -> number of examples, for files that do not say (a dict or a file).
    """
    path = Path(path)
    files, others = results_files(path)
    mapping = {} if models is None else read_mapping(models, what="models map")
    for name, meta in mapping.items():
        if not isinstance(meta, dict):
            raise EmergenceError(f"models map: {name} must map to fields such as pretraining_loss")
        unknown = set(meta) - set(MODEL_MAP_KEYS)
        if unknown:
            raise EmergenceError(
                f"models map: {name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                f"allowed: {', '.join(MODEL_MAP_KEYS)}"
            )
    counts = {} if n_examples is None else read_mapping(n_examples, what="examples map")
    notes: set[str] = set()
    rows = pd.concat([_read_file(f, mapping, counts, notes) for f in files], ignore_index=True)
    rows = _one_per_cell(_fill_examples(rows))
    if others:
        notes.add(f"{others} JSON file(s) in {path} are not lm-eval results and were left out")
    rows.attrs["notes"] = sorted(notes)
    return rows


def _fill_examples(rows: pd.DataFrame) -> pd.DataFrame:
    """Examples a file could not tell (an accuracy of 0 or 1 has no informative standard error): the number
    the task's other files gave, the most common one."""
    missing = rows["n_examples"].isna()
    if not missing.any():
        return rows
    known = rows.dropna(subset=["n_examples"]).groupby("task")["n_examples"].agg(lambda n: n.mode().iloc[0])
    rows["n_examples"] = rows["n_examples"].where(~missing, rows["task"].map(known))
    still = rows[rows["n_examples"].isna()]
    if len(still):
        first = still.iloc[0]
        raise EmergenceError(
            f"{first['source_file']}: results.{first['task']} does not say how many examples it used (no accuracy "
            "strictly between 0 and 1 with a standard error in any file); give an examples map (--n-examples)"
        )
    return rows


def _one_per_cell(rows: pd.DataFrame) -> pd.DataFrame:
    """A checkpoint's task and metric measured in two files: kept once if they agree, refused if not."""
    key = ["checkpoint", "task", "metric", "data_amount", "seed"]
    repeated = rows[rows.duplicated(key, keep=False)]
    for _, group in repeated.groupby(key, sort=False):
        if group["accuracy"].nunique() > 1:
            a, b = group["source_file"].iloc[:2]
            first = group.iloc[0]
            raise EmergenceError(
                f"{a} and {b} both measure {first['task']} ({first['metric']}) of checkpoint {first['checkpoint']}, "
                "with different values; give them different checkpoints in a models map, or ingest one of them"
            )
    return rows.drop_duplicates(key, keep="first").reset_index(drop=True)


def _model(data: dict, path: Path) -> tuple[str, str, str | None, list[str]]:
    """(checkpoint id, training run, revision, every name the models map may use) of a results file."""
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(part.partition("=")[::2] for part in args.split(",") if "=" in part)
    args = {str(k).strip(): v for k, v in args.items()} if isinstance(args, dict) else {}
    pretrained = args.get("pretrained")
    revision = args.get("revision")
    if pretrained is None and args.get("save"):  # gpt-neox's evaluation: a checkpoint folder and step
        pretrained, revision = Path(str(args["save"])).name, args.get("iteration")
    names = [str(v).strip() for v in (data.get("model_name"), data.get("model_name_sanitized"), pretrained)
             if isinstance(v, str | int) and str(v).strip()]  # fmt: skip
    if path.parent.name:
        names.append(path.parent.name)
    names = list(dict.fromkeys(names))
    if not names:
        raise EmergenceError(f"{path}: cannot tell which model these results are for")
    sanitized = data.get("model_name_sanitized")
    run = sanitized if isinstance(sanitized, str) and sanitized else re.sub(r"[^\w.-]+", "__", names[0])
    revision = None if revision in (None, "") else str(revision).strip()
    if revision is None:
        return run, run, None, names
    checkpoint = f"{run}@{revision}"
    return checkpoint, run, revision, [f"{n}@{revision}" for n in names] + names


def _layout(data: Any, path: Path) -> str:
    """ "0.4" or "0.3" from a results file's keys (metric keys with a filter, 'acc,none', are 0.4's)."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise EmergenceError(f"{path}: not an lm-eval results file (no 'results' mapping)")
    version = data.get("lm_eval_version")
    if (
        isinstance(version, str)
        and re.match(r"^\d+\.\d+", version)
        and not version.startswith(("0.4.", "0.3."))
    ):
        raise EmergenceError(f"{path}: written by lm-eval {version}; the 0.3 and 0.4.x layouts are supported")
    keys = {}
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            raise EmergenceError(f"{path}: results.{task} must be a mapping of metrics")
        keys[task] = [str(k) for k in metrics if k not in ("alias", "name", "sample_len", "sample_count")]
    if not any("," in k for ks in keys.values() for k in ks):
        return "0.3"
    for task, ks in keys.items():
        if ks and not any("," in k for k in ks):
            raise EmergenceError(
                f"{path}: results.{task} has metric keys without a filter (e.g. '{ks[0]}'), the 0.3 layout, in a "
                "file of the 0.4 layout ('acc,none'); give each run's results in one layout"
            )
    return "0.4"


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


def _read_file(path: Path, mapping: dict, counts: dict, notes: set[str]) -> pd.DataFrame:
    data = read_json(path)
    layout = _layout(data, path)
    checkpoint, run, revision, names = _model(data, path)
    meta = next((mapping[n] for n in names if n in mapping), {})
    groups = set(data["groups"]) if isinstance(data.get("groups"), dict) else set()
    subtasks = data.get("group_subtasks")
    if isinstance(subtasks, dict):
        groups |= {g for g, members in subtasks.items() if isinstance(members, list) and members}
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    counted = config.get("model_num_parameters")
    step = re.fullmatch(r"(?:global_)?step(\d+)", revision or "") or re.fullmatch(r"(\d+)", revision or "")
    identity = {
        "checkpoint": str(meta.get("checkpoint", checkpoint)), "family": meta.get("family"),
        "run": meta.get("run", run), "step": meta.get("step", int(step.group(1)) if step else None),
        "params": meta.get("params", counted if isinstance(counted, int | float) and counted > 0 else None),
        "tokens": meta.get("tokens"), "flops": meta.get("flops"), "pretraining_loss": meta.get("pretraining_loss"),
        "data_amount": meta.get("data_amount", 0), "seed": meta.get("seed", 0), "source_file": str(path),
    }  # fmt: skip
    shots = config.get("num_fewshot") if layout == "0.3" else None
    rows = []
    for task, metrics in data["results"].items():
        if task in groups:
            continue
        name = f"{task}_{int(shots)}shot" if isinstance(shots, int) and shots > 0 else str(task)
        for key, metric, filt, value, stderr in _metrics(metrics, layout):
            n = _examples(path, task, name, filt, metrics, data, counts, layout, notes)
            rows.append({**identity, "task": name, "metric": metric if filt == "none" else f"{metric},{filt}",
                         "accuracy": number(value, f"{path}: results.{task}", key), "n_examples": n,
                         "stderr": stderr, "row_label": f"results.{task}.{key}"})  # fmt: skip
    if not rows:
        raise EmergenceError(f"{path}: no accuracy metrics in its results")
    return pd.DataFrame(rows)


def _metrics(metrics: dict, layout: str):
    """(key, metric, filter, value, stderr) of each accuracy in a task's results."""
    for key, value in metrics.items():
        name, comma, filt = str(key).partition(",")
        if layout == "0.4" and not comma:
            continue
        filt = filt if comma else "none"
        if (
            name.endswith("_stderr")
            or name in NOT_ACCURACY
            or name in ("alias", "name", "sample_len", "sample_count")
        ):
            continue
        stderr = metrics.get(f"{name}_stderr,{filt}" if comma else f"{name}_stderr")
        stderr = float(stderr) if isinstance(stderr, int | float) and not isinstance(stderr, bool) else None
        yield key, name, filt, value, stderr


def _examples(path, task, name, filt, metrics, data, counts, layout, notes) -> int | None:
    if name in counts or task in counts:
        notes.add("examples per task taken from the examples map given")
        return int(number(counts.get(name, counts.get(task)), "examples map", name))
    if layout == "0.4":
        found = _sample_counts(path, task)
        if found:
            return found.get(filt) or max(found.values())
        n_samples = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}
        entry = n_samples.get(task) if isinstance(n_samples.get(task), dict) else {}
        effective = entry.get("effective", entry.get("original"))
        if isinstance(effective, int) and not isinstance(effective, bool) and effective > 0:
            return effective
        sample_len = metrics.get("sample_len")
        if isinstance(sample_len, int) and not isinstance(sample_len, bool) and sample_len > 0:
            return sample_len
        raise EmergenceError(
            f"{path}: cannot tell how many examples {task} used (no n-samples, sample_len or samples file); "
            "rerun lm-eval with --log_samples, or give an examples map (--n-examples)"
        )
    for metric in ("acc", "acc_norm", *metrics):  # 0.3: from an accuracy and its standard error
        p, se = metrics.get(metric), metrics.get(f"{metric}_stderr")
        if isinstance(p, int | float) and isinstance(se, int | float) and 0 < p < 1 and se > 0:
            notes.add(
                "examples per task derived from each accuracy and its standard error, n = p(1-p)/se^2 + 1"
            )
            return max(1, round(p * (1 - p) / se**2 + 1))
    return None  # filled from the task's other files

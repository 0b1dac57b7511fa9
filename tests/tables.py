"""Builders of results in the formats users bring (OLMo ladder logs, lm-eval output, tidy CSV), for tests."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import strategies as st

SIZES = {"190M": 190354176, "370M": 371262464, "760M": 758220288}
LOSS = "eval/c4_en-validation/CrossEntropyLoss"
TASKS = {"hellaswag_val_rc_5shot_len_norm": 0.25, "boolq_val_rc_5shot_acc": 0.5}


def olmo_loss(params, tokens):
    """A ladder whose loss follows L = 1.8 + A / N^0.3 + B / T^0.3 (what the params-tokens law recovers)."""
    return 1.8 + 180.0 / params**0.3 + 330.0 / tokens**0.3


OLMO_ELBOW = 2.9  # the ladder spans about 2.45-3.15 nats, so it crosses the elbow


def olmo_accuracy(loss, chance, rng=None):
    p = np.clip(chance + 0.5 * np.maximum(OLMO_ELBOW - loss, 0.0), 0, 1)
    return p if rng is None else rng.binomial(1000, p) / 1000


def write_olmo_ladder(folder, sizes=SIZES, multipliers=(1, 2), steps=6, params_json=True):
    """OLMo ladder logs in the column format of ../shared/data/olmo-ladder: one CSV per run."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for size, n in sizes.items():
        for mult in multipliers:
            total = 20 * n * mult
            rows = []
            for i in range(1, steps + 1):
                tokens = total * i / steps
                loss = olmo_loss(n, tokens)
                row = {
                    "_step": int(i * 1000 * mult),
                    LOSS: loss,
                    "eval/pile-validation/CrossEntropyLoss": loss + 0.3,
                    "eval/downstream_bpb/hellaswag_val_rc_5shot_bpb": loss / 3,
                }
                for column, chance in TASKS.items():
                    row[f"eval/downstream/{column}"] = olmo_accuracy(loss, chance, rng)
                row |= {
                    "throughput/total_tokens": tokens,
                    "throughput/total_training_Gflops": 6 * n * tokens / 1e9,
                    "optim/learning_rate_group0": 1e-4,
                    "learning_rate_peak": 1e-3,
                    "batch_size_in_tokens": 524288,
                }
                rows.append(row)
            pd.DataFrame(rows).to_csv(folder / f"{size}-{mult}xC.csv", index=False)
    if params_json:
        (folder / "params.json").write_text(json.dumps(sizes))
    return folder


def lmeval_results(model="models/ck-3__d256__s1", mc_acc=0.41, version="0.4.13", extra=None):
    """A results_<date>.json as lm-eval 0.4.x writes it (abridged to the keys it always has)."""
    doc = {
        "results": {
            "toy_mc": {
                "alias": "toy_mc",
                "acc,none": mc_acc,
                "acc_stderr,none": 0.022,
                "acc_norm,none": 0.44,
                "acc_norm_stderr,none": 0.0222,
            },
            "toy_add": {
                "alias": "toy_add",
                "exact_match,strict-match": 0.12,
                "exact_match_stderr,strict-match": "N/A",
                "exact_match,flexible-extract": 0.15,
                "exact_match_stderr,flexible-extract": "N/A",
            },
            "toy_ppl": {"alias": "toy_ppl", "word_perplexity,none": 35.2, "bits_per_byte,none": 1.2},
            "toy_group": {"alias": "toy_group", "acc,none": 0.3, "acc_stderr,none": 0.01},
        },
        "groups": {"toy_group": {"alias": "toy_group", "acc,none": 0.3}},
        "group_subtasks": {"toy_group": ["toy_mc"], "toy_add": [], "toy_ppl": []},
        "configs": {"toy_mc": {"task": "toy_mc", "output_type": "multiple_choice", "num_fewshot": 0}},
        "versions": {"toy_mc": 1.0, "toy_add": 1.0, "toy_ppl": 1.0},
        "n-shot": {"toy_mc": 0, "toy_add": 0, "toy_ppl": 0},
        "higher_is_better": {"toy_mc": {"acc": True, "acc_norm": True}, "toy_add": {"exact_match": True}},
        "n-samples": {
            "toy_mc": {"original": 500, "effective": 400},
            "toy_add": {"original": 300, "effective": 300},
            "toy_ppl": {"original": 50, "effective": 50},
        },
        "config": {
            "model": "hf",
            "model_args": f"pretrained={model},dtype=float32",
            "model_num_parameters": 840000,
            "batch_size": 32,
            "limit": 400.0,
            "bootstrap_iters": 0,
        },
        "git_hash": None,
        "date": 1732400000.0,
        "pretty_env_info": "N/A",
        "transformers_version": "5.23.0",
        "lm_eval_version": version,
        "upper_git_hash": None,
        "task_hashes": {},
        "model_source": "hf",
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "start_time": 1.0,
        "end_time": 2.0,
        "total_evaluation_time_seconds": "1.0",
    }
    doc.update(extra or {})
    return doc


def write_lmeval(
    folder, model="models/ck-3__d256__s1", date="2026-11-24T06-00-00.000001", samples=True, **kw
):
    sub = folder / model.replace("/", "__")
    sub.mkdir(parents=True, exist_ok=True)
    (sub / f"results_{date}.json").write_text(json.dumps(lmeval_results(model, **kw), indent=2))
    if samples:
        with open(sub / f"samples_toy_add_{date}.jsonl", "w") as f:
            for i in range(250):
                for filt in ("strict-match", "flexible-extract"):
                    sample = {"doc_id": i, "doc": {"q": f"{i}+1="}, "target": str(i + 1), "arguments": {},
                              "resps": [["x"]], "filtered_resps": ["x"], "filter": filt,
                              "metrics": ["exact_match"], "doc_hash": "h", "prompt_hash": "p",
                              "target_hash": "t", "exact_match": 0.0}  # fmt: skip
                    f.write(json.dumps(sample) + "\n")
    return sub


MODELS = {
    "models/ck-3__d256__s1": {
        "checkpoint": "ck-3",
        "pretraining_loss": 2.8,
        "params": 4.7e6,
        "tokens": 2e8,
        "data_amount": 256,
        "seed": 1,
    }
}


# -- valid files and their mutations (property tests) ------------------------------------------------------
def valid_files() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_olmo_ladder(Path(tmp) / "l", sizes={"190M": 190354176}, multipliers=(1,), steps=4)
        olmo = (folder / "190M-1xC.csv").read_text()
    tidy = (
        "task,metric,checkpoint,pretraining_loss,params,tokens,flops,data_amount,seed,accuracy,n_examples\n"
        "t,acc,c0,3.1,1e6,1e8,6e14,0,0,0.25,500\nt,acc,c0,3.1,1e6,1e8,6e14,64,0,0.31,500\n"
        "t,acc,c1,2.9,2e6,1e8,1.2e15,64,1,0.42,500\n"
    )
    return {"olmo": olmo, "tidy": tidy, "lmeval": json.dumps(lmeval_results(), indent=1)}


VALID = valid_files()


mutation = st.tuples(
    st.sampled_from(["truncate", "delete", "insert", "replace", "swap_lines", "blank_cell"]),
    st.floats(0, 1),
    st.floats(0, 1),
    st.text(alphabet=st.sampled_from(list(',"\n\r{}[]:-.e0123456789naNIfinity\\ \t\x00é')), max_size=12),
)


def mutate(text: str, how: str, u: float, v: float, piece: str) -> str:
    i, j = sorted((int(u * len(text)), int(v * len(text))))
    if how == "truncate":
        return text[:i]
    if how == "delete":
        return text[:i] + text[j:]
    if how == "insert":
        return text[:i] + piece + text[i:]
    if how == "replace":
        return text[:i] + piece + text[i + len(piece) :]
    lines = text.splitlines()
    if not lines:
        return text
    a, b = int(u * (len(lines) - 1)), int(v * (len(lines) - 1))
    if how == "swap_lines":
        lines[a], lines[b] = lines[b], lines[a]
    else:
        cells = lines[a].split(",")
        cells[int(v * (len(cells) - 1))] = piece
        lines[a] = ",".join(cells)
    return "\n".join(lines)

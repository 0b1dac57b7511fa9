"""Harness speed on the toy ladder: finetuning tokens/s, lm-eval against a bare forward pass, a whole sweep.

    .venv/bin/python benchmarks/harness_speed.py [--ladder runs/toy-ladder] [--sizes xs,s,m,l] [--docs 200]

Prints, per toy size: finetuning tokens/s and the FLOP/s it implies (6 x params x tokens/s) against the
CPU's fp32 limit; evaluation examples/s through lm-eval (`evaluate`) and through a bare batched forward
pass over the very same requests, batch size and threads, both warmed up, best of interleaved repeats
(the target: lm-eval within 1.5x of the bare pass). The bare pass runs the rows lm-eval runs (requests
that differ only in their last token share a row); the last column compares with a bare pass that runs
a row per request instead, as this benchmark did before. Then the wall time of a small sweep split into
finetune, evaluate, data, load and overhead; and peak memory. Without a built ladder (``--ladder``),
checkpoints of the toy shapes are made with random weights: speed does not depend on what a model has
learned.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

CPU_FP32_FLOPS = 2 * 2.6e9 * 32  # 2 cores x 2.6 GHz x 32 fp32 FLOP/cycle (AVX-512 FMA), see STACK-NOTES
TASK = "toy_sum_choice"
REPEATS = 3
EVAL_REPEATS = 10


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checkpoints(ladder: Path | None, sizes: list[str], out: Path) -> dict[str, Path]:
    """The last checkpoint of each size: from a built ladder, or random weights in the toy shapes."""
    if ladder is not None:
        found = {}
        for size in sizes:
            steps = sorted((ladder / size).glob("step-*"))
            if steps:
                found[size] = steps[-1]
        if found:
            return found
        print(f"(no checkpoints under {ladder}: using random weights in the toy shapes)")
    import torch
    from transformers import LlamaForCausalLM

    from emergence.ladder.toy.tokenizer import build_tokenizer
    from emergence.ladder.toy.train import SIZES

    tokenizer = build_tokenizer()
    found = {}
    for size in sizes:
        torch.manual_seed(0)
        model = LlamaForCausalLM(SIZES[size].config(len(tokenizer)))
        model.save_pretrained(out / size)
        tokenizer.save_pretrained(out / size)
        found[size] = out / size
    return found


def finetune_speed(folder: Path, examples: list[dict], batch_size: int = 16) -> dict:
    from emergence.harness.finetune import finetune
    from emergence.ladder.checkpoints import load_checkpoint

    model, tokenizer = load_checkpoint({"id": folder.name, "path": str(folder)})
    params = sum(p.numel() for p in model.parameters())
    tokens = sum(
        len(tokenizer(e["prompt"] + e["target"], add_special_tokens=False)["input_ids"]) for e in examples
    )
    finetune(
        model, tokenizer, examples[:batch_size], epochs=1, batch_size=batch_size, copy_model=False
    )  # warm
    seconds = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        finetune(model, tokenizer, examples, epochs=1, batch_size=batch_size, copy_model=False)
        seconds = min(seconds, time.perf_counter() - start)
    return dict(params=params, tokens_per_s=tokens / seconds, flops_per_s=6 * params * tokens / seconds)


def bare_pass(
    model, tokenizer, requests: list[tuple[str, str]], batch_size: int, *, shared_rows: bool
) -> float:
    """Log-likelihoods of (context, continuation) pairs in padded batches: the floor lm-eval works against.

    With ``shared_rows`` the pass does what lm-eval's HFLM does: requests whose input (all tokens but the
    last) is the same share one row, and only the last token's log-probability differs (for four choices
    that differ in their last digit, one row instead of four). Without it, one row per request.
    """
    import torch

    rows: dict[tuple, tuple[list[int], list[list[int]]]] = {}  # key -> (input ids, continuations scored)
    for i, (context, continuation) in enumerate(requests):
        ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
        cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
        inputs = (ctx + cont)[:-1]
        rows.setdefault(tuple(inputs) if shared_rows else (i,), (inputs, []))[1].append(cont)
    encoded = sorted(rows.values(), key=lambda row: -len(row[0]))  # as lm-eval: longest first
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(encoded), batch_size):
            batch = encoded[i : i + batch_size]
            batch_inputs = torch.zeros((len(batch), max(len(ids) for ids, _ in batch)), dtype=torch.long)
            for row, (ids, _) in enumerate(batch):
                batch_inputs[row, : len(ids)] = torch.tensor(ids)
            logprobs = model(batch_inputs).logits.log_softmax(-1)
            for row, (ids, conts) in enumerate(batch):
                end = len(ids)
                for cont in conts:
                    target = torch.tensor(cont)
                    logprobs[row, end - len(cont) : end].gather(-1, target[:, None]).sum().item()
    return time.perf_counter() - start


def evaluate_speed(folder: Path, docs: int, batch_size: int = 32) -> dict:
    """lm-eval (`evaluate`) against bare passes over the same requests, batch size and threads."""
    from emergence.harness.evaluate import evaluate
    from emergence.harness.tasks import load_task
    from emergence.ladder.checkpoints import load_checkpoint

    model, tokenizer = load_checkpoint({"id": folder.name, "path": str(folder)})
    task = load_task(TASK)
    task.build_all_requests(limit=docs, rank=0, world_size=1)
    requests = [inst.arguments for inst in task.instances]
    # warm both: task index, dataset, imports, lm-eval's first call; torch's kernels for these shapes
    evaluate(model, tokenizer, TASK, limit=docs, batch_size=batch_size)
    bare_pass(model, tokenizer, requests, batch_size, shared_rows=True)
    seconds = dict(lm_eval=float("inf"), bare=float("inf"), bare_per_request=float("inf"))
    for _ in range(EVAL_REPEATS):  # interleaved, the best of each: the machine is shared
        start = time.perf_counter()
        result = evaluate(model, tokenizer, TASK, limit=docs, batch_size=batch_size)
        seconds["lm_eval"] = min(seconds["lm_eval"], time.perf_counter() - start)
        for name, shared in (("bare", True), ("bare_per_request", False)):
            seconds[name] = min(
                seconds[name], bare_pass(model, tokenizer, requests, batch_size, shared_rows=shared)
            )
    n = result["n_examples"]
    return dict(
        n=n,
        requests=len(requests),
        lm_eval_per_s=n / seconds["lm_eval"],
        bare_per_s=n / seconds["bare"],
        ratio=seconds["lm_eval"] / seconds["bare"],
        ratio_per_request=seconds["lm_eval"] / seconds["bare_per_request"],
    )


def sweep_split(folders: dict[str, Path], store: Path, amounts: list[int], limit: int) -> dict:
    from emergence.config import CheckpointSpec, SweepSpec
    from emergence.harness.sweep import run_sweep

    ladder = [
        CheckpointSpec(id=f"bench-{size}", path=path, pretraining_loss=1.0) for size, path in folders.items()
    ]
    spec = SweepSpec.from_dict(
        dict(
            store=str(store),
            ladder=dict(checkpoints=[c.model_dump(mode="json", exclude_none=True) for c in ladder]),
            tasks=[TASK],
            data_amounts=amounts,
            seeds=[0],
            finetune=dict(epochs=1, batch_size=16),
            eval=dict(limit=limit, batch_size=32),
        )
    )
    summary = run_sweep(spec)
    return summary.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladder", type=Path, default=None, help="A built toy ladder folder.")
    parser.add_argument("--sizes", default="xs,s,m,l", help="Toy sizes, comma-separated.")
    parser.add_argument("--examples", type=int, default=256, help="Finetuning examples per timing.")
    parser.add_argument("--docs", type=int, default=200, help="Evaluation examples per timing.")
    parser.add_argument("--sweep-amounts", default="0,32,128", help="Data amounts of the timed sweep.")
    parser.add_argument("--sweep-limit", type=int, default=100, help="Evaluation limit in the timed sweep.")
    args = parser.parse_args()
    sizes = args.sizes.split(",")

    import torch

    from emergence.harness.lm_eval_speedups import installed_version, speed_up_lm_eval
    from emergence.harness.tasks import task_examples

    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, load {os.getloadavg()[0]:.1f}")
    speed_ups = "on" if speed_up_lm_eval() else "off (plain lm-eval)"
    print(f"lm-eval {installed_version()}: speed-ups {speed_ups}")
    print(f"CPU fp32 limit: {CPU_FP32_FLOPS / 1e9:.0f} GFLOP/s")
    with tempfile.TemporaryDirectory() as tmp:
        folders = checkpoints(args.ladder, sizes, Path(tmp))
        examples = task_examples(TASK, "train")[: args.examples]

        print(f"\nfinetuning ({TASK}, {len(examples)} examples, batch 16, full, fp32)")
        print(f"{'size':>6} {'params':>10} {'tokens/s':>10} {'GFLOP/s':>9} {'of limit':>9}")
        for size, folder in folders.items():
            r = finetune_speed(folder, examples)
            print(
                f"{size:>6} {r['params']:>10,} {r['tokens_per_s']:>10,.0f} {r['flops_per_s'] / 1e9:>9.1f} "
                f"{r['flops_per_s'] / CPU_FP32_FLOPS:>9.0%}"
            )

        print(f"\nevaluation ({TASK}, {args.docs} examples, batch 32, model loaded, {threads} threads)")
        print(
            f"{'size':>6} {'requests':>9} {'lm-eval ex/s':>13} {'bare ex/s':>10} {'lm-eval/bare':>13}"
            f" {'(bare, a row per request)':>26}"
        )
        for size, folder in folders.items():
            r = evaluate_speed(folder, args.docs)
            print(
                f"{size:>6} {r['requests']:>9} {r['lm_eval_per_s']:>13.1f} {r['bare_per_s']:>10.1f} "
                f"{r['ratio']:>12.2f}x {r['ratio_per_request']:>25.2f}x"
            )

        amounts = [int(a) for a in args.sweep_amounts.split(",")]
        print(
            f"\nsweep ({len(folders)} checkpoints x {TASK} x data amounts {amounts}, limit {args.sweep_limit})"
        )
        s = sweep_split(folders, Path(tmp) / "bench.sqlite", amounts, args.sweep_limit)
        wall = s["wall_s"]
        print(f"  {s['message']}")
        for part in ("finetune_s", "evaluate_s", "data_s", "load_s", "overhead_s"):
            print(f"  {part[:-2]:>9}: {s[part]:7.1f} s  ({s[part] / wall:.0%})")
    print(f"\npeak memory (max RSS of this process): {peak_rss_mb():.0f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Training throughput of each toy ladder size: tokens/s and the share of this CPU's fp32 limit.

Usage: python benchmarks/train_speed.py [--world arithmetic|knowledge] [--sizes xs,s,m,l] [--steps 6]
                                       [--threads 2] [--peak-gflops 166] [--compile]

FLOPs per step are counted as 6 * params * tokens (attention not counted), the ladder's own formula.
The fp32 limit of the 2-core AMD EPYC here is about 2 cores x 2.6 GHz x 32 FLOP/cycle = 166 GFLOP/s.
Measure on a quiet machine: another busy process makes 2-thread torch several times slower.

--compile measures what the ladder does not do: fused AdamW and the loss compiled by inductor (attention
written out for it to fuse, deterministic kernels), its compile time spent in the two warm-up steps.
The ladder trains eagerly: a compiled size rounds differently, and the knowledge world's l then trains to
another ladder (docs/toy-world.md, "Cost").
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from transformers import LlamaForCausalLM

from emergence.ladder.toy.train import count_params
from emergence.ladder.toy.worlds import WORLDS, ToyWorld


def measure(world: ToyWorld, name: str, steps: int, compile: bool = False) -> tuple[int, float]:
    """(params, tokens/s) of `steps` training steps of a size, after two warm-up steps."""
    size = world.sizes[name]
    torch.manual_seed(0)
    model = LlamaForCausalLM(size.config(len(world.tokenizer())))
    optimizer = torch.optim.AdamW(model.parameters(), lr=size.lr, fused=compile or None)

    def loss(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=inputs).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))

    if compile:
        model.set_attn_implementation("eager")
        loss = torch.compile(loss)
    batch = torch.randint(4, 60, (size.batch_size, size.seq_len + 1))
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        loss(batch[:, :-1], batch[:, 1:]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return count_params(model), steps * size.tokens_per_step / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="arithmetic", choices=list(WORLDS))
    parser.add_argument("--sizes", default=None, help="default: the world's full ladder")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--peak-gflops", type=float, default=166.0)
    parser.add_argument("--compile", action="store_true", help="fused AdamW and an inductor-compiled loss")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.compile:  # as a ladder would need: without it two compiled runs of a size train differently
        torch.use_deterministic_algorithms(True, warn_only=True)
    print(
        f"threads={args.threads} peak={args.peak_gflops:.0f} GFLOP/s load={os.getloadavg()[0]:.2f} "
        f"{'compiled' if args.compile else 'eager, as the ladder trains'}"
    )
    print(f"{'size':>5} {'params':>9} {'batch':>8} {'tokens/s':>9} {'GFLOP/s':>8} {'of peak':>7}")
    world = WORLDS[args.world]
    for name in args.sizes.split(",") if args.sizes else world.ladder:
        params, tps = measure(world, name, args.steps, args.compile)
        gflops = 6 * params * tps / 1e9
        size = world.sizes[name]
        print(
            f"{name:>5} {params / 1e6:8.2f}M {size.batch_size:>3}x{size.seq_len:<4} {tps:9.0f} {gflops:8.1f} "
            f"{gflops / args.peak_gflops:7.0%}"
        )


if __name__ == "__main__":
    main()

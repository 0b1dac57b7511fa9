"""What the knowledge world's checkpoints store about the test people, and how far ahead a backtest can see.

    python benchmarks/toy_knowledge_recall.py [LADDER ...] [--store data/demo/store.sqlite]

For each checkpoint of the built ladders (each LADDER a folder with a ladder.csv; default
runs/knowledge-ladder, which `emergence sweep data/specs/knowledge-full.yaml` builds), in order of FLOPs,
the share of greedy next words that are right, with no examples and no finetuning, on a line as
pretraining writes it:
- city: a test person's city after a biography template ("p150 lives in" -> c81), over the 240 test people;
- table: a city's country ("c81 is in" -> k8), over the 100 cities;
- hop: the country after the two-hop question and the right city ("which city and country is p150 from ?
  c81" -> k8), over the test people: the second hop in the benchmark's format.

Finetuning on other people's answers can teach the format and the second hop, not a test person's city. So
a finetuned curve can rise only where the checkpoints store some of the test people's cities, and a
backtest cutoff sees its first rise no earlier than there. The script prints, for a few levels of city
recall, the first checkpoint reaching it and how many times fewer FLOPs it used than the first checkpoint
that emerged few-shot (its loss below know_country_qa's few-shot elbow, fitted on the store's few-shot
results with the task's chance and the sigmoid, as the backtest's reference is): about the furthest ahead a
backtest on that ladder can see. The elbow is the store's (by default the shipped seed-0 run's), also for a
ladder built with another seed. A few seconds in all on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd
import torch
from transformers import LlamaForCausalLM

from emergence.builtin import known_chance
from emergence.errors import EmergenceError
from emergence.forecast import fit_table
from emergence.ladder.quiet import quiet_libraries
from emergence.ladder.toy.worlds import knowledge_world
from emergence.law import EmergenceLaw
from emergence.law.backtest import fewshot_elbow
from emergence.store import Store

ROOT = Path(__file__).resolve().parent.parent
TASK, METRIC = "know_country_qa", "exact_match"
LEVELS = (0.05, 0.10, 0.25)


def probes() -> dict[str, tuple[list[str], list[str]]]:
    """Probe name -> (prompts, right next words); every prompt of a probe has the same number of words."""
    w = knowledge_world()
    test, cities = [int(p) for p in w.test], range(w.config.n_cities)
    return {
        "city": ([f"\n p{p} lives in" for p in test], [w.value("city", p) for p in test]),
        "table": ([f"\n c{c} is in" for c in cities], [f"k{w.city_country[c]}" for c in cities]),
        "hop": (
            [f"\n {w.two_hop_question(p)} {w.value('city', p)}" for p in test],
            [w.country(p) for p in test],
        ),
    }


@torch.no_grad()
def recall(model: LlamaForCausalLM, prompts: list[str], answers: list[str]) -> float:
    vocab = knowledge_world().vocab
    ids = torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts])
    best = model(input_ids=ids).logits[:, -1].argmax(-1)
    return float((best == torch.tensor([vocab[a] for a in answers])).float().mean())


def first_emerged_flops(ladder: pd.DataFrame, store_path: Path) -> tuple[float, float]:
    """The few-shot elbow the backtest measures against, and the FLOPs of the first checkpoint below it."""
    with Store(store_path, read_only=True) as store:
        table = fit_table(store.results(), TASK, METRIC)
    law = EmergenceLaw(link="sigmoid", chance=known_chance(TASK))
    elbow = fewshot_elbow(table[table["data_amount"] == 0], law)
    below = ladder[ladder["pretraining_loss"] < elbow]
    return elbow, float(below["flops"].min()) if len(below) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ladders", nargs="*", default=[str(ROOT / "runs" / "knowledge-ladder")])
    ap.add_argument("--store", default=str(ROOT / "data" / "demo" / "store.sqlite"))
    args = ap.parse_args()
    quiet_libraries()
    torch.set_num_threads(2)
    missing = [d for d in args.ladders if not (Path(d) / "ladder.csv").is_file()]
    if missing:
        raise SystemExit(f"error: no ladder.csv in {', '.join(missing)}: build the knowledge ladder first "
                         "(emergence sweep data/specs/knowledge-full.yaml builds runs/knowledge-ladder)")  # fmt: skip
    ladder = pd.concat([pd.read_csv(Path(d) / "ladder.csv") for d in args.ladders]).sort_values("flops")
    gone = [p for p in ladder["path"] if not Path(p).is_dir()]
    if gone:
        raise SystemExit(f"error: {len(gone)} checkpoint folders named in ladder.csv do not exist (first: {gone[0]}): "
                         "build the ladder again where it is read, or give the folder it was built in")  # fmt: skip
    try:
        elbow, emerged = first_emerged_flops(ladder, Path(args.store))
    except EmergenceError as exc:
        raise SystemExit(f"error: {exc}") from None
    rows, start, checks = [], time.perf_counter(), probes()
    print(f"{'checkpoint':<22} {'FLOPs':>9} {'loss':>6} " + " ".join(f"{k:>6}" for k in checks))
    for ck in ladder.itertuples():
        model = LlamaForCausalLM.from_pretrained(ck.path).eval()
        row = {"checkpoint": ck.checkpoint_id, "flops": ck.flops, "loss": ck.pretraining_loss}
        row |= {name: recall(model, *probe) for name, probe in checks.items()}
        rows.append(row)
        print(f"{ck.checkpoint_id:<22} {ck.flops:9.3g} {ck.pretraining_loss:6.3f} "
              + " ".join(f"{row[k]:6.1%}" for k in checks))  # fmt: skip
    t = pd.DataFrame(rows)
    print(f"{len(t)} checkpoints in {time.perf_counter() - start:.0f} s; few-shot elbow of {TASK} (sigmoid): "
          f"{elbow:.3f} nats; first checkpoint below it: {emerged:.3g} FLOPs")  # fmt: skip
    if math.isnan(emerged):
        print(
            "  no checkpoint of these ladders is below the few-shot elbow: nothing to measure the advance against"
        )
        return
    for level in LEVELS:
        reached = t[t["city"] >= level]
        if reached.empty:
            print(f"  no checkpoint recalls {level:.0%} of the test people's cities")
            continue
        first = reached.iloc[0]
        ratio = emerged / first["flops"]
        ahead = f"{ratio:.2f}x fewer FLOPs than" if ratio >= 1 else f"{1 / ratio:.2f}x the FLOPs of"
        print(f"  first to recall {level:.0%} of the test cities: {first['checkpoint']} ({first['flops']:.3g} "
              f"FLOPs, loss {first['loss']:.3f}): {ahead} the first emerged checkpoint")  # fmt: skip


if __name__ == "__main__":
    main()

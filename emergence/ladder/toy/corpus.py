"""The toy world: a synthetic pretraining corpus about small sums, and the benchmark tasks over it.

One skill runs through the world: adding two numbers below 100 and writing the sum with its digits
reversed (units first, so a left-to-right model can carry): ``58+68=621``. Sums without a carry out of the
units are common in the pretraining text and learned early; sums with one are rare (a fifth of the sum
lines), so the carry is learned late and suddenly. Both benchmarks ask for carried sums in the corpus's
own layout: few-shot, only strong checkpoints get them; finetuning on carried examples adds exactly the
signal pretraining lacks, so it draws the skill out of weaker checkpoints, the more the data the weaker.
Filler sentences make the rest of the text. Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# The wrappings: (name, template). {a} and {b} are the operands, {c} the reversed sum.
WRAPPINGS: dict[str, str] = {
    "plain": "{a}+{b}={c}",
    "qa": "what is {a} plus {b}? {c}",
    "sum": "sum({a},{b}) -> {c}",
}

_NAMES = ["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "joe", "kim", "lou"]
_THINGS = ["apples", "coins", "books", "stones", "cups", "hats", "shells", "keys"]
_PLACES = ["the park", "the shop", "school", "the river", "the hill", "home", "the market"]
_VERBS = ["has", "finds", "sees", "wants", "gives away", "counts", "drops", "keeps"]


@dataclass(frozen=True)
class CorpusConfig:
    """Mixture of the pretraining corpus, as line probabilities by kind (they need not sum to 1)."""

    mixture: dict[str, float] = field(default_factory=lambda: {"plain": 0.79, "filler": 0.21})
    carry_rate: float | None = 0.2
    """Share of sum lines whose units carry (None: operands uniform, about 0.45). Rare carries make the
    carry a late, sudden skill that finetuning data can bring forward."""
    max_operand: int = 99
    """Operands are drawn from 0..max_operand."""


def reversed_sum(a: int, b: int) -> str:
    """The answer of the skill: the digits of a + b, units first."""
    return str(a + b)[::-1]


def sum_line(wrapping: str, a: int, b: int) -> str:
    """One instance of the skill in a wrapping, answer included."""
    return WRAPPINGS[wrapping].format(a=a, b=b, c=reversed_sum(a, b))


def filler_line(rng: random.Random) -> str:
    """A short sentence about people and things; learned early, it keeps the corpus from being all sums."""
    name, thing, place = rng.choice(_NAMES), rng.choice(_THINGS), rng.choice(_PLACES)
    kind = rng.randrange(3)
    if kind == 0:
        return f"{name} {rng.choice(_VERBS)} {rng.randrange(2, 10)} {thing} at {place}."
    if kind == 1:
        return f"{name} and {rng.choice(_NAMES)} go to {place} with the {thing}."
    return f"at {place}, {name} {rng.choice(_VERBS)} the {thing}."


def carries(a: int, b: int) -> bool:
    """Whether the units of a + b carry into the tens."""
    return a % 10 + b % 10 >= 10


def corpus_lines(seed: int, config: CorpusConfig | None = None) -> Iterator[str]:
    """Endless stream of corpus lines, deterministic for (seed, config)."""
    config = config or CorpusConfig()
    rng = random.Random(seed)
    kinds = list(config.mixture)
    weights = [config.mixture[k] for k in kinds]
    pairs = [(a, b) for a in range(config.max_operand + 1) for b in range(config.max_operand + 1)]
    carried = [p for p in pairs if carries(*p)]
    plain = [p for p in pairs if not carries(*p)]
    while True:
        kind = rng.choices(kinds, weights)[0]
        if kind == "filler":
            yield filler_line(rng)
        elif config.carry_rate is None:
            yield sum_line(kind, rng.randint(0, config.max_operand), rng.randint(0, config.max_operand))
        else:
            yield sum_line(kind, *rng.choice(carried if rng.random() < config.carry_rate else plain))


def corpus_text(seed: int, n_chars: int, config: CorpusConfig | None = None) -> str:
    """The first n_chars characters (cut at a line end) of the corpus stream for a seed."""
    parts, total = [], 0
    for line in corpus_lines(seed, config):
        parts.append(line)
        total += len(line) + 1
        if total >= n_chars:
            break
    return "\n".join(parts) + "\n"


# ---- benchmark tasks -----------------------------------------------------------------------------

TASKS = ("toy_sum_qa", "toy_sum_choice")
"""toy_sum_qa: a carried sum in the plain layout, the answer generated and scored by exact match.
toy_sum_choice: the same skill as a 4-way multiple choice."""

TASK_SEED = 1234
N_TRAIN = 2048
N_TEST = {"toy_sum_qa": 500, "toy_sum_choice": 2000}
"""Test items per task. The multiple choice has more, in blocks of four (see `_quadruples`)."""


def _layout(a: int, b: int) -> tuple[str, int]:
    """What the four options of a sum share (its answer after the units digit) and its units digit."""
    right = reversed_sum(a, b)
    return right[1:], int(right[0])


def _windows(units: int) -> list[list[int]]:
    """Every window of four consecutive units digits holding `units`, as its other three digits.

    A carried sum's units digit is 0 to 8 (9 would need units adding to 19), so the windows stay in 0..8."""
    windows = [[d for d in range(s, s + 4) if d != units] for s in range(units - 3, units + 1)]
    return [w for w in windows if all(0 <= d <= 8 for d in w)]


def _option(a: int, b: int, units: int) -> str:
    return str(units) + reversed_sum(a, b)[1:]


def _quadruples(rng: random.Random, pairs: list[tuple[int, int]], n: int) -> list[list[tuple[int, int]]]:
    """n blocks of four sums whose answers share everything after the units digit and whose units digits
    are four consecutive digits, one each; every sum of a block gets the block's four answers as options.

    So each option is right exactly once per block: a model that knows nothing of the units digit scores
    1/4 of every block whatever digits it prefers. Independent draws of three distractors per item leave
    such a model wherever its preference among digits happens to fall (18% to 30% measured on the weakest
    toy checkpoints). The units digit of a carried sum is the digit sum minus ten, the half of the carry
    that exact match must generate first; options that shared it and differed in the tens digit gave that
    half away, and rose at loss 0.875 (59%) where exact match was still at 0.6%. Blocks are anchored on
    `pairs` in order."""
    free: dict[tuple, list[tuple[int, int]]] = {}  # (layout, units digit) -> unused pairs, in order
    for p in pairs:
        free.setdefault(_layout(*p), []).append(p)
    used: set[tuple[int, int]] = set()
    blocks = []
    for p in pairs:
        if len(blocks) == n:
            break
        if p in used:
            continue
        layout, units = _layout(*p)
        windows = [w for w in _windows(units) if all(free.get((layout, d)) for d in w)]
        if not windows:
            continue
        block = [p if d == units else free[layout, d][0] for d in sorted([units, *rng.choice(windows)])]
        rng.shuffle(block)
        used.update(block)
        for q in block:
            free[_layout(*q)].remove(q)
        blocks.append(block)
    if len(blocks) < n:
        raise ValueError(f"only {len(blocks)} blocks of four carried sums can be formed, {n} asked")
    return blocks


def _choice_row(rng: random.Random, a: int, b: int, units_options: list[int]) -> dict:
    """The item's row with its options (the sum's answer with each units digit, shuffled) and label."""
    options = [_option(a, b, u) for u in units_options]
    rng.shuffle(options)
    return _row(a, b) | {"choices": options, "label": options.index(reversed_sum(a, b))}


def task_docs(task: str, seed: int = TASK_SEED) -> dict[str, list[dict]]:
    """Train (finetuning pool) and test docs of a benchmark, disjoint by operand pair.

    The items are sums with a carry out of the units, in the corpus's plain layout: the benchmark asks
    for the part of the skill that the pretraining text shows rarely. The multiple choice's test comes in
    blocks of four sharing their options (`_quadruples`); a train item's options are a window of four
    consecutive units digits around the right one, drawn at random (only the right one is ever shown)."""
    if task not in N_TEST:
        raise ValueError(f"unknown toy task {task!r}; known: {', '.join(TASKS)}")
    rng = random.Random(f"{task}:{seed}")
    pairs = [(a, b) for a in range(100) for b in range(100)]
    rng.shuffle(pairs)
    # Only sums whose units carry: without the carry a model that adds digit by digit, blind to the
    # column before, would score, and the weakest checkpoints would sit above chance.
    pairs = [(a, b) for a, b in pairs if carries(a, b)]
    if task == "toy_sum_qa":
        split = {"test": pairs[: N_TEST[task]], "train": pairs[N_TEST[task] : N_TEST[task] + N_TRAIN]}
        return {name: [_row(a, b) for a, b in items] for name, items in split.items()}
    blocks = _quadruples(rng, pairs, N_TEST[task] // 4)
    test = []
    for block in blocks:
        units = sorted(_layout(*p)[1] for p in block)
        for a, b in block:
            test.append(_choice_row(rng, a, b, units))
    taken = {p for block in blocks for p in block}
    train = []
    for a, b in [p for p in pairs if p not in taken][:N_TRAIN]:
        right = _layout(a, b)[1]
        train.append(_choice_row(rng, a, b, [right, *rng.choice(_windows(right))]))
    return {"test": test, "train": train}


def _row(a: int, b: int) -> dict:
    return {"a": a, "b": b, "question": f"{a}+{b}=", "answer": reversed_sum(a, b)}


def write_task_data(out_dir: str | Path, seed: int = TASK_SEED) -> list[Path]:
    """Write <task>_{train,test}.jsonl for every toy task into out_dir; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in TASKS:
        for split, rows in task_docs(task, seed).items():
            path = out_dir / f"{task}_{split}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
            paths.append(path)
    return paths

"""The knowledge world: people and their facts, a city -> country table, and questions about them.

The skill is bound by capacity, as in real language models: a model must store many independent facts
(each person's city, employer and birth year), learned in order of frequency, so held-out loss acts as a
clock across sizes, and larger models reach a benchmark at lower loss and higher compute.

- People are one-token names at Zipf frequencies; each line states one fact, the name a fixed 2-3 words
  before the value (whole biographies per line left models on a memorisation plateau whose end was an
  optimisation accident, not a function of loss).
- Questions ("which city is p12 from ? c3 .") appear in pretraining only for the most frequent people;
  the benchmarks ask them about people from a middle band of frequency, whose facts are stated but never
  asked: few-shot, a model answers only once it stores those facts and extracts them through the format.
- The two-hop question ("which city and country is p12 from ? c3 k1 .") needs the person's city and that
  city's country. Pretraining states the city -> country table ("c3 is in k1 .") rarely and asks the
  two-hop question only about the most frequent people, so few-shot a model names the city long before it
  writes that city's country. Finetuning on other people's two-hop answers teaches that second hop, so it
  moves the benchmark's emergence to weaker checkpoints (the first 16 examples teach it about as well as
  480: docs/toy-world.md). The country must follow the city directly: with anything between them, models
  keyed the country on the person and nothing transferred to new people.

Everything is deterministic for a seed. Token ids are made here directly from the vocabulary (the
tokenizer splits on spaces and keeps newlines, so text and ids agree).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>", "\n"]
CHUNK_LINES = 4096
TEMPLATE_WORDS = (
    "lives in 's home is moved to works for employed by employer was born birth year turned twenty "
)
TEMPLATE_WORDS += "which city and country from ? ."
BIO = {  # attribute -> the three templates stating it (the value follows)
    "city": ("lives in", "'s home is", "moved to"),
    "employer": ("works for", "is employed by", "'s employer is"),
    "year": ("was born in", "'s birth year is", "turned twenty in"),
}


@dataclass(frozen=True)
class KnowledgeConfig:
    """The world's size and its pretraining line mixture (shares of lines; the rest are biography lines)."""

    n_people: int = 3000
    zipf: float = 1.0
    zipf_offset: float = 10.0
    n_asked: int = 150
    """The most frequent people, whose questions pretraining shows."""
    band: tuple[int, int] = (150, 950)
    """Frequency ranks from which the finetuning pool and the test people are drawn (never asked)."""
    n_test: int = 240
    n_pool: int = 560
    n_cities: int = 100
    n_countries: int = 10
    n_employers: int = 100
    n_years: int = 60
    r_question: float = 0.03
    r_two_hop: float = 0.005
    r_geography: float = 0.02


class KnowledgeWorld:
    """The facts of one world (seeded), its vocabulary, its pretraining stream and its benchmark items."""

    def __init__(self, config: KnowledgeConfig | None = None, seed: int = 0):
        self.config = c = config or KnowledgeConfig()
        rng = np.random.default_rng(seed)
        self.city_country = rng.permutation(np.arange(c.n_cities) % c.n_countries)
        self.facts = {
            "city": rng.integers(0, c.n_cities, c.n_people),
            "employer": rng.integers(0, c.n_employers, c.n_people),
            "year": rng.integers(0, c.n_years, c.n_people),
        }
        weights = 1.0 / (np.arange(c.n_people) + c.zipf_offset) ** c.zipf  # person index = frequency rank
        self.person_p = weights / weights.sum()
        band = rng.permutation(np.arange(*c.band))
        if len(band) < c.n_test + c.n_pool:
            raise ValueError(f"the band {c.band} holds {len(band)} people; {c.n_test + c.n_pool} are needed")
        self.test = np.sort(band[: c.n_test])
        self.pool = band[c.n_test : c.n_test + c.n_pool]  # finetuning people, in a fixed random order

    # -- words -----------------------------------------------------------------------------------------
    def value(self, attribute: str, person: int) -> str:
        v = int(self.facts[attribute][person])
        return {"city": f"c{v}", "employer": f"e{v}", "year": f"y{1940 + v}"}[attribute]

    def country(self, person: int) -> str:
        return f"k{self.city_country[self.facts['city'][person]]}"

    @cached_property
    def words(self) -> list[str]:
        c = self.config
        names = [f"p{i}" for i in range(c.n_people)]
        values = [f"c{i}" for i in range(c.n_cities)] + [f"k{i}" for i in range(c.n_countries)]
        values += [f"e{i}" for i in range(c.n_employers)] + [f"y{1940 + i}" for i in range(c.n_years)]
        return list(dict.fromkeys(SPECIAL_TOKENS + TEMPLATE_WORDS.split() + names + values))

    @cached_property
    def vocab(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    # -- lines -----------------------------------------------------------------------------------------
    @staticmethod
    def question(person: int) -> str:
        return f"which city is p{person} from ?"

    @staticmethod
    def two_hop_question(person: int) -> str:
        return f"which city and country is p{person} from ?"

    def two_hop_answer(self, person: int) -> str:
        return f"{self.value('city', person)} {self.country(person)}"

    def lines(self, seed: int, chunk: int) -> list[str]:
        """Chunk number ``chunk`` (CHUNK_LINES lines) of the pretraining stream for a seed."""
        c, n = self.config, CHUNK_LINES
        rng = np.random.default_rng([seed, chunk])
        kind = rng.random(n)
        people = rng.choice(c.n_people, n, p=self.person_p)
        asked = rng.integers(0, c.n_asked, n)
        attribute, template = rng.integers(0, 3, n), rng.integers(0, 3, n)
        cities = rng.integers(0, c.n_cities, n)
        names = list(BIO)
        out = []
        for i in range(n):
            k = kind[i]
            if k < c.r_question:
                out.append(f"{self.question(asked[i])} {self.value('city', asked[i])} .")
            elif k < c.r_question + c.r_two_hop:
                out.append(f"{self.two_hop_question(asked[i])} {self.two_hop_answer(asked[i])} .")
            elif k < c.r_question + c.r_two_hop + c.r_geography:
                out.append(f"c{cities[i]} is in k{self.city_country[cities[i]]} .")
            else:
                name = names[attribute[i]]
                out.append(f"p{people[i]} {BIO[name][template[i]]} {self.value(name, people[i])} .")
        return out

    def replay_text(self, seed: int, n_tokens: int) -> str:
        """At least n_tokens tokens of the pretraining stream for a seed, as text (whole lines), without a
        line that names a test person: finetuning replays it to keep what the base model stored, and
        replaying the test people's facts would rehearse the benchmarks' answers (docs/toy-world.md)."""
        test = {f"p{p}" for p in self.test}
        lines, n, chunk = [], 0, 0
        while n < n_tokens:
            for line in self.lines(seed, chunk):
                if test.isdisjoint(words := line.split()):
                    lines.append(line)
                    n += len(words) + 1  # its words and its newline
            chunk += 1
        return "\n".join(lines) + "\n"

    def token_ids(self, seed: int, n_tokens: int) -> np.ndarray:
        """The first n_tokens token ids of the pretraining stream for a seed (each line ends with a newline):
        a longer stream continues a shorter one."""
        vocab, ids, chunk = self.vocab, [], 0
        while len(ids) < n_tokens:
            ids += [vocab[w] for line in self.lines(seed, chunk) for w in (*line.split(), "\n")]
            chunk += 1
        return np.asarray(ids[:n_tokens], dtype=np.int64)

    # -- benchmarks ------------------------------------------------------------------------------------
    def task_docs(self, task: str) -> dict[str, list[dict]]:
        """Train (the finetuning pool, also the few-shot examples) and test docs of a benchmark."""
        if task not in TASKS:
            raise ValueError(f"unknown knowledge task {task!r}; known: {', '.join(TASKS)}")
        if task == "know_country_qa":
            return {split: [self._row(p) for p in people] for split, people in self._splits().items()}
        return {split: self._cross_rows(people) for split, people in self._splits().items()}

    def _splits(self) -> dict[str, np.ndarray]:
        return {"train": self.pool, "test": self.test}

    def _row(self, person: int) -> dict:
        return {
            "person": int(person),
            "question": self.two_hop_question(person),
            "answer": self.two_hop_answer(person),
        }

    def _cross_rows(self, people: np.ndarray) -> list[dict]:
        """Blocks of BLOCK people from BLOCK different countries; each is asked to choose among the block's
        cities crossed with the block's countries (BLOCK^2 options, the same for the whole block).

        Log-likelihood scores add up over the answer's two words, so with four options a model that knows
        only the person's city, or only the city's country, would already score half; crossed, either alone
        is worth 1/BLOCK and the two together are needed. A model that knows neither scores 1/BLOCK^2."""
        free, rows = list(people), []
        while True:
            block, countries = [], set()
            for p in free:
                if self.country(p) not in countries:
                    block.append(p)
                    countries.add(self.country(p))
                if len(block) == BLOCK:
                    break
            if len(block) < BLOCK:
                return rows
            free = [p for p in free if p not in block]
            cities = [self.value("city", p) for p in block]
            options = [f"{c} {k}" for c in cities for k in (self.country(p) for p in block)]
            rows += [self._row(p) | {"choices": options, "label": options.index(self.two_hop_answer(p))}
                     for p in block]  # fmt: skip


BLOCK = 10
"""People per block of the multiple choice (options: BLOCK cities x BLOCK countries)."""
TASKS = ("know_country_qa", "know_country_choice")
"""know_country_qa: "which city and country is pX from ?" -> "cY kZ", generated, exact match (chance 0).
know_country_choice: the same question, the answer chosen among 100 (chance 0.01; see `_cross_rows`)."""
CHANCE = {"know_country_qa": 0.0, "know_country_choice": 0.01}


def write_task_data(out_dir: str | Path, seed: int = 0, config: KnowledgeConfig | None = None) -> list[Path]:
    """Write <task>_{train,test}.jsonl of every knowledge task into out_dir; returns the paths."""
    world, out_dir, paths = KnowledgeWorld(config, seed), Path(out_dir), []
    out_dir.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        for split, rows in world.task_docs(task).items():
            path = out_dir / f"{task}_{split}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
            paths.append(path)
    return paths

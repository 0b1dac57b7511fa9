"""Typed specs: the ladder spec and the sweep spec, YAML files validated on load.

Every problem in a spec is one line that names the file, the field and what is allowed, e.g.
``sweep.yaml: data_amounts.2: must be >= 0 (got -5)``. Relative paths resolve against the spec's folder.
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from emergence.errors import EmergenceError
from emergence.files import read_yaml

Model = TypeVar("Model", bound="Spec")
MAX_COUNT = 2**31 - 1
"""The largest count (examples, steps) a spec takes: far above any real sweep, inside every library's ints."""
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
"""Seeds as numpy and torch take them."""


def _resolve(value: Path | None, info: ValidationInfo, *, must_exist: bool = True) -> Path | None:
    if value is None:
        return None
    base = (info.context or {}).get("base", Path.cwd())
    path = Path(os.path.normpath(value if value.is_absolute() else Path(base) / value))
    if must_exist and not path.exists():
        raise ValueError(f"no such file or folder: {path}")
    return path


class Spec(BaseModel):
    """Base of every spec: unknown keys are errors, and specs round-trip to YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_yaml(cls: type[Model], path: str | Path) -> Model:
        """Load and validate a YAML spec file; raises EmergenceError with one clear line."""
        path = Path(path)
        if not path.is_file():
            raise EmergenceError(f"no such spec file: {path}")
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise EmergenceError(
                f"{path}: expected a mapping of fields at the top, got {type(data).__name__}"
            )
        return cls.from_dict(data, source=str(path), base=path.parent)

    @classmethod
    def from_dict(cls: type[Model], data: dict, *, source: str = "<spec>", base: Path | None = None) -> Model:
        """Validate a plain dict (as read from YAML); relative paths resolve against ``base``."""
        try:
            return cls.model_validate(data, context={"base": base or Path.cwd()})
        except ValidationError as exc:
            raise EmergenceError(_one_line(exc, source, cls)) from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    """The field names a (nested) spec takes at ``path``, an error location without its last key."""
    for key in path:
        if isinstance(key, int):  # an item of a list: the list's own model
            continue
        field = model.model_fields.get(str(key))
        args = (*getattr(field.annotation, "__args__", ()), field.annotation) if field else ()
        inner = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return sorted(model.model_fields)


def _one_line(exc: ValidationError, source: str, model: type[BaseModel]) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        known = _fields_at(model, first["loc"][:-1])
        close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
        where = ".".join(str(p) for p in first["loc"][:-1]) or "the spec"
        hint = ""
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        elif known:
            hint = f"; {where} takes {', '.join(known)}"
        message = f"{source}: unknown field '{loc}'{hint}"
    elif first["type"] == "missing":
        message = f"{source}: {loc}: required field is missing"
    else:
        got = first.get("input")
        got_text = "" if isinstance(got, dict | list) else f" (got {got!r})"
        reason = first["msg"].removeprefix("Value error, ")
        message = f"{source}: {loc}: {reason}{got_text}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message


# -- the ladder -------------------------------------------------------------------------------------------
class CheckpointSpec(Spec):
    """One checkpoint of a ladder: a local folder, or a hub id + revision (machines with a hub only)."""

    id: str = Field(description="A unique name for this checkpoint, e.g. 'pythia-160m@step8000'.")
    path: Path | None = Field(None, description="A local folder with config.json and safetensors weights.")
    hub: str | None = Field(None, description="A model id on a hub, e.g. 'EleutherAI/pythia-160m'.")
    revision: str | None = Field(
        None, description="The hub revision (branch, tag or commit), e.g. 'step8000'."
    )
    family: str | None = Field(None, description="The model size/family this checkpoint belongs to.")
    step: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = Field(
        None, description="Training step of the checkpoint."
    )
    params: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None, description="Parameter count (counted if absent)."
    )
    tokens: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="Pretraining tokens seen."
    )
    flops: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="Training FLOPs (6*params*tokens if absent)."
    )
    pretraining_loss: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None,
        description="Held-out pretraining loss in nats/token (measured on the ladder's loss corpus if absent).",
    )
    trust_remote_code: bool = Field(
        False, description="Run the checkpoint's own Python code. Only for sources you trust."
    )

    @field_validator("path")
    @classmethod
    def _path_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info)

    @model_validator(mode="after")
    def _one_source(self) -> CheckpointSpec:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of 'path' (a local folder) or 'hub' (a model id)")
        return self


class ToyLadderSpec(Spec):
    """A built-in toy ladder, trained here on a synthetic corpus."""

    world: Literal["arithmetic", "knowledge"] = Field(
        "arithmetic",
        description="'arithmetic' (a skill learned as a phase change in training time) or 'knowledge' (facts "
        "bound by capacity: loss lines up across sizes, as in real ladders).",
    )
    reduced: bool = Field(False, description="A smaller ladder for a quick demo.")
    sizes: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="Only these model sizes (e.g. ['micro'] for a ladder built in seconds)."
    )
    seed: Seed = Field(0, description="Seed of the corpus and of training.")
    out_dir: Path = Field(
        Path("runs/toy-ladder"), validate_default=True, description="Where the checkpoints are written."
    )

    @field_validator("out_dir")
    @classmethod
    def _out_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info, must_exist=False)


class LadderSpec(Spec):
    """A ladder of checkpoints: the toy ladder, or a list of checkpoints."""

    name: str = Field("ladder", description="A name for the ladder.")
    toy: ToyLadderSpec | None = Field(None, description="Use the built-in toy ladder.")
    checkpoints: list[CheckpointSpec] = Field(
        default_factory=list, description="The checkpoints, weakest first."
    )
    loss_corpus: Path | None = Field(
        None, description="A held-out text file on which pretraining loss is measured when not given."
    )

    @field_validator("loss_corpus")
    @classmethod
    def _corpus_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info)

    @model_validator(mode="after")
    def _has_checkpoints(self) -> LadderSpec:
        if (self.toy is None) == (not self.checkpoints):
            raise ValueError("give either 'toy' (the built-in ladder) or a non-empty list of 'checkpoints'")
        ids = [c.id for c in self.checkpoints]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"checkpoint id '{dup}' appears twice; ids must be unique")
        if self.checkpoints and self.loss_corpus is None:
            missing = [c.id for c in self.checkpoints if c.pretraining_loss is None]
            if missing:
                raise ValueError(
                    f"checkpoint '{missing[0]}' has no pretraining_loss: give it, or a 'loss_corpus' to measure it on"
                )
        return self


# -- the sweep --------------------------------------------------------------------------------------------
def finetune_steps(
    n_examples: int, epochs: float, batch_size: int, min_steps: int = 0, max_steps: int | None = None
) -> int:
    """Optimizer steps of a finetune that runs `epochs` passes over n_examples, at least min_steps and at
    most max_steps (None: no cap)."""
    steps = max(1, min_steps, round(epochs * math.ceil(n_examples / batch_size)))
    return steps if max_steps is None else min(steps, max(1, min_steps, max_steps))


class FinetuneSpec(Spec):
    """How each checkpoint is finetuned on a data amount of task examples."""

    method: Literal["full", "lora"] = Field("full", description="Full finetuning or LoRA (peft).")
    learning_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        3e-4, description="AdamW learning rate."
    )
    epochs: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] = Field(
        2.0, description="Passes over the finetuning examples."
    )
    batch_size: Annotated[int, Field(gt=0, le=65_536)] = Field(16, description="Examples per optimiser step.")
    min_steps: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        0,
        description="At least this many optimiser steps: a small data amount gets more passes instead of a "
        "handful of steps (0: the epochs alone decide).",
    )
    max_steps: Annotated[int, Field(gt=0, le=10_000_000)] | None = Field(
        None,
        description="At most this many optimiser steps: a large data amount gets fewer passes instead of a "
        "longer finetune, so amounts differ in the examples seen, not in how far training drifts from the "
        "checkpoint (forgetting grows with steps). None: the epochs alone decide.",
    )
    prompt: Literal["fewshot", "zeroshot"] = Field(
        "fewshot",
        description="Finetuning prompts as the evaluation asks: 'fewshot' puts its solved examples before each "
        "question, 'zeroshot' gives the bare question.",
    )
    lora_r: Annotated[int, Field(gt=0, le=65_536)] = Field(8, description="LoRA rank.")
    lora_targets: list[str] | None = Field(
        None, description="LoRA target modules (chosen per architecture if absent)."
    )
    replay_corpus: Path | None = Field(
        None,
        description="A text file like the pretraining text: windows of it are mixed into every finetuning step "
        "(loss on all their tokens), so finetuning does not erase what pretraining stored. It must not state the "
        "facts the benchmark's test items ask about, or finetuning rehearses their answers. A toy ladder "
        "writes one (replay.txt) into its folder.",
    )
    replay_windows: Annotated[int, Field(ge=0, le=4096)] = Field(
        0, description="Windows of the replay corpus per step (0: no replay)."
    )
    replay_length: Annotated[int, Field(gt=1, le=65_536)] = Field(48, description="Tokens per replay window.")

    @field_validator("replay_corpus")
    @classmethod
    def _replay_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info, must_exist=False)  # a toy ladder writes it when it is built

    @model_validator(mode="after")
    def _steps_in_order(self) -> FinetuneSpec:
        if self.max_steps is not None and self.max_steps < self.min_steps:
            raise ValueError(
                f"max_steps ({self.max_steps}) is below min_steps ({self.min_steps}): raise max_steps to at "
                "least min_steps, or lower min_steps"
            )
        return self

    @model_validator(mode="after")
    def _replay_needs_a_corpus(self) -> FinetuneSpec:
        if self.replay_windows and self.replay_corpus is None:
            raise ValueError("replay_windows needs a replay_corpus (a text file like the pretraining text)")
        return self

    def examples_seen(self, data_amount: int) -> int:
        """Examples a finetune on data_amount examples processes (steps x batch; 0 for few-shot)."""
        if data_amount == 0:
            return 0
        steps = finetune_steps(data_amount, self.epochs, self.batch_size, self.min_steps, self.max_steps)
        return steps * self.batch_size


class EvalSpec(Spec):
    """How each run is evaluated with lm-eval."""

    num_fewshot: Annotated[int, Field(ge=0, le=10_000)] | None = Field(
        None, description="Shots (the task's default if absent)."
    )
    limit: Annotated[int, Field(gt=0, le=MAX_COUNT)] | None = Field(
        None, description="Evaluate on at most this many examples."
    )
    batch_size: Annotated[int, Field(gt=0, le=65_536)] = Field(32, description="lm-eval batch size.")


class ExecutorSpec(Spec):
    """Where jobs run."""

    kind: Literal["local", "ray"] = Field("local", description="'local' (this machine) or 'ray'.")
    workers: Annotated[int, Field(gt=0, le=4096)] = Field(
        1, description="Parallel workers (one model in memory each)."
    )
    address: str | None = Field(None, description="A Ray cluster address to join (a local Ray if absent).")


class PlannedRun(Spec):
    """One run of a planned sweep (from `emergence plan`): a checkpoint, a data amount and a seed."""

    checkpoint: str = Field(description="A checkpoint id of the ladder.")
    data_amount: Annotated[int, Field(ge=0, le=MAX_COUNT)] = Field(
        description="Finetuning examples (0: few-shot)."
    )
    seed: Seed = Field(0, description="Seed (subset and data order).")


class SweepSpec(Spec):
    """The grid: checkpoints x tasks x data amounts x seeds, and how to run it."""

    store: Path = Field(
        Path("runs/emergence.sqlite"), validate_default=True, description="The SQLite run store."
    )
    ladder: LadderSpec = Field(description="The ladder: inline, or the path of a ladder YAML.")
    tasks: Annotated[list[str], Field(min_length=1)] = Field(
        description="lm-eval task names, built-in task names, or task YAML paths."
    )
    data_amounts: Annotated[list[Annotated[int, Field(ge=0, le=MAX_COUNT)]], Field(min_length=1)] = Field(
        [0, 64, 256, 1024],
        description="Finetuning examples per run; 0 is the few-shot run on the base checkpoint.",
    )
    seeds: Annotated[list[Seed], Field(min_length=1)] = Field(
        [0], description="Seeds (subset and data order)."
    )
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    keep_weights: bool = Field(False, description="Keep finetuned weights after evaluation.")
    runs: list[PlannedRun] | None = Field(
        None,
        description="Only these runs, for each task (as `emergence plan` writes them): they replace the grid "
        "of data_amounts x seeds.",
    )

    @field_validator("store")
    @classmethod
    def _store_path(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info, must_exist=False)

    @field_validator("ladder", mode="before")
    @classmethod
    def _ladder_file(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            path = _resolve(Path(value), info, must_exist=False)
            if not value.strip() or not path.is_file():
                raise ValueError(f"no such ladder file: {path}; give a ladder YAML path or an inline ladder")
            return LadderSpec.from_yaml(path).model_dump()
        return value

    @field_validator("tasks")
    @classmethod
    def _task_files(cls, value: list[str], info: ValidationInfo) -> list[str]:
        out = []
        for task in value:
            if task.endswith((".yaml", ".yml")):
                task = str(_resolve(Path(task), info))
            out.append(task)
        return out

    @field_validator("data_amounts", "seeds")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("values must be unique")
        return sorted(value)

    @model_validator(mode="after")
    def _runs_or_grid(self) -> SweepSpec:
        if self.runs is None:
            return self
        both = sorted({"data_amounts", "seeds"} & self.model_fields_set)
        if both:
            raise ValueError(f"give either 'runs' or '{both[0]}', not both: 'runs' replaces the grid")
        keys = [(r.checkpoint, r.data_amount, r.seed) for r in self.runs]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"run {dup} appears twice in 'runs'")
        return self

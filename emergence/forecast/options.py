"""What a forecast is asked for: how to fit (FitOptions) and where to forecast (Budget)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from emergence.errors import EmergenceError

SUCCESS_NATS = 0.1
"""The paper's criterion: a predicted elbow within 0.1 nats of the truth is a success."""


@dataclass(frozen=True)
class FitOptions:
    """How a forecast is fitted: the method, the emergence law's form, D0, interval level and bootstrap.

    method: "auto" (the chain for a ladder of few-shot results from two or more model sizes with params and
    tokens, else the emergence law), "chain", or "law".
    """

    method: str = "auto"
    link: str = "relu"
    shift: str = "log_power"
    d0: float = 1.0
    chance: float | None = None
    alpha: float = 0.1
    n_boot: int = 200
    seed: int = 0
    n_jobs: int = 2
    backtest: bool = True
    d0_values: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def law(self, **overrides):
        """The emergence-law estimator these options describe (keyword overrides, e.g. link=...)."""
        from emergence.law import EmergenceLaw

        kwargs = {"link": self.link, "shift": self.shift, "d0": self.d0, "chance": self.chance} | overrides
        return EmergenceLaw(**kwargs)

    def with_task_chance(self, table: pd.DataFrame) -> FitOptions:
        """The options with a built-in task's known chance when none is given."""
        if self.chance is None and "task" in table and len(table):
            from emergence.builtin import known_chance

            chance = known_chance(str(table["task"].iloc[0]))
            return self if chance is None else replace(self, chance=chance)
        return self

    def for_table(self, table: pd.DataFrame) -> FitOptions:
        """The options as fitted on ``table``: a built-in task's known chance when none is given; with one
        data amount only (e.g. few-shot ladder logs) the elbow cannot shift, so the shift is "none" and
        there is no D0 to vary."""
        options = self.with_task_chance(table)
        if self.shift != "none" and table["data_amount"].nunique() < 2:
            return replace(options, shift="none", d0_values=())
        return options


@dataclass(frozen=True)
class Budget:
    """A budget to forecast at: FLOPs, params + tokens, or a pretraining loss (exactly one form)."""

    flops: float | None = None
    params: float | None = None
    tokens: float | None = None
    loss: float | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        forms = [
            self.flops is not None,
            self.params is not None or self.tokens is not None,
            self.loss is not None,
        ]
        if sum(forms) != 1:
            raise EmergenceError("a budget is one of: flops, params + tokens, or a pretraining loss")
        if (self.params is None) != (self.tokens is None):
            raise EmergenceError(
                "a params budget needs both params and tokens (e.g. --params 1e9 --tokens 2e10)"
            )
        for name in ("flops", "params", "tokens", "loss"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise EmergenceError(f"budget {name} must be a finite number > 0 (got {value})")

    @property
    def kind(self) -> str:
        return "flops" if self.flops is not None else "loss" if self.loss is not None else "params_tokens"

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.kind == "flops":
            return f"{self.flops:.3g} FLOPs"
        if self.kind == "loss":
            return f"loss {self.loss:g}"
        return f"{self.params:.3g} params x {self.tokens:.3g} tokens"


DEFAULT_OPTIONS = FitOptions()

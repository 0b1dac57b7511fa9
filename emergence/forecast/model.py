"""The forecast document as typed models: the one source of its JSON Schema (schema/forecast-v1.json).

`schema_json()` generates the shipped schema file from these models (`python -m emergence.forecast.model`
rewrites it; a test checks the two agree). Rules one field cannot state alone (a found emergence point has
a loss; a skipped backtest says why) are added to the generated schema as JSON Schema conditionals.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.2"
SCALAR = {"type": ["number", "integer", "boolean", "string", "null"]}
Number = float | None
Pair = Annotated[tuple[Number, Number], Field(description="lower, upper")]


class Part(BaseModel):
    """A part of the document: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Interval(Part):
    """A point estimate and its interval (lower <= estimate <= upper)."""

    estimate: float
    lower: float
    upper: float


class PositiveInterval(Part):
    """An interval of a positive quantity (a loss, FLOPs)."""

    estimate: Annotated[float, Field(gt=0)]
    lower: Annotated[float, Field(ge=0)]
    upper: Annotated[float, Field(gt=0)]


class AccuracyInterval(Part):
    """An interval of an accuracy."""

    estimate: Annotated[float, Field(ge=0, le=1)]
    lower: Annotated[float, Field(ge=0, le=1)]
    upper: Annotated[float, Field(ge=0, le=1)]


class EmergencePoint(Part):
    """The few-shot emergence point: where accuracy leaves chance, in pretraining loss and in FLOPs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"status": {"const": "found"}}},
            "then": {
                "anyOf": [
                    {"properties": {"loss": {"type": "object"}}},
                    {"properties": {"flops": {"type": "object"}}},
                ]
            },
            "else": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
        },
    )
    status: Literal["found", "not_found"]
    reason: str | None = Field(None, description="Why no emergence point was found (status not_found).")
    loss: PositiveInterval | None = Field(
        description="Pretraining loss at emergence (nats); null on compute alone."
    )
    flops: PositiveInterval | None = Field(
        description="Training FLOPs at emergence (null without a loss law)."
    )
    method: str | None = Field(None, description="How the interval was made: bootstrap, profile or wald.")
    widening_factor: Annotated[float, Field(ge=1)] | None = Field(
        None, description="How much the interval was widened by the backtest's measured extrapolation error."
    )


class Budget(Part):
    """A budget (FLOPs, params + tokens, or a pretraining loss) and what is expected at it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {"if": {"properties": {"kind": {"const": "flops"}}}, "then": {"properties": {"flops": {"type": "number"}}}},
                {"if": {"properties": {"kind": {"const": "params_tokens"}}},
                 "then": {"properties": {"params": {"type": "number"}, "tokens": {"type": "number"}}}},
            ]
        },
    )  # fmt: skip
    label: str
    kind: Literal["flops", "params_tokens", "loss"]
    flops: Annotated[float, Field(gt=0)] | None
    params: Annotated[float, Field(gt=0)] | None
    tokens: Annotated[float, Field(gt=0)] | None
    pretraining_loss: PositiveInterval | None = Field(
        description="Predicted pretraining loss (given, for kind loss); null where the ladder has no losses."
    )
    accuracy: AccuracyInterval = Field(description="Predicted few-shot accuracy.")
    prob_emerged: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Probability that few-shot emergence has happened by this budget."
    )


class LawDiagnostics(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": SCALAR})
    converged: bool
    n_obs: Annotated[int, Field(ge=1)]
    n_checkpoints: Annotated[int, Field(ge=1)]
    loglik: Number = None
    aic: Number = None
    bic: Number = None
    bootstrap_resamples: Annotated[int, Field(ge=0)] | None = None
    bootstrap_failed: Annotated[int, Field(ge=0)] | None = None


class D0Sensitivity(Part):
    d0: Annotated[float, Field(gt=0)]
    elbow: Number
    lower: Number = None
    upper: Number = None
    flops: Number = None
    note: str | None = None


class LinkComparison(Part):
    link: str
    aic: Number = None
    bic: Number = None
    loglik: Number = None
    note: str | None = None


class Law(Part):
    """The fitted emergence law: accuracy vs pretraining loss, its elbow shifting with the data amount."""

    link: Literal["relu", "softplus", "sigmoid"]
    shift: Literal["log_power", "power", "none"]
    d0: Annotated[float, Field(gt=0)]
    params: dict[str, Number]
    conf_int: dict[str, Pair]
    diagnostics: LawDiagnostics
    d0_sensitivity: list[D0Sensitivity] | None = None
    comparison: list[LinkComparison] | None = Field(
        None, description="Other link forms fitted on the same data, for model choice."
    )


class LossLaw(Part):
    """The fitted loss scaling law that turns loss into compute: compute L = E + A C^-alpha, or
    params_tokens L = E + A/N^a + B/T^b."""

    kind: Literal["compute", "params_tokens"]
    params: dict[str, Number]
    conf_int: dict[str, Pair] | None = None
    diagnostics: dict[str, bool | int | float | str | None] | None = None
    others: list[LossLaw] | None = Field(None, description="Further loss laws fitted on the same ladder.")


class Cutoff(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": SCALAR})
    cutoff_flops: Annotated[float, Field(gt=0)]
    predicted_elbow: Number = None
    actual_elbow: Number = None
    predicted_flops: Number = Field(None, description="The predicted elbow in FLOPs, through the loss law.")
    actual_flops: Number = Field(None, description="The actual elbow in FLOPs, through the loss law.")
    error_nats: Annotated[float, Field(ge=0)] | None
    success: bool
    advance_factor: Number = None
    note: str | None = None


class Backtest(Part):
    """The paper's protocol: hold out checkpoints above a FLOPs cutoff, predict the few-shot elbow, compare
    with the elbow fitted on all few-shot results."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"status": {"const": "skipped"}}},
            "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
            "else": {"required": ["cutoffs", "median_error_nats", "advance_factor"]},
        },
    )
    status: Literal["done", "skipped"]
    reason: str | None = None
    success_threshold_nats: Annotated[float, Field(gt=0)] | None = None
    actual_elbow: Number = None
    first_emerged_flops: Number = Field(
        None, description="FLOPs of the first checkpoint above chance few-shot."
    )
    cutoffs: list[Cutoff] | None = None
    median_error_nats: Annotated[float, Field(ge=0)] | None = None
    success_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    advance_factor: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="Largest advance among successes: FLOPs of the first emerged checkpoint / largest fitted.",
    )
    coverage: Annotated[float, Field(ge=0, le=1)] | None = None


class ChainCandidate(Part):
    name: str
    mae: Annotated[float, Field(ge=0)] | None = Field(description="Mean absolute backtest error (accuracy).")
    n_targets: Annotated[int, Field(ge=0)]


class ChainBacktest(Part):
    splits: list[str] = Field(description="How the ladder's runs were split: fitted -> predicted.")
    n_targets: Annotated[int, Field(ge=0)]
    mae: Annotated[float, Field(ge=0)] | None = Field(description="The chosen chain's mean absolute error.")
    coverage_raw: Annotated[float, Field(ge=0, le=1)] | None = Field(
        description="Share of targets inside the chain's intervals before scaling."
    )
    coverage_scaled: Annotated[float, Field(ge=0, le=1)] | None = Field(
        description="The same after scaling by interval_scale (at least interval_level by construction)."
    )


class Chain(Part):
    """The peers' chain: compute (N, D) -> an intermediate -> accuracy, chosen among candidates by its
    backtest on the ladder (fit smaller sizes or shorter runs, predict the rest)."""

    chosen: str = Field(description="The candidate chain that made the forecast.")
    intermediate: Literal["loss", "compute"]
    loss_law: dict[str, Number] | None = Field(
        description="E, A, a, B, b of L = E + A N^-a + B D^-b (runs' final losses)."
    )
    link: dict[str, Number] = Field(
        description="floor, ceiling, midpoint, scale: floor + (ceiling - floor) sigmoid((midpoint - x) / scale)."
    )
    residual_sd: Annotated[float, Field(ge=0)] = Field(description="Run-level residual of the whole chain.")
    interval_scale: Annotated[float, Field(ge=1)] = Field(
        description="Factor on the intervals' half-widths, so that they would have covered the backtest."
    )
    backtest: ChainBacktest
    candidates: list[ChainCandidate]


class Provenance(Part):
    run_ids: list[Annotated[str, Field(min_length=1)]] = Field(
        description="The store's runs whose results were fitted.", json_schema_extra={"uniqueItems": True}
    )
    data_hash: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] = Field(
        description="Hash of the fitted table (sorted rows of the fitted columns)."
    )
    package_version: Annotated[str, Field(min_length=1)]
    created_at: Annotated[
        str,
        Field(
            pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
        ),
    ] = Field(description="RFC 3339 time the forecast was made.")
    command: str = Field(description="The command line (or API call) that made it.")
    store: str | None = Field(None, description="The store it was made from.")
    options: dict | None = Field(None, description="Fit options (link, shift, d0, bootstrap, seed, alpha).")


class ForecastDocument(Part):
    """When a capability is predicted to emerge few-shot (Snell et al. 2024), in pretraining loss and in
    FLOPs, with the accuracy expected at named budgets, the fitted laws, a backtest and provenance. Losses
    are in nats per token; intervals are central, at interval_level."""

    model_config = ConfigDict(extra="forbid", title="Emergence forecast, version 1")
    schema_version: Annotated[str, Field(pattern=r"^1\.[0-9]+$")] = Field(
        description="1.x: readers of version 1 read every 1.x document."
    )
    task: Annotated[str, Field(min_length=1)] = Field(
        description="The benchmark (lm-eval task name or YAML)."
    )
    metric: Annotated[str, Field(min_length=1)] = Field(
        description="The accuracy metric, e.g. acc, exact_match."
    )
    chance: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Chance-level accuracy (fitted or given)."
    )
    interval_level: Annotated[float, Field(gt=0, lt=1)] = Field(
        description="Coverage of every interval, e.g. 0.9."
    )
    emergence_point: EmergencePoint
    budgets: list[Budget]
    method: Literal["emergence_law", "chain"] = Field(
        "emergence_law",
        description="What made the forecast: the emergence law (finetuned ladders) or the chain.",
    )
    law: Law | None = Field(
        description="The emergence law; null when no elbow was found or the chain forecast."
    )
    loss_law: LossLaw | None
    backtest: Backtest
    chain: Chain | None = None
    provenance: Provenance


def schema() -> dict:
    """The forecast JSON Schema (draft 2020-12), generated from the models."""
    out = ForecastDocument.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://emergence.invalid/schema/forecast-v1.json",
        **out,
    }


def schema_json() -> str:
    """The schema as the text of the shipped file."""
    return json.dumps(schema(), indent=1, sort_keys=False) + "\n"


if __name__ == "__main__":  # rewrite the shipped schema from the models
    from importlib.resources import files

    target = files("emergence").joinpath("schema", "forecast-v1.json")
    with open(str(target), "w") as f:
        f.write(schema_json())
    print(f"wrote {target}")

"""Forecast documents as JSON: validated against the shipped schema (schema/forecast-v1.json, generated
from emergence.forecast.model) on every write and read, and written to files.

Every document is validated on write and on read; a document that fails is refused with one line naming
the JSON path of the failing field (``f.json: $.budgets[0].accuracy.lower: 1.5 is greater than the
maximum of 1``). Readers of version 1 read every 1.x document.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emergence.errors import EmergenceError
from emergence.files import parse_json, read_text

SCHEMA_FILE = "forecast-v1.json"


# -- schema and validation --------------------------------------------------------------
@cache
def schema() -> dict:
    """The forecast JSON Schema (draft 2020-12) shipped with the package."""
    return json.loads(resources.files("emergence").joinpath("schema", SCHEMA_FILE).read_text())


@cache
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def validate_document(document: Any, source: str = "forecast") -> dict:
    """Check a forecast document against the schema; raise one line naming the failing field's JSON path."""
    import jsonschema

    bad = _non_finite(document, "$")
    if bad:
        raise EmergenceError(
            f"{source}: {bad}: must be a finite number or null (NaN and infinities are not JSON)"
        )
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        message = " ".join(error.message.split())
        if len(message) > 160:
            message = message[:157] + "..."
        path = "$" + "".join(_path_step(step) for step in error.absolute_path)
        raise EmergenceError(f"{source}: {path}: {message} (schema forecast-v1)")
    _check_intervals(document, source)
    return document


def _path_step(key: Any) -> str:
    """One step of a JSON path: [0], .name, or ["any key"] quoted as JSON (so a key holding a newline or
    a quote still leaves the path on one line)."""
    if isinstance(key, int):
        return f"[{key}]"
    key = str(key)
    return f".{key}" if key.isidentifier() and key.isascii() else f"[{json.dumps(key)}]"


def _non_finite(obj: Any, path: str) -> str | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return path
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _non_finite(value, path + _path_step(key))
            if found:
                return found
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found = _non_finite(value, path + _path_step(i))
            if found:
                return found
    return None


def _check_intervals(document: dict, source: str) -> None:
    """lower <= estimate <= upper in every interval (JSON Schema cannot compare two fields)."""
    places = [("$.emergence_point.loss", document["emergence_point"]["loss"])]
    places.append(("$.emergence_point.flops", document["emergence_point"]["flops"]))
    for i, budget in enumerate(document["budgets"]):
        places += [(f"$.budgets[{i}].{k}", budget[k]) for k in ("pretraining_loss", "accuracy")]
    for path, interval in places:
        if interval and not interval["lower"] <= interval["estimate"] * (1 + 1e-9) + 1e-12:
            raise EmergenceError(f"{source}: {path}.lower: must not exceed the estimate")
        if interval and not interval["estimate"] <= interval["upper"] * (1 + 1e-9) + 1e-12:
            raise EmergenceError(f"{source}: {path}.upper: must not be below the estimate")


def dumps_document(document: dict) -> str:
    """The document as JSON text (validated first)."""
    validate_document(document)
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def write_document(document: dict, path: str | Path) -> Path:
    """Validate and write a forecast document; a document that fails is refused and nothing is written."""
    text = dumps_document(document)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        raise EmergenceError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def loads_document(text: str, source: str = "forecast") -> dict:
    """Parse and validate forecast JSON text."""
    document = parse_json(text, source)
    if not isinstance(document, dict):
        raise EmergenceError(f"{source}: $: a forecast document is a JSON object")
    version = document.get("schema_version")
    if isinstance(version, str) and not version.startswith("1."):
        raise EmergenceError(f"{source}: $.schema_version: {version} is not readable by this emergence (1.x)")
    return validate_document(document, source)


def read_document(path: str | Path) -> dict:
    """Read and validate a forecast JSON file."""
    return loads_document(read_text(path), str(path))


def flops_warning(document: dict) -> str | None:
    """The document's word that its FLOPs, read through its loss law, are not to be trusted (None when they
    are, or when the chain gives them)."""
    if document.get("chain"):
        return None
    return ((document.get("loss_law") or {}).get("diagnostics") or {}).get("warning")


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to None, recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def interval(estimate: Any, lower: Any, upper: Any) -> dict | None:
    values = [plain(estimate), plain(lower), plain(upper)]
    if any(v is None for v in values):
        return None
    estimate, lower, upper = values
    return {"estimate": estimate, "lower": min(lower, estimate), "upper": max(upper, estimate)}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

"""Name -> value maps the user gives beside results: parameter counts per size, metadata per model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from emergence.errors import EmergenceError
from emergence.files import read_csv, read_json, read_yaml


def read_mapping(source: str | Path | dict, *, what: str) -> dict:
    """A name -> value(s) map from a dict, or a JSON/YAML file (a mapping) or CSV (first column = key)."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = read_csv(path)
        key = frame.columns[0]
        if len(frame.columns) == 2:
            return dict(zip(frame[key], frame[frame.columns[1]], strict=True))
        return {row[key]: {k: v for k, v in row.items() if k != key} for row in frame.to_dict("records")}
    data = read_yaml(path) if suffix in (".yaml", ".yml") else read_json(path)
    if isinstance(data, list) and all(isinstance(d, dict) and "model" in d for d in data):
        data = {d["model"]: {k: v for k, v in d.items() if k != "model"} for d in data}
    if not isinstance(data, dict):
        raise EmergenceError(f"{path}: a {what} must be a mapping of names to values")
    return data


def number(value: Any, where: str, field: str) -> float:
    """A value of a map as a float; text, booleans and NaN are refused naming where and which field."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise EmergenceError(f"{where}: {field} must be a number (got {value!r})") from None
    if math.isnan(out):
        raise EmergenceError(f"{where}: {field} is NaN")
    return out

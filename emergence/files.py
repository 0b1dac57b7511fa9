"""Reading the user's files: text, JSON, YAML and CSV, each refused in one line that names the file.

YAML is read safely (no Python objects) and a key given twice in one mapping is refused instead of the
last one silently winning. CSV cells a spreadsheet would run as a formula are escaped on write and
unescaped on read, so names round-trip and never execute.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from emergence.errors import EmergenceError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def read_text(path: str | Path) -> str:
    """A file's text (UTF-8); an unreadable or binary file is one line naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise EmergenceError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise EmergenceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EmergenceError(f"{path}: not UTF-8 text; is it the right file?") from None
    if "\x00" in text:
        raise EmergenceError(f"{path}: a binary file (it holds NUL bytes), not text")
    return text


def json_error(source: str | Path, text: str, exc: json.JSONDecodeError) -> str:
    """One line for a JSON syntax error, saying so when the text looks cut short."""
    rest = text[exc.pos :].rstrip()
    truncated = exc.pos >= len(text.rstrip()) - 1 or (
        exc.msg.startswith("Unterminated string") and "\n" not in rest
    )
    hint = " (the file looks truncated)" if truncated else ""
    return f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}"


def parse_json(text: str, source: str | Path) -> Any:
    """JSON text; NaN and infinities are refused (they are not JSON)."""

    def no_constants(name: str) -> None:
        raise EmergenceError(f"{source}: {name} is not valid JSON; numbers must be finite")

    try:
        return json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise EmergenceError(json_error(source, text, exc)) from None
    except RecursionError:
        raise EmergenceError(f"{source}: JSON nested too deeply") from None


def read_json(path: str | Path) -> Any:
    return parse_json(read_text(path), path)


def parse_yaml(text: str, source: str | Path) -> Any:
    """YAML text, read safely; a key given twice in one mapping is refused."""
    try:
        _check_unique_keys(yaml.compose(text, Loader=yaml.SafeLoader), source)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise EmergenceError(f"{source}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise EmergenceError(f"{source}: YAML nested too deeply") from None


def read_yaml(path: str | Path) -> Any:
    return parse_yaml(read_text(path), path)


def _check_unique_keys(node: yaml.Node | None, source: str | Path) -> None:
    stack = [node] if node is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise EmergenceError(
                            f"{source}: key '{key.value}' appears twice in one mapping (lines "
                            f"{seen[key.value] + 1} and {key.start_mark.line + 1}); keep one"
                        )
                    seen[key.value] = key.start_mark.line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV as strings (empty cells as None, formula escapes undone); every row must have the header's
    number of cells, so a truncated or malformed file is refused naming it and the line."""
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise EmergenceError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [c.strip() for c in next(reader)]
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                hint = " (truncated file?)" if len(row) < len(header) else ""
                raise EmergenceError(
                    f"{path}: line {reader.line_num} has {len(row)} cells, the header {len(header)}{hint}"
                )
            rows.append([_unescape(cell.strip()) or None for cell in row])
    except csv.Error as exc:
        raise EmergenceError(f"{path}: line {reader.line_num}: not a readable CSV: {exc}") from None
    if len(set(header)) != len(header):
        raise EmergenceError(f"{path}: a column name appears twice in the header")
    return pd.DataFrame(rows, columns=header, dtype=object)


def csv_text(frame: pd.DataFrame) -> str:
    """A table as CSV text a spreadsheet opens safely: text cells that would start a formula get a
    leading apostrophe (read_csv takes it off again)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_escape)
    return safe.to_csv(index=False, float_format="%.17g")


def _escape(value: Any) -> Any:
    if isinstance(value, str) and (value.startswith(FORMULA_START) or value.startswith("'")):
        return "'" + value
    return value


def _unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:2] in (*FORMULA_START, "'") else cell

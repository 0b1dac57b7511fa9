"""Cached reads of the run store for the dashboard pages.

Every read is cached on the store's path and a fingerprint of its files (the database and its WAL: in WAL
mode a fresh write lands in ``-wal`` first), so results that a live sweep writes show up on the next rerun
while an unchanged store is read once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from emergence.builtin import shipped_store
from emergence.errors import EmergenceError
from emergence.store import Store
from emergence.table import is_loss_metric

SHIPPED_STORE = shipped_store()
LIVE_DEMO_STORE = Path(os.environ.get("EMERGENCE_LIVE_STORE") or Path("runs") / "demo.sqlite")
KNOWN_STORES = {"Shipped full toy run": str(SHIPPED_STORE), "Live demo run": str(LIVE_DEMO_STORE)}


def default_store_path() -> str:
    """The store a planner sees first: $EMERGENCE_STORE, else the shipped demo store, else the live demo."""
    env = os.environ.get("EMERGENCE_STORE")
    if env:
        return env
    return str(SHIPPED_STORE if SHIPPED_STORE.is_file() else LIVE_DEMO_STORE)


def fingerprint(path: str) -> tuple:
    """(mtime, size) of the store file and its WAL; raises EmergenceError when there is no store there."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise EmergenceError(f"no store at {p}: give the path of an emergence SQLite store in the sidebar")
    out = []
    for f in (p, p.with_name(p.name + "-wal")):
        try:
            s = f.stat()
            out.append((s.st_mtime_ns, s.st_size))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def _open(path: str) -> Store:
    return Store(Path(path).expanduser(), read_only=True, timeout=10.0)


def is_shipped(path: str) -> bool:
    """Whether ``path`` is the shipped demo store, which the dashboard never writes."""
    try:
        return Path(path).expanduser().resolve() == SHIPPED_STORE.resolve()
    except OSError:
        return False


@st.cache_data(show_spinner=False, max_entries=32)
def _read(path: str, key: tuple, what: str, task: str | None = None, metric: str | None = None):
    with _open(path) as store:
        if what == "results":
            return store.results(task, metric)
        if what == "runs":
            return store.runs()
        if what == "checkpoints":
            return store.checkpoints()
        if what == "forecasts":
            return store.forecasts()
        if what == "current_forecasts":
            return store.forecasts(current=True)
        if what == "fits":
            return store.fits()
        if what == "counts":
            return store.counts()
        if what == "benchmarks":
            return _benchmarks(store)
        if what == "data_hashes":
            return _data_hashes(store)
    raise ValueError(what)


def _benchmarks(store: Store) -> pd.DataFrame:
    """One row per (task, metric) of accuracy with results or a forecast: counts of runs and checkpoints,
    whether only few-shot results exist (the chain's case), and the ladder its checkpoints came from (a
    task's own loss, e.g. bits per byte, is an intermediate of the chain, not a benchmark)."""
    res = store.results()
    columns = ["task", "metric", "runs", "checkpoints", "data_amounts", "few_shot_only", "ladder", "families"]
    if res.empty:
        grid = pd.DataFrame(columns=columns)
    else:
        res = res[~res["metric"].map(is_loss_metric)]
        sources = store.checkpoints().set_index("checkpoint_id")["source"]
        res = res.assign(source=res["checkpoint"].map(sources))
        grid = (
            res.groupby(["task", "metric"])
            .agg(
                runs=("run_id", "nunique"),
                checkpoints=("checkpoint", "nunique"),
                data_amounts=("data_amount", "nunique"),
                few_shot_only=("data_amount", lambda d: bool((d == 0).all())),
                ladder=("source", ladder_label),
            )
            .reset_index()
        )
        grid["families"] = [_families(part) for _, part in res.groupby(["task", "metric"])]
    fc = store.forecasts()
    if not fc.empty:
        extra = fc[["task", "metric"]].drop_duplicates()
        grid = grid.merge(extra, on=["task", "metric"], how="outer")
    for col in ("runs", "checkpoints", "data_amounts"):
        grid[col] = grid[col].fillna(0).astype(int)
    grid["few_shot_only"] = grid["few_shot_only"].astype("boolean").fillna(False).astype(bool)
    grid["ladder"] = grid["ladder"].fillna("imported forecast")
    grid["families"] = grid["families"].fillna("")
    return grid[columns].sort_values(["task", "metric"]).reset_index(drop=True)


def ladder_label(sources: pd.Series) -> str:
    """The ladder a benchmark's checkpoints came from, by their sources: the folder of the files ingested
    (their common folder: "olmo-ladder"), the builder ("toy-ladder"), or the source named ("simulated")."""
    names, paths = set(), []
    for source in set(map(str, sources.dropna())):
        head, _, rest = source.partition(":")
        if head != "ingested":
            names.add(head or "unknown")
            continue
        where = rest.partition(":")[2]
        if "/" in where:
            paths.append(where)
        else:
            names.add(where or "ingested")
    if paths:
        try:
            common = Path(os.path.commonpath(paths)) if len(paths) > 1 else Path(paths[0])
            names.add(common.parent.name if common.suffix else common.name or "ingested")
        except ValueError:  # absolute and relative paths mixed
            names.add("ingested")
    return " + ".join(sorted(names)) or "unknown"


def _families(rows: pd.DataFrame) -> str:
    """The model families of a benchmark's checkpoints, smallest models first."""
    if "family" not in rows or rows["family"].isna().all():
        return ""
    if "params" in rows and rows["params"].notna().any():
        order = rows.groupby("family")["params"].median().sort_values().index
    else:
        order = sorted(rows["family"].dropna().astype(str).unique())
    return ", ".join(map(str, order))


def _data_hashes(store: Store) -> dict[tuple[str, str], str]:
    """The hash a forecast records of its fitted rows, per (task, metric), for the store's current rows."""
    from emergence import forecast

    res = store.results()
    out = {}
    for (task, metric), part in res.groupby(["task", "metric"]):
        if is_loss_metric(metric):
            continue
        try:
            out[(task, metric)] = forecast.data_hash(forecast.fit_table(part, task, metric))
        except EmergenceError:
            continue
    return out


def read(path: str, what: str, task: str | None = None, metric: str | None = None):
    """One table of the store at ``path``, re-read only when the store changed since the last read.

    ``what`` is one of results, runs, checkpoints, forecasts, current_forecasts, fits, counts, benchmarks,
    data_hashes.
    """
    return _read(str(path), fingerprint(path), what, task, metric)


def latest_forecasts(path: str) -> pd.DataFrame:
    """The current forecast document per (task, metric): the newest computed one, else the newest imported."""
    return read(path, "current_forecasts")


def store_path() -> str:
    """The store chosen in the sidebar (the default before the sidebar has run)."""
    return st.session_state.get("store_path") or default_store_path()


# -- forecast documents (emergence/schema/forecast-v1.json) -----------------------------------------------
def forecast_document(path: str, task: str, metric: str) -> dict | None:
    """The newest forecast document of one benchmark, or None."""
    fc = latest_forecasts(path)
    if fc.empty:
        return None
    hit = fc[(fc["task"] == task) & (fc["metric"] == metric)]
    return None if hit.empty else hit["document"].iloc[-1]


def doc_link(doc: dict | None) -> str | None:
    """The link form the forecast was fitted with."""
    return ((doc or {}).get("law") or {}).get("link")


def doc_chance(doc: dict | None) -> float | None:
    """The chance level the forecast was given (not fitted), if any."""
    options = ((doc or {}).get("provenance") or {}).get("options") or {}
    chance = options.get("chance")
    return None if chance is None else float(chance)


def doc_budgets(doc: dict | None) -> pd.DataFrame:
    """The budgets of a forecast document as a table."""
    rows = []
    for b in (doc or {}).get("budgets") or []:
        loss, acc = b.get("pretraining_loss") or {}, b.get("accuracy") or {}
        rows.append(
            {
                "budget": b.get("label"),
                "FLOPs": b.get("flops"),
                "params": b.get("params"),
                "tokens": b.get("tokens"),
                "loss": loss.get("estimate"),
                "accuracy": acc.get("estimate"),
                "accuracy lower": acc.get("lower"),
                "accuracy upper": acc.get("upper"),
                "P(emerged)": b.get("prob_emerged"),
            }
        )
    return pd.DataFrame(rows)


def benchmarks_or_stop(path: str) -> pd.DataFrame:
    """The store's benchmarks; a page showing them stops with a hint when there are none yet."""
    benchmarks = read(path, "benchmarks")
    if benchmarks.empty:
        st.info(
            "No results in this store yet. Start a sweep (`emergence run`) or import results (Import / export)."
        )
        st.stop()
    return benchmarks

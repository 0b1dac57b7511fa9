"""The planners' dashboard: when does each capability emerge, at what budget, and how far to trust it.

Run with ``streamlit run dashboards/app.py`` (dashboards/.streamlit/config.toml binds it to loopback).
It reads the run store only through emergence.store, .forecast, .law and .ingest: no model, no torch.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import streamlit as st
from emergence.dashboards import data

from emergence.errors import EmergenceError

st.set_page_config(page_title="emergence: forecasts", page_icon=":material/trending_up:", layout="wide")

PAGES = [
    st.Page("views/portfolio.py", title="Portfolio", icon=":material/dashboard:", default=True),
    st.Page("views/benchmark.py", title="Benchmark", icon=":material/show_chart:"),
    st.Page("views/backtest.py", title="Backtest", icon=":material/history:"),
    st.Page("views/runs.py", title="Runs", icon=":material/list:"),
    st.Page("views/import_export.py", title="Import / export", icon=":material/swap_vert:"),
]
page = st.navigation(PAGES)

if "store_path" not in st.session_state:
    st.session_state["store_path"] = data.default_store_path()


def _pick_known_store() -> None:
    st.session_state["store_path"] = data.KNOWN_STORES[st.session_state["_known_store"]]


with st.sidebar:
    known = {label: path for label, path in data.KNOWN_STORES.items() if Path(path).is_file()}
    if len(known) > 1:
        current = next((k for k, v in known.items() if v == st.session_state["store_path"]), None)
        st.radio(
            "Results",
            list(known),
            index=list(known).index(current) if current else None,
            key="_known_store",
            on_change=_pick_known_store,
            help="The shipped full toy run, or the live run `make demo` is producing.",
        )
    st.text_input(
        "Run store",
        key="store_path",
        help="Path of the SQLite run store (default: $EMERGENCE_STORE, else the shipped demo store).",
    )
    follow = st.toggle("Follow live results", value=True, help="Re-read the store when a sweep writes to it.")


@st.fragment(run_every=5)
def _watch_store(path: str) -> None:
    """Rerun the app when the store's files changed since the last full run read them (a live sweep
    landing results). A full run records what it reads before calling this inline, so only the fragment's
    own timed runs rerun: a full run is never cut short, and a click it carries (an Import button) is never
    lost to a store that changed between two runs."""
    try:
        key = data.fingerprint(path)
    except EmergenceError:
        return
    if st.session_state.get("_store_seen", (path, key)) != (path, key):
        st.rerun(scope="app")


path = data.store_path()
try:
    counts = data.read(path, "counts")
except EmergenceError as exc:
    st.error(str(exc))
    st.info("Run `make demo` for the demo store, or `emergence ingest` to load results into a new store.")
    st.stop()

done = f"{counts.get('runs_done', 0):,} done"
if counts.get("runs_superseded"):
    done += f" ({counts['runs_superseded']:,} of them replaced by newer runs of the same cells)"
with st.sidebar:
    st.caption(
        f"{counts.get('runs', 0):,} runs: {done}, "
        f"{counts.get('runs_running', 0):,} running, {counts.get('runs_pending', 0):,} pending, "
        f"{counts.get('runs_failed', 0):,} failed · {counts.get('forecasts', 0):,} forecasts"
    )
    with contextlib.suppress(EmergenceError):  # what this full run reads; `_watch_store` compares with it
        st.session_state["_store_seen"] = (path, data.fingerprint(path))
    if follow:
        _watch_store(path)

page.run()

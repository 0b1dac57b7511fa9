"""Import / export: results and forecasts into the store (validated first), forecasts and tables out.

An upload is parsed and validated before anything is written; a bad file gives one clear message and
changes nothing. Uploads only ever land in the chosen store, in one transaction: an uploaded name is never
used as a path, and nothing in an upload is executed (no lm-eval task YAML is accepted, only results).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
from emergence.dashboards import data

from emergence import forecast, ingest
from emergence.errors import EmergenceError
from emergence.files import csv_text
from emergence.store import Store
from emergence.table import validate_results

MAX_BYTES = 50 * 2**20
KINDS = {
    "lm-eval results (results_*.json)": "lmeval",
    "Tidy results CSV": "tidy",
    "Forecast JSON": "forecast",
}
HELP = {
    "lmeval": "One or more `results_*.json` files written by lm-eval 0.4 (`--output_path`). lm-eval does not "
    "know each model's pretraining loss or finetuning data amount: add a models map (CSV, JSON or YAML with "
    "`model` and any of checkpoint, pretraining_loss, params, tokens, flops, data_amount, seed).",
    "tidy": "A CSV with the columns task, metric, checkpoint, pretraining_loss, data_amount, seed, accuracy, "
    "n_examples (optional: family, step, params, tokens, flops, stderr).",
    "forecast": "A forecast document (schema forecast-v1), as written by `emergence forecast --out`.",
}


def _size_ok(files) -> None:
    for f in files:
        if f.size > MAX_BYTES:
            raise EmergenceError(
                f"{f.name}: {f.size / 2**20:.0f} MB is larger than the {MAX_BYTES // 2**20} MB allowed"
            )


def parse_upload(kind: str, files: list, models=None) -> tuple[str, object]:
    """Parse and validate uploaded files without touching the store: ("rows", frame) or ("forecasts", docs)."""
    _size_ok([*files, *([models] if models else [])])
    if kind == "forecast":
        docs = []
        for f in files:
            try:
                text = f.getvalue().decode("utf-8")
            except UnicodeDecodeError:
                raise EmergenceError(f"{f.name}: not UTF-8 text; is it a forecast JSON?") from None
            docs.append(forecast.loads_document(text, source=f.name))
        return "forecasts", docs
    # the readers take paths: copy the bytes into a private folder under fixed names (never the upload's)
    with tempfile.TemporaryDirectory(prefix="emergence-upload-") as tmp:
        folder = Path(tmp)
        if kind == "tidy":
            (folder / "upload.csv").write_bytes(files[0].getvalue())
            rows = ingest.read_tidy(folder / "upload.csv")
        else:
            for i, f in enumerate(files):
                (folder / f"results_upload{i:03d}.json").write_bytes(f.getvalue())
            mapping = None
            if models is not None:
                suffix = Path(models.name).suffix.lower()
                suffix = suffix if suffix in (".csv", ".json", ".yaml", ".yml") else ".json"
                mapping = folder / f"models{suffix}"
                mapping.write_bytes(models.getvalue())
            rows = ingest.read_lmeval(folder, models=mapping)
        names = ", ".join(f.name for f in files)
        return "rows", validate_results(rows, names)


st.title("Import / export")
path = data.store_path()

# -- import ---------------------------------------------------------------------------------------------
st.subheader("Import into the store")
st.caption(
    f"Into `{path}`. Nothing is written until the file has passed every check and you press Import; "
    "imported forecasts are kept beside the store's own and never replace a computed one."
)
label = st.radio("What are you uploading?", list(KINDS), horizontal=True, key="upload_kind")
kind = KINDS[label]
st.caption(HELP[kind])
types = {"lmeval": ["json"], "tidy": ["csv"], "forecast": ["json"]}[kind]
files = st.file_uploader("Files", type=types, accept_multiple_files=kind != "tidy", key=f"upload_{kind}")
files = [files] if files is not None and not isinstance(files, list) else (files or [])
models = None
if kind == "lmeval":
    models = st.file_uploader(
        "Models map (optional)", type=["csv", "json", "yaml", "yml"], key="upload_models"
    )

if files:
    try:
        what, parsed = parse_upload(kind, files, models)
    except EmergenceError as exc:
        st.error(f"Refused, nothing was stored: {exc}")
    else:
        if what == "rows":
            st.success(
                f"Valid: {len(parsed):,} results of {parsed['checkpoint'].nunique()} checkpoint(s) on "
                f"{', '.join(sorted(parsed['task'].unique()))} ({', '.join(sorted(parsed['metric'].unique()))})."
            )
            st.dataframe(parsed.drop(columns=[c for c in parsed.columns if c.startswith("_")]).head(200),
                         hide_index=True, width="stretch")  # fmt: skip
        else:
            st.success(
                f"Valid: {len(parsed)} forecast document(s): "
                + ", ".join(f"{d['task']}/{d['metric']}" for d in parsed)
            )
        if data.is_shipped(path):
            st.warning(
                "The shipped demo store is read-only here. To import, type the path of a store of your own "
                "in the sidebar (a new path makes a new store)."
            )
        elif st.button("Import", type="primary", key="upload_import"):
            try:
                with Store(Path(path).expanduser()) as store:
                    if what == "rows":
                        source = ", ".join(f.name for f in files)
                        summary = store.add_results(parsed, fmt=kind, source=source)
                        st.success(f"Stored {summary['runs']:,} runs ({summary['new_runs']:,} new).")
                        for warning in summary["warnings"]:
                            st.warning(warning)
                    else:
                        stored = store.import_forecasts(parsed)
                        new = sum(n for _, n in stored)
                        st.success(
                            f"Stored {new} forecast(s) as imported ({len(parsed) - new} already there); a "
                            "forecast computed here stays the one shown."
                        )
            except EmergenceError as exc:
                st.error(f"Refused, nothing was stored: {exc}")

# -- export ---------------------------------------------------------------------------------------------
st.subheader("Export")
left, right = st.columns(2)
with left:
    st.markdown("**Forecasts (JSON, schema forecast-v1)**")
    docs = data.latest_forecasts(path)
    if docs.empty:
        st.caption("No forecasts in this store yet: `emergence forecast` makes them.")
    else:
        names = [f"{t}/{m}" for t, m in zip(docs["task"], docs["metric"], strict=True)]
        pick = st.selectbox("Forecast", names, key="export_forecast")
        doc = docs["document"].iloc[names.index(pick)]
        st.download_button(
            "Download this forecast",
            forecast.dumps_document(doc),
            file_name=f"forecast-{doc['task']}-{doc['metric']}.json".replace("/", "_"),
            mime="application/json",
            key="download_forecast",
        )
        everything = json.dumps([forecast.validate_document(d) for d in docs["document"]], indent=2)
        st.download_button(
            f"Download all {len(docs)} forecasts (a JSON list)",
            everything,
            file_name="forecasts.json",
            mime="application/json",
            key="download_forecasts",
        )
with right:
    st.markdown("**Tables (CSV)**")
    results = data.read(path, "results")
    st.download_button(
        f"Results: {len(results):,} rows (tidy; re-importable)",
        lambda: ingest.tidy_csv(results),
        file_name="results.csv",
        mime="text/csv",
        key="download_results",
    )
    runs = data.read(path, "runs")
    st.download_button(
        f"Runs: {len(runs):,} jobs with status and errors",
        lambda: csv_text(runs),
        file_name="runs.csv",
        mime="text/csv",
        key="download_runs",
    )
    ckpts = data.read(path, "checkpoints")
    st.download_button(
        f"Checkpoints: {len(ckpts):,}",
        lambda: csv_text(ckpts),
        file_name="checkpoints.csv",
        mime="text/csv",
        key="download_checkpoints",
    )
    if not docs.empty:
        budgets = pd.concat(
            [data.doc_budgets(d).assign(task=d["task"], metric=d["metric"]) for d in docs["document"]],
            ignore_index=True,
        )
        st.download_button(
            f"Forecast budgets: {len(budgets):,} rows",
            lambda: csv_text(budgets),
            file_name="budgets.csv",
            mime="text/csv",
            key="download_budgets",
        )

"""The forecast document assembled from a benchmark's fit: its law, loss law, budgets, backtest and
provenance sections (validated before it is handed out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emergence import __version__
from emergence.forecast.chain_sections import chain_emergence_point, chain_loss_law_section, chain_section
from emergence.forecast.document import interval, now_iso, plain, validate_document
from emergence.forecast.model import SCHEMA_VERSION
from emergence.forecast.options import FitOptions
from emergence.forecast.table import data_hash
from emergence.law import d0_sensitivity


def _law_section(result, d: dict, options: FitOptions, comparison: list[dict] | None) -> dict:
    boot = d.get("bootstrap") or {}
    diagnostics = {
        "converged": bool(d["converged"]),
        "n_obs": int(d["n_obs"]),
        "n_checkpoints": int(d["n_checkpoints"]),
        "loglik": d.get("loglik"),
        "aic": d.get("aic"),
        "bic": d.get("bic"),
        "bootstrap_resamples": int(boot.get("n", 0)),
        "bootstrap_failed": int(boot.get("failed", 0)),
    }
    section = {
        "link": d["link"],
        "shift": d["shift"],
        "d0": d["d0"],
        "params": d["params"],
        "conf_int": d["conf_int"],
        "diagnostics": plain(diagnostics),
    }
    if options.d0_values:
        sens = d0_sensitivity(result, options.d0_values, alpha=options.alpha)
        keep = [c for c in ("d0", "elbow", "lower", "upper", "flops", "note") if c in sens.columns]
        section["d0_sensitivity"] = plain(sens[keep].to_dict("records"))
    if comparison is not None:
        section["comparison"] = comparison
    return section


def _loss_law_section(laws: dict, notes: list[str]) -> dict | None:
    sections = []
    for kind, law in laws.items():
        d = law.to_dict() if hasattr(law, "to_dict") else {}
        params = d.get("params")
        if params is None and hasattr(law, "params_"):
            params = dict(law.params_)
        conf_int = d.get("conf_int")
        diagnostics = {k: v for k, v in d.items() if k not in ("params", "conf_int", "kind") and _scalar(v)}
        section = {"kind": kind, "params": plain(params or {}), "diagnostics": plain(diagnostics)}
        if isinstance(conf_int, dict):
            section["conf_int"] = plain({k: list(v)[:2] for k, v in conf_int.items()})
        if notes:
            section["diagnostics"]["notes"] = "; ".join(notes)
        sections.append(section)
    if not sections:
        return None
    first = sections[0]
    if len(sections) > 1:
        first["others"] = sections[1:]
    return first


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float | np.integer | np.floating)


def build_document(
    fit,
    *,
    budgets: pd.DataFrame | None = None,
    comparison: list[dict] | None = None,
    command: str = "",
    store: str | None = None,
) -> dict:
    """Assemble (and validate) the forecast document of a `BenchmarkFit`; with no law fitted the emergence
    point is "not_found" with the fit's reason, and there are no budgets."""
    result, table, options = fit.result, fit.table, fit.options
    alpha = options.alpha
    if result is not None:
        law_dict = plain(result.to_dict(alpha=alpha))
        point = law_dict["emergence_point"]
        emergence_point = {
            "status": "found",
            "reason": None,
            "loss": interval(point["loss"], point["loss_lower"], point["loss_upper"]),
            "flops": interval(point["flops"], point["flops_lower"], point["flops_upper"]),
            "method": point["method"],
            "widening_factor": float(max(point["widening_factor"] or 1.0, 1.0)),
        }
        chance = float(result.params_["chance"])
    elif fit.chain is not None:
        emergence_point = chain_emergence_point(fit.chain)
        chance = float(fit.chain.result.link_theta[0, 0])
    else:
        emergence_point = {
            "status": "not_found",
            "reason": fit.reason or "no elbow found",
            "loss": None,
            "flops": None,
        }
        chance = options.chance if options.chance is not None else float(table["accuracy"].min())
    rows = [] if budgets is None else budgets.to_dict("records")
    document = {
        "schema_version": SCHEMA_VERSION,
        "task": fit.task,
        "metric": fit.metric,
        "chance": float(min(max(chance, 0.0), 1.0)),
        "interval_level": 1.0 - alpha,
        "emergence_point": emergence_point,
        "budgets": [
            {
                "label": r["label"],
                "kind": r["kind"],
                "flops": plain(r["flops"]),
                "params": plain(r["params"]),
                "tokens": plain(r["tokens"]),
                "pretraining_loss": interval(r["loss"], r["loss_lower"], r["loss_upper"]),
                "accuracy": interval(r["accuracy"], r["accuracy_lower"], r["accuracy_upper"]),
                "prob_emerged": float(r["prob_emerged"]),
            }
            for r in rows
        ],
        "law": None if result is None else _law_section(result, law_dict, options, comparison),
        "method": "chain" if fit.chain is not None else "emergence_law",
        "loss_law": chain_loss_law_section(fit.chain)
        if fit.chain is not None
        else _loss_law_section(fit.loss_laws, fit.loss_notes),
        "backtest": fit.backtest
        if fit.chain is None
        else {"status": "skipped", "reason": "the chain made the forecast; its backtest is $.chain.backtest"},
        "chain": chain_section(fit.chain) if fit.chain is not None else None,
        "provenance": {
            "run_ids": sorted(set(map(str, table["run_id"]))) if "run_id" in table.columns else [],
            "data_hash": data_hash(table),
            "package_version": __version__,
            "created_at": now_iso(),
            "command": command,
            "store": store,
            "options": plain(options.to_dict()),
        },
    }
    return validate_document(plain(document))

"""How the CLI prints: JSON for machines, aligned tables and one-line summaries for people."""

from __future__ import annotations

import json
from collections import Counter

import click


def echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def fmt(value, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def clip(text: str, width: int) -> str:
    """Text cut to a table column's width, an ellipsis saying so (--json has it whole)."""
    return text if len(text) <= width else text[: max(width - 1, 0)].rstrip() + "…"


def fmt_interval(interval: dict | None, spec: str = ".3f") -> str:
    if not interval:
        return "-"
    return f"{interval['estimate']:{spec}} [{interval['lower']:{spec}}, {interval['upper']:{spec}}]"


def advance(value) -> str:
    return "- (no cutoff within 0.1 nats)" if value is None else f"{value:.3g}x"


def echo_table(rows: list[dict], columns: list[str]) -> None:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def echo_forecast(doc: dict) -> None:
    """A forecast document for people: the emergence point, the backtest, the budgets."""
    from emergence.forecast.document import flops_warning  # not at start-up: every command imports render

    point = doc["emergence_point"]
    level = f"{100 * doc['interval_level']:.0f}%"
    click.echo(f"{doc['task']} / {doc['metric']}  (chance {doc['chance']:.3f}, {level} intervals)")
    if point["status"] == "found":
        click.echo(f"few-shot emergence at loss {fmt_interval(point['loss'])} nats")
        click.echo(f"                  at FLOPs {fmt_interval(point['flops'], '.3g')}")
    else:
        click.echo(f"no emergence point: {point['reason']}")
    if warning := flops_warning(doc):
        click.echo(f"                  ({warning})")
    bt = doc["backtest"]
    if doc.get("chain"):
        echo_chain(doc["chain"])
    elif bt["status"] == "done" and bt.get("median_error_nats") is None:
        if not bt["cutoffs"]:
            click.echo("backtest: no FLOPs cutoff keeps enough checkpoints before few-shot emergence to fit")
        else:
            click.echo(f"backtest: {unfitted(bt['cutoffs'])}")
    elif bt["status"] == "done":
        click.echo(
            f"backtest: median error {fmt(bt.get('median_error_nats'))} nats, "
            f"advance factor {advance(bt.get('advance_factor'))}"
        )
    else:
        click.echo(f"backtest: skipped ({bt.get('reason')})")
    if doc["budgets"]:
        rows = [
            {"budget": b["label"], "loss": fmt_interval(b["pretraining_loss"]),
             "accuracy": fmt_interval(b["accuracy"]), "P(emerged)": f"{b['prob_emerged']:.2f}"}
            for b in doc["budgets"]
        ]  # fmt: skip
        echo_table(rows, ["budget", "loss", "accuracy", "P(emerged)"])


def echo_chain(chain: dict) -> None:
    """How the chain was chosen and how far to trust it."""
    bt = chain["backtest"]
    click.echo(f"chain: {chain['chosen']} (chosen by a backtest on the ladder: {bt['n_targets']} runs predicted "
               f"from smaller sizes or shorter runs)")  # fmt: skip
    if bt.get("mae") is not None:
        click.echo(
            f"backtest: mean error {100 * bt['mae']:.1f} points; raw intervals covered {bt['coverage_raw']:.0%}, "
            f"widened x{chain['interval_scale']:.2f} to cover {bt['coverage_scaled']:.0%}"
        )
    others = [f"{c['name']} {100 * c['mae']:.1f}" for c in chain["candidates"] if c["name"] != chain["chosen"]
              and c.get("mae") is not None]  # fmt: skip
    if others:
        click.echo(f"  other chains' backtest errors (points): {', '.join(others)}")


def echo_cutoffs(section: dict) -> None:
    """The backtest's cutoffs as a table."""
    rows = [
        {
            "cutoff FLOPs": fmt(c["cutoff_flops"]), "checkpoints": str(c.get("n_checkpoints") or "-"),
            "predicted": fmt(c.get("predicted_elbow"), ".3f"), "actual": fmt(c.get("actual_elbow"), ".3f"),
            "error (nats)": fmt(c.get("error_nats"), ".3f"), "success": "yes" if c["success"] else "no",
            "advance": fmt(c.get("advance_factor")), "why not": c.get("note") or "",
        }
        for c in section["cutoffs"]
    ]  # fmt: skip
    columns = [
        "cutoff FLOPs",
        "checkpoints",
        "predicted",
        "actual",
        "error (nats)",
        "success",
        "advance",
        "why not",
    ]
    echo_table(rows, columns)


def unfitted(cutoffs: list[dict]) -> str:
    """Why no backtest cutoff was fitted: the reason most of them give (the weakest cutoffs often fail for
    a reason, such as having no finetuned rows, that the rest do not share)."""
    notes = Counter(c["note"] for c in cutoffs if c.get("note"))
    head = f"none of the {len(cutoffs)} FLOPs cutoffs could be fitted"
    if not notes:
        return head
    note, n = notes.most_common(1)[0]
    return f"{head}: {note}" + (f" ({n} of them)" if n < len(cutoffs) else "")


def echo_story(doc: dict, before: dict | None = None) -> None:
    """The forecast made before emergence and what then happened: from the checkpoints still at chance
    few-shot (``before``, from `run_before_emergence`), then per backtest cutoff: the FLOPs used, the
    predicted few-shot elbow and the actual one, in loss and in FLOPs."""
    bt = doc.get("backtest") or {}
    click.echo(f"{doc['task']} / {doc['metric']}: forecast made before emergence")
    if before is not None and before.get("status") == "done":
        click.echo(
            f"  from the {before['n_checkpoints']} checkpoints still at chance few-shot: predicted elbow "
            f"{before['predicted_elbow']:.3f} nats [{before['lower']:.3f}, {before['upper']:.3f}]; then, fitted on "
            f"all few-shot results: {before['reference_elbow']:.3f} nats, error {before['error']:+.3f} "
            f"({'within' if before['success'] else 'beyond'} 0.1 nats)"
        )  # fmt: skip
    elif before is not None:
        click.echo(f"  from the checkpoints still at chance few-shot: no forecast ({before.get('reason')})")
    fitted = [c for c in bt.get("cutoffs") or [] if c.get("predicted_elbow") is not None]
    if bt.get("status") != "done" or not fitted:
        why = unfitted(bt["cutoffs"]) if bt.get("cutoffs") else bt.get("reason")
        click.echo(f"  by FLOPs cutoff: no forecast ({why or 'no FLOPs cutoff left enough checkpoints'})")
        return
    first = bt.get("first_emerged_flops")
    for c in fitted:
        ahead = f", {first / c['cutoff_flops']:.1f}x before the first emerged checkpoint" if first else ""
        click.echo(
            f"  with checkpoints up to {fmt(c['cutoff_flops'])} FLOPs{ahead}: predicted elbow "
            f"{fmt(c['predicted_elbow'], '.3f')} nats [{fmt(c.get('lower'), '.3f')}, {fmt(c.get('upper'), '.3f')}]"
            f" = {fmt(c.get('predicted_flops'))} FLOPs; then: {fmt(c.get('actual_elbow'), '.3f')} nats = "
            f"{fmt(c.get('actual_flops'))} FLOPs, error {fmt(c.get('error_nats'), '.3f')} "
            f"({'within' if c['success'] else 'beyond'} {fmt(bt.get('success_threshold_nats'), 'g')} nats)"
        )
    adv = bt.get("advance_factor")
    click.echo(f"  the earliest success came {advance(adv)} ahead in compute" if adv else
               "  no cutoff predicted the elbow within the threshold: low trust in this benchmark's forecasts")  # fmt: skip

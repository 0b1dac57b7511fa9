"""The main job: the dashboard on the shipped results at once, then the whole method live on a toy ladder.

`emergence demo` (what `make demo` runs) starts the Streamlit dashboard on loopback, builds the knowledge
world's reduced ladder, sweeps it over its tasks, fits, backtests and forecasts each (task, metric), and
writes the forecast JSON files; its summary leads with the forecast made before emergence and what then
happened. The dashboard re-reads the store as results land.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from emergence.builtin import dashboard_app, shipped_store, specs_dir
from emergence.errors import EmergenceError

if TYPE_CHECKING:
    import pandas as pd

LIVE_STORE = Path("runs") / "demo.sqlite"
"""The live run's store, under the folder the demo runs in (with the ladder in runs/toy-ladder)."""


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there on loopback, else a free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise EmergenceError("no free port on 127.0.0.1 for the dashboard; pass --port")


def start_dashboard(port: int, log: Path, *, timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start the dashboard on 127.0.0.1:port and wait until it answers; returns the process and its URL."""
    app = dashboard_app()
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "EMERGENCE_LIVE_STORE": str(LIVE_STORE.resolve())},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmergenceError(f"the dashboard exited at start (code {proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise EmergenceError(f"the dashboard did not answer within {timeout:.0f} s; see {log}")


LIVE_LADDER = Path("runs") / "knowledge-ladder"


def live_spec(spec_path: Path | None = None):
    """The live run's sweep spec: the given one, or the shipped knowledge-demo.yaml writing into ./runs/."""
    from emergence.config import SweepSpec

    if spec_path is not None:
        return SweepSpec.from_yaml(spec_path)
    spec = SweepSpec.from_yaml(specs_dir() / "knowledge-demo.yaml")
    folder = LIVE_LADDER.resolve()
    ladder = spec.ladder.model_copy(update={"toy": spec.ladder.toy.model_copy(update={"out_dir": folder})})
    finetune = spec.finetune.model_copy(update={"replay_corpus": folder / "replay.txt"})
    return spec.model_copy(update={"store": LIVE_STORE.resolve(), "ladder": ladder, "finetune": finetune})


LADDER_TOLERANCE = 0.01
"""Nats by which a live checkpoint's loss may differ from the shipped one of the same id before the demo
warns that its figures will not be the shipped ones."""


def ladder_note(live: pd.DataFrame, shipped: Path) -> str | None:
    """A warning when the live ladder's checkpoints (a store's checkpoints table) differ from the shipped
    ones of the same ids, else None: training that rounds differently on another CPU, or an older build in
    the ladder folder, gives a ladder that tells another story (the knowledge world's sizes learn at
    run-dependent points: docs/toy-world.md, "Cost"). Advisory, so an unreadable shipped store is skipped."""
    from emergence.store import Store

    try:  # a missing or unreadable shipped store raises here
        with Store(shipped, read_only=True) as store:
            ref = store.checkpoints().set_index("checkpoint_id")["pretraining_loss"]
    except EmergenceError:
        return None
    mine = live.set_index("checkpoint_id")["pretraining_loss"]
    common = mine.index.intersection(ref.index)
    gap = (mine[common] - ref[common]).abs().dropna()
    if gap.empty or gap.max() <= LADDER_TOLERANCE:
        return None
    worst = gap.idxmax()
    return (
        f"this ladder is not the shipped one ({worst}: {mine[worst]:.3f} nats, shipped {ref[worst]:.3f}; "
        f"{int((gap > LADDER_TOLERANCE).sum())} of {len(gap)} checkpoints differ by more than {LADDER_TOLERANCE}), "
        "so the live figures will not be the shipped ones (another CPU, or an older build in the ladder "
        "folder); the dashboard's shipped results show those"
    )


def run_live(spec, *, say: Callable[[str], None] = print, n_boot: int = 200) -> list[tuple[dict, dict]]:
    """Sweep the demo spec (`live_spec`'s), then fit, backtest and forecast every (task, metric); returns each forecast
    document with the forecast made from the checkpoints still at chance few-shot
    (`emergence.forecast.run_before_emergence`)."""
    from emergence.forecast import (
        Budget,
        FitOptions,
        fit_table,
        forecast,
        run_before_emergence,
        task_pairs,
        write_document,
    )
    from emergence.harness.sweep import run_sweep
    from emergence.pipeline import default_out
    from emergence.progress import progress_bar
    from emergence.store import Store

    amounts = sorted({r.data_amount for r in spec.runs}) if spec.runs else spec.data_amounts
    say(f"sweep: {spec.ladder.name} x {', '.join(spec.tasks)} x data amounts {amounts}")
    with progress_bar("sweep", "job") as progress:
        summary = run_sweep(spec, progress=progress)
    say(f"sweep: {summary.message()}")
    documents = []
    with Store(spec.store) as store:
        if note := ladder_note(store.checkpoints(), shipped_store()):
            say(f"warning: {note}")
        results = store.results()
        if results.empty:
            raise EmergenceError(f"the demo sweep produced no results ({summary.message()})")
        largest = float(store.checkpoints()["flops"].max())
        budgets = [Budget(flops=largest * factor) for factor in (2.0, 4.0, 10.0)]
        for task, metric in task_pairs(results):
            say(f"forecast: {task} / {metric}")
            # the sigmoid: the link of the shipped forecasts, which AIC prefers on every built-in task
            options = FitOptions(n_boot=n_boot, link="sigmoid")
            document = forecast(store, task, metric, budgets, options, command="emergence demo")
            path = default_out(spec.store, task, metric)
            write_document(document, path)
            say(f"wrote {path}")
            documents.append((document, run_before_emergence(fit_table(results, task, metric), options)))
    return documents


def wait_for(proc: subprocess.Popen) -> None:
    """Keep the dashboard up until it exits or the user presses Ctrl-C."""
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def environment() -> None:
    """The embedded default needs nothing from a hub: say so to every library that might ask one."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

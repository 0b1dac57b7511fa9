"""How long each dashboard page's script run takes on a store of 20 benchmarks x 500 runs.

    python benchmarks/dashboard_speed.py [--benchmarks 20] [--repeats 3]

Builds the store (simulated results written through the store, one forecast document per benchmark), runs
each page once to warm the caches (the cold start: imports, store reads, live fits), then times further
script runs with streamlit's AppTest and prints the median and the largest per page. Target: 1.5 s.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emergence.dashboards.demo_store import build_store  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from emergence import forecast  # noqa: E402
from emergence.store import Store  # noqa: E402

PAGES = ["portfolio", "benchmark", "backtest", "runs", "import_export"]
TARGET_S = 1.5


def make_store(path: Path, n_benchmarks: int) -> dict:
    """20 tasks x (10 checkpoints x 5 data amounts x 10 seeds = 500 runs); one real forecast, cloned per task."""
    tasks = tuple(f"task_{i:02d}" for i in range(n_benchmarks))
    t = time.perf_counter()
    build_store(path, tasks, n_checkpoints=10, seeds=10, failed=20, pending=20)
    with Store(path) as store:
        budgets = [forecast.Budget(flops=store.checkpoints()["flops"].max() * f) for f in (1, 4, 16)]
        options = forecast.FitOptions(n_boot=20, d0_values=(1.0, 4.0))
        doc = forecast.forecast(
            store, tasks[0], "acc", budgets, options, command="benchmarks/dashboard_speed.py"
        )
        for task in tasks[1:]:
            clone = copy.deepcopy(doc) | {"task": task}
            store.add_forecast(forecast.validate_document(clone))
        counts = store.counts()
    print(
        f"store: {counts['runs']:,} runs, {counts['forecasts']} forecasts, built in {time.perf_counter() - t:.0f} s"
    )
    return counts


def time_pages(path: Path, repeats: int) -> dict[str, list[float]]:
    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=600)
    at.session_state["store_path"] = str(path)
    at.run()
    out = {}
    for page in PAGES:
        if page != "portfolio":
            at.switch_page(f"views/{page}.py")
        t = time.perf_counter()
        at.run()  # cold: first visit fits and caches
        cold = time.perf_counter() - t
        assert not at.exception, at.exception
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            at.run()
            runs.append(time.perf_counter() - t)
        out[page] = [cold, *runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.sqlite"
        make_store(path, args.benchmarks)
        times = time_pages(path, args.repeats)
    print(f"{'page':<15}{'first visit s':>14}{'median s':>10}{'max s':>8}  target {TARGET_S} s")
    for page, (cold, *runs) in times.items():
        flag = "ok" if max(runs) <= TARGET_S else "SLOW"
        print(f"{page:<15}{cold:>14.2f}{statistics.median(runs):>10.2f}{max(runs):>8.2f}  {flag}")


if __name__ == "__main__":
    main()

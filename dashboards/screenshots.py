"""A real-browser check of the dashboard: serve it on loopback, load each page in headless Chromium, save PNGs.

    python dashboards/screenshots.py [--store PATH] [--out DIR] [--readme docs/dashboard-benchmark.png]
                                     [--task toy_sum_qa] [--pages benchmark ...] [--size 1400,4000]

Without --store it builds a simulated store (dashboards/demo_store.py) in a temporary folder. Needs Debian's
``chromium`` (``apt-get install -y chromium``). Prints one line per page: the PNG and its size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"portfolio": "", "benchmark": "benchmark", "backtest": "backtest", "runs": "runs"}
PAGES["import_export"] = "import_export"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
READY = {  # text each page shows once its script has finished
    "portfolio": "All benchmarks",
    "benchmark": "Fitted parameters",
    "backtest": "One benchmark",
    "runs": "All runs",
    "import_export": "Tables (CSV)",
}
BUSY = (
    'data-testid="stSpinner"',
    'data-testid="stSkeleton"',
    "Fitting the forecast",
    "Running the backtest",
    "Replaying the chain",
    "Planning the runs",
    "Forecasting from the checkpoints",
)
DOM_MARKS = {
    "charts": "stVegaLiteChart",
    "tables": "stDataFrame",
    "exceptions": "stException",
    "errors": "stAlertContentError",
    "loading": "stSkeleton",
    "spinners": "stSpinner",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(store: Path, port: int) -> subprocess.Popen:
    """Start the app on 127.0.0.1:port and wait until /_stcore/health answers ok."""
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py"]
    cmd += ["--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port)]
    cmd += ["--browser.gatherUsageStats", "false"]
    env = dict(os.environ, EMERGENCE_STORE=str(store))
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT / "dashboards"
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"streamlit exited early: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the dashboard did not answer /_stcore/health within 60 s")


def chromium(url: str, *args: str, budget_ms: int = 15000, size: str = "1400,1800") -> str:
    """Load ``url`` in headless Chromium with a fresh profile; return what it printed."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("no chromium on PATH: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}"]
        cmd += [f"--window-size={size}", *args, url]
        done = subprocess.run(cmd, check=True, capture_output=True, timeout=180, text=True)
        return done.stdout


def finished(name: str, dom: str) -> bool:
    return READY[name] in dom and not any(mark in dom for mark in BUSY)


def check(name: str, url: str) -> str:
    """What the rendered page holds: charts, tables, errors (from its DOM). A busy machine can outlast the
    virtual-time budget and dump a page still running: count a finished one, or say it never finished."""
    for _ in range(4):
        dom = chromium(url, "--dump-dom")
        if done := finished(name, dom):
            break
    found = {mark: dom.count(f'data-testid="{testid}"') for mark, testid in DOM_MARKS.items()}
    summary = ", ".join(f"{n} {mark}" for mark, n in found.items())
    return summary if done else summary + ", NOT FINISHED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="the store to show (default: a simulated one)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "screenshots")
    parser.add_argument("--readme", type=Path, help="also save a small benchmark-page PNG here")
    parser.add_argument(
        "--task", help="the benchmark the Benchmark and Backtest pages show (default: the first)"
    )
    parser.add_argument("--pages", nargs="*", default=list(PAGES))
    parser.add_argument(
        "--size", default="1400,1800", help="window width,height (a tall one shows whole pages)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store
        if store is None:
            sys.path.insert(0, str(ROOT))
            from emergence.dashboards.demo_store import build_store

            store = Path(tmp) / "store.sqlite"
            build_store(store, forecasts=3)
        port = free_port()
        proc = serve(store.resolve(), port)
        try:
            query = f"?task={urllib.parse.quote(args.task)}" if args.task else ""
            paged = ("benchmark", "backtest")  # the pages that take ?task=
            urls = {n: f"http://127.0.0.1:{port}/{PAGES[n]}" + (query * (n in paged)) for n in args.pages}
            # warm up: the first visits pay the imports, store reads and live fits
            for name, url in urls.items():
                deadline = time.time() + 180
                while time.time() < deadline:
                    if finished(name, chromium(url, "--dump-dom")):
                        break
                    time.sleep(3)
            for name, url in urls.items():
                png = args.out / f"{name}.png"
                for _ in range(4):  # a busy machine can outlast the virtual-time budget: retry a blank page
                    chromium(url, f"--screenshot={png}", size=args.size)
                    if png.stat().st_size > 30 * 1024:
                        break
                print(f"{name:14s} {png}  {png.stat().st_size / 1024:.0f} KiB  {check(name, url)}")
            if args.readme:
                args.readme.parent.mkdir(parents=True, exist_ok=True)
                chromium(
                    f"http://127.0.0.1:{port}/benchmark{query}",
                    f"--screenshot={args.readme}",
                    size="1200,1400",
                )
                print(f"{'readme':14s} {args.readme}  {args.readme.stat().st_size / 1024:.0f} KiB")
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()

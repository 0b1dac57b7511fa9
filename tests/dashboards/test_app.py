"""The planners' dashboard, page by page, on real stores (simulated results written through the store)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the dashboards folder is not an installed package
    sys.path.insert(0, str(ROOT))

from emergence.dashboards.demo_store import build_store, simulated_rows  # noqa: E402

from emergence.store import Store  # noqa: E402

APP = str(ROOT / "dashboards" / "app.py")
SHIPPED = ROOT / "data" / "demo" / "store.sqlite"
PAGES = ["portfolio", "benchmark", "backtest", "runs", "import_export"]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest (streamlit 1.67) leaves sys.modules["__main__"] pointing at the app script, so a process
    pool started later with "spawn" (the harness's) would run the dashboard in each worker. Put it back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Four simulated tasks, two of them with exported forecasts, and failed and pending jobs."""
    path = tmp_path_factory.mktemp("dash") / "store.sqlite"
    build_store(path, forecasts=2, n_boot=10)
    return path


def open_app(store: Path, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["store_path"] = str(store)
    at.run()
    assert not at.exception, at.exception
    if page is not None and page != "portfolio":
        at.switch_page(f"views/{page}.py").run()
    return at


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_errors(store, page):
    at = open_app(store, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value.lower().replace(" / ", "_").replace(" ", "_") == page


def test_portfolio_lists_every_benchmark_with_points_and_trust(store):
    at = open_app(store)
    shown = metrics(at)
    assert shown["Benchmarks"] == "4"
    assert shown["From exported forecasts"] == "2"
    assert len(charts(at)) == 2  # trust by ladder, the emergence points
    ladders = at.dataframe[0].value
    assert ladders[["ladder", "benchmarks"]].values.tolist() == [["simulated", 4]]
    table = at.dataframe[-1].value
    assert set(table["benchmark"]) == {"arith_sum", "copy_span", "bracket_match", "word_sort"}
    assert {"loss", "loss_lower", "loss_upper", "flops", "trust", "source"} <= set(table.columns)
    documented = table[table["source"].str.startswith("forecast")]
    assert documented["trust"].isin(["high", "medium", "low", "untested"]).all()
    found = table[table["status"] == "found"]
    assert ((found["loss_lower"] <= found["loss"]) & (found["loss"] <= found["loss_upper"])).all()


def test_benchmark_shows_law_shift_and_compute_charts(store):
    at = open_app(store, "benchmark")
    at.selectbox(key="benchmark_task").set_value("arith_sum").run()
    assert not at.exception
    assert "Few-shot emergence (loss)" in metrics(at)
    assert len(charts(at)) >= 3  # accuracy vs loss, elbow vs data amount, forecast vs compute


def test_budget_control_changes_the_numbers(store):
    at = open_app(store, "benchmark")
    at.selectbox(key="benchmark_task").set_value("arith_sum").run()
    at.radio(key="budget_mode").set_value("FLOPs").run()
    small = Store(store).checkpoints()["flops"].min()
    at.number_input(key="budget_flops").set_value(float(small)).run()
    low = metrics(at)
    at.number_input(key="budget_flops").set_value(float(small) * 1e4).run()
    high = metrics(at)
    assert not at.exception
    keys = ["Predicted pretraining loss", "Expected few-shot accuracy", "P(emerged by this budget)"]
    assert all(low[k] != high[k] for k in keys), (low, high)
    assert float(high["Predicted pretraining loss"].split()[0]) < float(
        low["Predicted pretraining loss"].split()[0]
    )
    assert float(high["P(emerged by this budget)"].rstrip("%")) >= float(
        low["P(emerged by this budget)"].rstrip("%")
    )

    at.radio(key="budget_mode").set_value("Params + tokens").run()
    before = metrics(at)["Predicted pretraining loss"]
    at.number_input(key="budget_params").set_value(at.number_input(key="budget_params").value * 10).run()
    assert metrics(at)["Predicted pretraining loss"] != before

    at.radio(key="budget_mode").set_value("Pretraining loss").run()
    at.number_input(key="budget_loss").set_value(3.5).run()
    weak = metrics(at)
    at.number_input(key="budget_loss").set_value(1.8).run()
    strong = metrics(at)
    assert weak["P(emerged by this budget)"] != strong["P(emerged by this budget)"]
    assert not at.exception


def test_backtest_page_shows_cutoffs(store):
    at = open_app(store, "backtest")
    at.selectbox(key="backtest_task").set_value("arith_sum").run()
    assert not at.exception
    assert "Advance factor" in metrics(at)
    assert len(charts(at)) == 2


def test_runs_page_filters_and_shows_failure_reasons(store):
    at = open_app(store, "runs")
    assert metrics(at)["Failed"] == "3"
    at.multiselect(key="runs_status").set_value(["failed"]).run()
    reasons = at.dataframe[0].value
    assert "CUDA out of memory while finetuning" in set(reasons["reason"])
    assert at.subheader[-1].value == "All runs (3 shown)"


def test_runs_page_marks_runs_a_newer_run_of_their_cell_replaced(tmp_path, store):
    copy = tmp_path / "store.sqlite"
    shutil.copy(store, copy)
    with Store(copy) as st:
        old = st.runs("done").iloc[0]
        st.add_runs([dict(old[["checkpoint_id", "task", "data_amount", "seed", "method"]]) | dict(
            run_id="newer", spec={"learning_rate": 1e-4})])  # fmt: skip
        st.claim_run("newer", "w")
        st.finish_run("newer", [dict(metric="acc", value=0.5, n_examples=100, stderr=0.05)])
        done = int((st.runs().status == "done").sum())
    at = open_app(copy, "runs")
    assert metrics(at)["Done"] == f"{done - 1:,}"
    assert any("1 more run is done but replaced" in c.value for c in at.caption)
    at.multiselect(key="runs_status").set_value(["replaced"]).run()
    assert at.dataframe[-1].value["run_id"].tolist() == [old["run_id"]]


def _counts(path: Path) -> dict:
    with Store(path) as s:
        return s.counts()


@pytest.mark.parametrize(
    ("kind", "name", "content"),
    [
        ("Forecast JSON", "truncated.json", b'{"schema_version": "1.0", "task": "x"'),
        ("Forecast JSON", "incomplete.json", json.dumps({"schema_version": "1.0", "task": "x"}).encode()),
        (
            "Tidy results CSV",
            "bad.csv",
            b"task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,"
            b"n_examples\nt,acc,c1,2.5,0,0,1.5,100\n",
        ),  # fmt: skip
        ("lm-eval results (results_*.json)", "results_x.json", b'{"results": {"t": {"acc,none": "high"}}}'),
    ],
)
def test_bad_upload_is_refused_and_changes_nothing(tmp_path, kind, name, content):
    path = tmp_path / "store.sqlite"
    build_store(path, ("arith_sum",), failed=0, pending=0)
    before = _counts(path)
    at = open_app(path, "import_export")
    at.radio(key="upload_kind").set_value(kind).run()
    uploader = next(u for u in at.get("file_uploader") if u.label == "Files")
    uploader.set_value((name, content, "application/octet-stream")).run()
    assert not at.exception
    assert any(e.value.startswith("Refused, nothing was stored") for e in at.error), [
        e.value for e in at.error
    ]
    assert not [b for b in at.button if b.key == "upload_import"]
    assert _counts(path) == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("store.sqlite")) == []


def test_good_uploads_land_in_the_store(tmp_path, store):
    path = tmp_path / "store.sqlite"
    build_store(path, ("arith_sum",), failed=0, pending=0)
    at = open_app(path, "import_export")
    at.radio(key="upload_kind").set_value("Tidy results CSV").run()
    rows = simulated_rows(("new_task",), seed=3)  # another ladder: its checkpoints get names of their own
    rows["checkpoint"] = "other-" + rows["checkpoint"]
    csv = rows.drop(columns=["flops"]).to_csv(index=False).encode()
    next(u for u in at.get("file_uploader") if u.label == "Files").set_value(("r.csv", csv, "text/csv")).run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="upload_import").click().run()
    assert "new_task" in set(Store(path).results()["task"])

    doc = Store(store).forecasts()["document"].iloc[0]
    at.radio(key="upload_kind").set_value("Forecast JSON").run()
    up = next(u for u in at.get("file_uploader") if u.label == "Files")
    up.set_value(("f.json", json.dumps(doc).encode(), "application/json")).run()
    at.button(key="upload_import").click().run()
    assert not at.exception and not at.error
    assert _counts(path)["forecasts"] == 1


def test_a_click_is_not_lost_when_the_store_changed_since_the_last_run(tmp_path, store):
    path = tmp_path / "store.sqlite"
    build_store(path, ("arith_sum",), failed=0, pending=0)
    at = open_app(path, "import_export")
    at.radio(key="upload_kind").set_value("Forecast JSON").run()
    doc = Store(store).forecasts()["document"].iloc[0]
    up = next(u for u in at.get("file_uploader") if u.label == "Files")
    up.set_value(("f.json", json.dumps(doc).encode(), "application/json")).run()
    with Store(path) as other:  # a live sweep lands a result between the user's two runs
        other.add_checkpoint("landed", "live/landed", pretraining_loss=2.0)
    at.button(key="upload_import").click().run()
    assert [s.value for s in at.success][-1].startswith("Stored 1 forecast(s) as imported")
    assert _counts(path)["forecasts"] == 1


def test_results_landing_in_the_store_show_up(tmp_path):
    path = tmp_path / "store.sqlite"
    build_store(path, ("arith_sum",), failed=0, pending=0)
    at = open_app(path)
    assert metrics(at)["Benchmarks"] == "1"
    with Store(path) as s:
        s.add_results(simulated_rows(("copy_span",)), fmt="tidy", source="live")  # the same ladder
    at.run()
    assert metrics(at)["Benchmarks"] == "2"


def test_store_path_is_a_setting_and_a_missing_store_is_not_created(tmp_path, store):
    missing = tmp_path / "nowhere" / "store.sqlite"
    at = open_app(store)
    at.sidebar.text_input[0].set_value(str(missing)).run()
    assert any("no store at" in e.value for e in at.error)
    assert not missing.exists() and not missing.parent.exists()
    at.sidebar.text_input[0].set_value(str(store)).run()
    assert not at.error and metrics(at)["Benchmarks"] == "4"


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
@pytest.mark.parametrize("page", PAGES)
def test_pages_on_the_shipped_demo_store(page):
    at = open_app(SHIPPED, page)
    assert not at.exception and not at.error, [e.value for e in at.error]


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
def test_the_portfolio_names_benchmarks_it_cannot_place_in_flops_and_why():
    at = open_app(SHIPPED)
    (caption,) = [c.value for c in at.caption if c.value.startswith("Not shown, no FLOPs estimate")]
    assert "know_country_qa (exact_match)" in caption and "toy_sum_qa" not in caption
    notes = at.dataframe[-1].value.set_index(["benchmark", "metric"])["note"]
    assert notes["know_country_qa", "exact_match"].startswith(
        "FLOPs not to be trusted: the loss law levels off"
    )


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
@pytest.mark.parametrize("page,key", [("benchmark", "benchmark_task"), ("backtest", "backtest_task")])
def test_flops_through_a_loss_law_that_contradicts_its_ladder_come_with_a_warning(page, key):
    # the knowledge world's compute law levels off above the loss its largest size reached
    at = open_app(SHIPPED, page)
    at.selectbox(key=key).set_value("know_country_qa").run()
    assert not at.exception
    assert any("FLOPs not to be trusted: the loss law levels off" in w.value for w in at.warning)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
def test_a_backtest_whose_cutoffs_place_no_elbow_says_why_and_shows_what_it_had():
    at = open_app(SHIPPED, "backtest")
    at.selectbox(key="backtest_task").set_value("toy_sum_choice").run()
    assert metrics(at)["Cutoffs"] == "3"
    assert at.info[0].value == (
        "None of the 3 cutoffs placed a few-shot elbow: no elbow found: the few-shot elbow ran to the edge of "
        "its range (3 cutoffs)"
    )  # one line: the notes' numbers dropped
    assert len(charts(at)) == 1  # the few-shot accuracy against FLOPs, the cutoffs marked


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
def test_a_backtest_imported_without_cutoff_notes_still_says_why_it_is_empty(tmp_path):
    with Store(SHIPPED, read_only=True) as shipped:
        document = shipped.forecasts(current=True).query("task == 'toy_sum_choice'").iloc[-1]["document"]
        results = shipped.results("toy_sum_choice")
    for cutoff in document["backtest"]["cutoffs"]:  # a forecast JSON from elsewhere: notes are optional
        cutoff.pop("note", None)
    with Store(tmp_path / "store.sqlite") as st:  # the same results, and that forecast imported
        st.add_results(results.drop(columns="run_id"), fmt="tidy", source="shipped")
        st.import_forecasts([document])
    at = open_app(tmp_path / "store.sqlite", "backtest")
    at.selectbox(key="backtest_task").set_value("toy_sum_choice").run()
    assert not at.exception and len(charts(at)) == 1
    assert at.info[0].value == "None of the 3 cutoffs placed a few-shot elbow: no reason recorded (3 cutoffs)"


def test_dashboard_never_imports_torch_or_the_harness(store):
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=120)
at.session_state["store_path"] = {str(store)!r}
at.run()
for page in {PAGES[1:]!r}:
    at.switch_page(f"views/{{page}}.py").run()
    assert not at.exception, at.exception
import emergence.dashboards.data, emergence.dashboards.fits, emergence.dashboards.charts, emergence.dashboards.demo_store
import emergence.dashboards.chain_charts, emergence.dashboards.backtest_charts, emergence.dashboards.plan_panel
heavy = ("torch", "transformers", "lm_eval", "peft", "emergence.harness", "emergence.ladder")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(heavy[4:])))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_loopback_config_ships_with_the_dashboard():
    text = (ROOT / "dashboards" / ".streamlit" / "config.toml").read_text()
    assert 'address = "127.0.0.1"' in text
    assert "gatherUsageStats = false" in text
    assert "headless = true" in text


def test_simulated_store_matches_the_results_table(store):
    res = Store(store).results()
    assert isinstance(res, pd.DataFrame) and res["task"].nunique() == 4


def test_one_good_cutoff_is_not_a_high_trust_backtest():
    from emergence.dashboards import trust

    def doc(errors):
        cutoffs = [{"error_nats": e} for e in errors]
        fitted = [e for e in errors if e is not None]
        return {
            "backtest": {
                "status": "done",
                "cutoffs": cutoffs,
                "median_error_nats": float(pd.Series(fitted).median()),
                "success_rate": sum(e <= 0.1 for e in fitted) / len(fitted),
            }
        }

    one = trust.trust_mark(doc([None, None, 0.038]))
    assert one["mark"] == "medium" and "1 of 3 cutoffs fitted" in one["detail"]
    assert trust.trust_mark(doc([0.02, 0.04, 0.03]))["mark"] == "high"
    assert trust.trust_mark(doc([0.2, 0.3, 0.25]))["mark"] == "low"

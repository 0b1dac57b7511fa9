"""The dashboard on both kinds of store: a ladder of few-shot results (the chain forecasts it) and a
finetuned ladder (the emergence law, with a plan of the next runs); trust per ladder; the backtests."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the dashboards folder is not an installed package
    sys.path.insert(0, str(ROOT))

from emergence.dashboards import data, trust  # noqa: E402
from emergence.dashboards.demo_store import build_store  # noqa: E402

from emergence import forecast  # noqa: E402
from emergence.ingest import ingest  # noqa: E402
from emergence.store import Store  # noqa: E402
from tests.tables import write_olmo_ladder  # noqa: E402

APP = str(ROOT / "dashboards" / "app.py")
SHIPPED = ROOT / "data" / "demo" / "store.sqlite"
PAGES = ["portfolio", "benchmark", "backtest"]
CHAIN_TASK = "hellaswag_val_rc_5shot"
SIZES = {"190M": 190354176, "370M": 371262464, "760M": 758220288, "1B": 1279395840}


@pytest.fixture(autouse=True)
def _restore_main_module():
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def chain_store(tmp_path_factory) -> Path:
    """OLMo ladder logs (4 sizes x 3 token multiples, few-shot only) and one chain forecast document."""
    tmp = tmp_path_factory.mktemp("olmo")
    folder = write_olmo_ladder(tmp / "olmo-ladder", sizes=SIZES, multipliers=(1, 2, 4), steps=6)
    path = tmp / "store.sqlite"
    with Store(path) as store:
        ingest(store, folder)
        budgets = [forecast.Budget(flops=1e21)]
        forecast.forecast(store, CHAIN_TASK, "len_norm", budgets, forecast.FitOptions(n_boot=20))
    return path


@pytest.fixture(scope="module")
def law_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("law") / "store.sqlite"
    build_store(path, ("arith_sum", "copy_span"), forecasts=1, n_boot=10, failed=0, pending=0)
    return path


def open_app(store: Path, page: str = "portfolio", **select) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["store_path"] = str(store)
    at.run()
    if page != "portfolio":
        at.switch_page(f"views/{page}.py").run()
    for key, value in select.items():
        at.selectbox(key=key).set_value(value).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "info", "code") for e in at.get(kind))


@pytest.mark.parametrize("page", PAGES)
def test_new_views_render_on_a_chain_store(chain_store, page):
    at = open_app(chain_store, page)
    assert at.title[0].value.lower() == page


def test_benchmark_shows_the_chain_not_a_missing_elbow(chain_store):
    at = open_app(chain_store, "benchmark", benchmark_task=CHAIN_TASK)
    shown = metrics(at)
    assert not [w.value for w in at.warning if "cannot place an elbow" in w.value]
    assert shown["Few-shot emergence (loss)"].endswith("nats")
    assert shown["Backtest"] in trust.MARKS
    assert "Link" not in [s.label for s in at.selectbox]  # the chain has no link to choose
    assert len(charts(at)) == 2  # accuracy vs FLOPs, the link
    candidates = at.dataframe[0].value
    assert (candidates["role"] == "chosen").sum() == 1
    assert set(candidates["name"]) <= {
        "corpus loss",
        "corpus loss with fitted ceiling",
        "task loss",
        "compute",
    }
    assert "points on" in texts(at)  # the trust line: mean error in points on held-out runs


def test_a_ladder_of_few_shot_results_gets_its_first_plan(tmp_path):
    """Few-shot results only (the knowledge ladder's, from the shipped store): the chain forecasts them,
    and the plan of the finetuning runs the emergence law would need is made from the prior."""
    with Store(SHIPPED, read_only=True) as st:
        rows = forecast.fit_table(st.results(), "know_country_qa", "exact_match")
    rows = rows[rows["data_amount"] == 0][
        ["task", "metric", "checkpoint", "pretraining_loss", "data_amount", "seed", "accuracy", "n_examples",
         "params", "tokens"]
    ]  # fmt: skip
    rows.to_csv(tmp_path / "fewshot.csv", index=False)
    with Store(tmp_path / "store.sqlite") as store:
        ingest(store, tmp_path / "fewshot.csv")
    at = open_app(tmp_path / "store.sqlite", "benchmark", benchmark_task="know_country_qa")
    shown = metrics(at)
    assert not at.exception and "Backtest" in shown  # the chain's view
    assert 0 < int(shown["Runs planned"]) <= 96 and "from the prior" in texts(at)
    assert any(c.value.startswith("emergence plan") for c in at.code)


def test_chain_budget_moves_the_accuracy(chain_store):
    at = open_app(chain_store, "benchmark", benchmark_task=CHAIN_TASK)
    at.number_input(key="budget_flops").set_value(1e18).run()
    low = metrics(at)
    at.number_input(key="budget_flops").set_value(1e22).run()
    high = metrics(at)
    assert float(high["Expected few-shot accuracy"]) > float(low["Expected few-shot accuracy"])
    assert float(high["Predicted pretraining loss"].split()[0]) < float(
        low["Predicted pretraining loss"].split()[0]
    )


def test_backtest_replays_the_chain_splits(chain_store):
    at = open_app(chain_store, "backtest", backtest_task=CHAIN_TASK)
    shown = metrics(at)
    assert shown["Mean error"].endswith("points") and shown["90% coverage"].endswith("%")
    assert len(charts(at)) == 2
    per_split = at.dataframe[-1].value
    assert {"split", "held_out_runs", "mean_error_points", "coverage"} <= set(per_split.columns)
    assert per_split["held_out_runs"].sum() == int(shown["Held-out runs"])
    documents = at.dataframe[0].value  # exported chain forecasts: chain columns, no empty law columns
    assert "chain error (points)" in documents and "median error (nats)" not in documents


def test_portfolio_rates_chain_forecasts_by_their_own_backtest(chain_store):
    at = open_app(chain_store)
    table = at.dataframe[-1].value
    row = table[table["benchmark"] == CHAIN_TASK].iloc[0]
    assert row["method"] == "chain" and row["trust"] in ("high", "medium", "low")
    assert "bpb" not in set(table["metric"])  # a task's own loss is an intermediate, not a benchmark
    live = table[table["benchmark"] == "boolq_val_rc_5shot"].iloc[0]  # no document: fitted live, by the chain
    assert live["source"] == "live fit" and live["method"] == "chain" and live["trust"] != "untested"
    ladders = at.dataframe[0].value
    assert ladders["ladder"].tolist() == ["olmo-ladder"]
    assert ladders["families"].iloc[0] == "190M, 370M, 760M, 1B"


@pytest.mark.parametrize("page", PAGES)
def test_new_views_render_on_a_finetuned_store(law_store, page):
    open_app(law_store, page)


def test_plan_beside_the_law(law_store):
    at = open_app(law_store, "benchmark", benchmark_task="arith_sum")
    shown = metrics(at)
    now, after = (float(shown[k].split()[0]) for k in ("Elbow ± now (90%)", "After the plan"))
    assert after <= now
    assert 0 < int(shown["Runs planned"]) <= 96 and float(shown["Default grid, same budget"].split()[0]) > 0
    code = [c.value for c in at.code if c.value.startswith("emergence plan")]
    assert (
        code == [code[0]]
        and "--task arith_sum --metric acc --runs 96" in code[0]
        and "--out next.yaml" in code[0]
    )
    at.number_input(key="plan_runs").set_value(200).run()
    assert not at.exception and 96 < int(metrics(at)["Runs planned"]) <= 200
    assert any("--runs 200" in c.value for c in at.code)
    assert len(charts(at)) >= 4  # law, shift, compute (2), and the plan's grid


def test_backtest_shows_the_forecast_before_emergence_in_loss_and_flops(law_store):
    at = open_app(law_store, "backtest", backtest_task="copy_span")
    assert len(charts(at)) == 2  # the elbow per cutoff in loss, and in FLOPs
    assert "**Before emergence**" in texts(at) or "No forecast from the checkpoints still at chance" in texts(
        at
    )


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
@pytest.mark.parametrize(
    ("task", "spec", "chance"),
    [("toy_sum_choice", "toy-full", "0.25"), ("know_country_qa", "knowledge-full", "0")],
)
def test_shipped_store_plans_with_each_worlds_spec(task, spec, chance):
    at = open_app(SHIPPED, "benchmark", benchmark_task=task)
    code = [c.value for c in at.code if c.value.startswith("emergence plan")][0]
    assert code.startswith(f"emergence plan data/specs/{spec}.yaml --task {task} --metric")
    assert f"--link sigmoid --chance {chance}" in code


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store (data/demo/store.sqlite) yet")
def test_shipped_store_rates_each_world_by_its_backtest():
    ladders = open_app(SHIPPED).dataframe[0].value.set_index("ladder")
    assert sorted(ladders.index) == ["knowledge-ladder", "toy-ladder"]
    assert ladders.loc["toy-ladder", "verdict"].startswith("low")  # the phase-change world: do not trust
    assert (ladders["benchmarks"] == 4).all()


@pytest.mark.parametrize(
    ("sources", "label"),
    [
        (
            ["ingested:olmo:/d/olmo-ladder/190M-1xC.csv", "ingested:olmo:/d/olmo-ladder/1B-2xC.csv"],
            "olmo-ladder",
        ),
        (["ingested:olmo:/d/olmo-ladder/190M-1xC.csv"], "olmo-ladder"),
        (["ingested:lmeval:/e/pythia/pythia-160m", "ingested:lmeval:/e/pythia/pythia-410m"], "pythia"),
        (["toy-ladder:l/step-000045", "toy-ladder:m/step-000050"], "toy-ladder"),
        (["ingested:tidy:simulated"], "simulated"),
        (["toy-ladder:l/step-1", "ingested:tidy:simulated"], "simulated + toy-ladder"),
        ([None], "unknown"),
    ],
)
def test_ladder_label(sources, label):
    assert data.ladder_label(pd.Series(sources, dtype=object)) == label


@pytest.mark.parametrize(
    ("mae", "splits", "scale", "mark"),
    [
        (0.015, 5, 1.3, "high"),
        (0.015, 1, 1.0, "medium"),  # one split is one piece of evidence
        (0.015, 5, 2.0, "medium"),  # its own intervals were far too narrow
        (0.04, 5, 1.0, "medium"),
        (0.08, 5, 1.0, "low"),
        (None, 0, 1.0, "untested"),
    ],
)
def test_chain_trust(mae, splits, scale, mark):
    bt = {"mae": mae, "n_targets": 10 * splits, "splits": [f"s{i}" for i in range(splits)],
          "coverage_raw": 0.8, "coverage_scaled": 0.92}  # fmt: skip
    got = trust.chain_trust(bt, scale)
    assert got["mark"] == mark
    if mae is not None:
        assert f"{100 * mae:.1f} points" in got["detail"] and "92%" in got["detail"]

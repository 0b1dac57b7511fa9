"""Charts hand the browser finite numbers only: Vega-Lite refuses a spec holding Infinity, and the page shows
a JSON error instead of the chart."""

import json

import numpy as np
import pandas as pd
import pytest
from emergence.dashboards import backtest_charts, charts


def finite_spec(chart) -> bool:
    json.loads(chart.to_json(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    return True


def test_an_unbounded_emergence_interval_runs_to_the_edge_of_the_portfolio_chart():
    rows = pd.DataFrame({"benchmark": ["a", "b"], "ladder": ["l", "l"], "source": ["x", "x"], "estimate": [1e12, np.inf],
                         "lower": [5e11, 1e12], "upper": [np.inf, 5e12], "trust": ["low", "high"]})  # fmt: skip
    assert finite_spec(charts.emergence_points(rows, "flops"))


def test_the_portfolio_axis_spans_every_estimate_even_far_from_the_others():
    rows = pd.DataFrame({"benchmark": ["a", "b", "c"], "ladder": ["l"] * 3, "source": ["x"] * 3,
                         "estimate": [2e12, 4e12, 3e15], "lower": [1e12, 3e12, 1e13], "upper": [5e12, 1e13, np.inf],
                         "trust": ["low", "high", "untested"]})  # fmt: skip
    lo, hi = json.loads(charts.emergence_points(rows, "flops").to_json())["layer"][1]["encoding"]["x"][
        "scale"
    ]["domain"]
    assert lo < 1e12 and hi >= 3e15  # every estimate, and the finite intervals, on the chart


def test_an_actual_elbow_beyond_the_loss_law_leaves_the_backtest_chart_finite():
    class Law:  # the compute law's inverse: infinite FLOPs below its floor E = 1.5
        def inverse(self, loss):
            return np.inf if loss <= 1.5 else 1e12 * (loss - 1.5) ** -1

    cutoffs = pd.DataFrame({"cutoff_flops": [1e12, 2e12], "predicted_elbow": [1.8, 1.7], "lower": [1.7, 1.6],
                            "upper": [1.9, 1.8], "error": [0.3, 0.2], "success": [False, False]})  # fmt: skip
    assert finite_spec(backtest_charts.elbow_flops(cutoffs, Law(), actual=1.45, threshold=0.1))


def test_model_sizes_are_labelled_as_people_write_them_down_to_the_toy_ladders():
    from emergence.dashboards.chain_charts import size_label

    sizes = [190e6, 1.3e9, 7e9, 3.17e6, 949_000, 45_300, 300]
    assert [size_label(p) for p in sizes] == ["190M", "1.3B", "7B", "3.17M", "949k", "45.3k", "300"]
    # rounding that reaches the next unit moves up to it; sizes that are no size say so
    edges = [999_999, 999_950_000, 1e12, 0.5, 0, -2e6, float("nan")]
    assert [size_label(p) for p in edges] == ["1M", "1B", "1T", "0.5", "?", "?", "?"]


def test_the_loss_axis_leaves_off_weak_checkpoints_that_only_squeeze_the_rise():
    from emergence.dashboards import fits

    from emergence.builtin import shipped_store

    if not shipped_store().is_file():
        pytest.skip("no shipped demo store yet")
    domain = {}
    for task, metric in [("know_country_qa", "exact_match"), ("toy_sum_qa", "exact_match")]:
        fit = fits.benchmark_fit(str(shipped_store()), task, metric, "sigmoid")
        x = charts.accuracy_vs_loss(fit).to_dict()["layer"][1]["encoding"]["x"]
        domain[task] = (x["scale"]["domain"][0], x["title"])
    # the knowledge ladder's first checkpoints sit far up s's warm-up (5.8 nats), all at chance: left off
    weak_end, title = domain["know_country_qa"]
    assert weak_end < 2.5 and "weaker checkpoints, all at the weakest level, off the chart" in title[1]
    # the arithmetic ladder's weakest checkpoints still rise with finetuning: all shown
    weak_end, title = domain["toy_sum_qa"]
    assert weak_end > 1.4 and len(title) == 1

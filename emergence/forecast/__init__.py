"""Forecasts: from one benchmark's results to a versioned forecast document.

- `table`: which rows are fitted (one task and metric, with a pretraining loss) and their hash;
- `fitting`: `fit_benchmark`, the one way to fit the emergence law, the loss laws and the backtest;
- `budgets`: the loss, accuracy and probability of emergence at budgets (FLOPs, params + tokens, a loss);
- `sections` and `model`: the document assembled, typed by pydantic models that generate its JSON Schema;
- `document`: validation and files; `stored`: forecasts made from and kept in the run store.
"""

from emergence.forecast.budgets import budget_forecasts, loss_at_budget
from emergence.forecast.document import (
    dumps_document,
    loads_document,
    read_document,
    schema,
    validate_document,
    write_document,
)
from emergence.forecast.fitting import (
    BenchmarkFit,
    backtest_section,
    compare_links,
    fit_benchmark,
    fit_loss_laws,
    run_backtest,
    run_before_emergence,
)
from emergence.forecast.options import SUCCESS_NATS, Budget, FitOptions
from emergence.forecast.sections import build_document
from emergence.forecast.stored import (
    fit_pair,
    fit_store,
    forecast,
    forecast_table,
    import_documents,
    save_fits,
    stored_forecasts,
)
from emergence.forecast.table import (
    checkpoint_table,
    choose_pair,
    data_hash,
    fit_table,
    matching_pairs,
    task_pairs,
)

__all__ = [
    "SUCCESS_NATS", "BenchmarkFit", "Budget", "FitOptions", "backtest_section", "budget_forecasts",
    "build_document", "checkpoint_table", "choose_pair", "compare_links", "data_hash", "dumps_document",
    "fit_benchmark", "fit_loss_laws", "fit_pair", "fit_store", "fit_table", "forecast", "forecast_table",
    "import_documents", "loads_document", "loss_at_budget", "matching_pairs", "read_document", "run_backtest",
    "run_before_emergence", "save_fits", "schema", "stored_forecasts", "task_pairs", "validate_document",
    "write_document",
]  # fmt: skip

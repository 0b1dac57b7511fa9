"""The document assembled from a fit (emergence.forecast.sections)."""

from emergence.forecast import (
    BenchmarkFit,
    build_document,
)


def test_build_document_validates(simulated, fast):
    _, table = simulated
    fit = BenchmarkFit("t", "acc", table, fast, reason="everything at chance")
    doc = build_document(fit)
    assert doc["emergence_point"] == {
        "status": "not_found",
        "reason": "everything at chance",
        "loss": None,
        "flops": None,
    }

"""The typed document models and the shipped JSON Schema agree, and every shipped document validates."""

import json

import pytest

from emergence.builtin import specs_dir
from emergence.forecast import read_document, schema
from emergence.forecast.model import ForecastDocument, schema_json
from emergence.forecast.model import schema as generated


def test_the_shipped_schema_is_the_one_the_models_generate():
    """`python -m emergence.forecast.model` rewrites the file from the models; this catches a stale one."""
    assert schema() == generated()
    assert json.loads(schema_json()) == generated()


@pytest.mark.parametrize("path", sorted((specs_dir().parent / "demo" / "forecasts").glob("*.json")))
def test_shipped_documents_validate_as_schema_and_as_models(path):
    document = read_document(path)
    assert ForecastDocument.model_validate(document).model_dump(mode="json", exclude_unset=True) == document

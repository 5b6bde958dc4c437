"""Scoring with a model that reads a feature the features table lacks.

The churn model learnt to read `recency_weeks`; a features table built before that column
existed was read with the column null for everyone, and `score_models` wrote 63,863 wrong
scores without a word (the PSI against the day before was 3.99)."""

from pathlib import Path

import pandas as pd
import pytest

from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.defs.catalog import FEATURES
from cdp_assets.defs.ml.inputs import StaleFeatures, features_for
from cdp_assets.warehouse import Warehouse, coerce_frame


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")


def _features_table(warehouse: Warehouse, columns: dict[str, list]) -> None:
    warehouse.replace_table(FEATURES, pd.DataFrame(columns))


def test_a_table_without_a_column_the_model_reads_is_refused(warehouse: Warehouse) -> None:
    _features_table(warehouse, {"customer_id": ["C1"], "recency_days": [15], "frequency": [2]})
    with warehouse.transaction() as session, pytest.raises(StaleFeatures) as refused:
        reads = ("recency_weeks", "frequency", "tenure_months", "days_known")
        features_for(session, reads, "churn v7")
    message = str(refused.value)
    assert message.startswith("churn v7: analytics.customer_features has no column ")
    # days_known is no column of the table's contract: the lead scorer derives it
    assert "no column recency_weeks, tenure_months, which" in message
    assert "Materialize analytics/customer_features first" in message


def test_a_table_with_every_column_is_read(warehouse: Warehouse) -> None:
    zero = {"float64": 0.0, "int64": 0, "bool": False}
    row = {name: [zero.get(dtype)] for name, dtype in FEATURE_DTYPES.items()}
    row |= {"customer_id": ["C1"], "recency_weeks": [2], "frequency": [2]}
    warehouse.replace_table(FEATURES, coerce_frame(pd.DataFrame(row), FEATURE_DTYPES))
    with warehouse.transaction() as session:
        features = features_for(session, ("recency_weeks", "frequency"), "churn v7")
    assert features.loc[0, "recency_weeks"] == 2 and features.loc[0, "frequency"] == 2

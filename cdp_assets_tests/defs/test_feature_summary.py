"""The `summary` table of `analytics.customer_features`' metadata: numeric features only,
figures rounded and counts whole."""

from __future__ import annotations

import pandas as pd

from cdp_assets.defs.analytics.features import feature_summary
from cdp_assets.reporting.markdown import markdown_table


def _features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(["C1", "C2", "C3"], dtype="string"),
            "as_of": pd.to_datetime(["2026-11-20"] * 3),
            "monetary": [12.3456, 88.5792, 164.8128],  # mean 88.57920000000001 in floats
            "frequency": pd.array([1, 4, None], dtype="Int64"),
            "email_consent": pd.array([True, False, None], dtype="boolean"),
        }
    )


def test_only_numeric_features_are_summarised_with_rounded_figures() -> None:
    summary = feature_summary(_features())

    assert summary["feature"].tolist() == ["monetary", "frequency"]
    assert summary["count"].tolist() == [3, 2]
    assert pd.api.types.is_integer_dtype(summary["count"])
    monetary = summary.iloc[0]
    assert (monetary["mean"], monetary["min"], monetary["50%"], monetary["max"]) == (
        88.58,
        12.35,
        88.58,
        164.81,
    )
    assert summary.iloc[1]["mean"] == 2.5


def test_the_markdown_table_shows_rounded_figures_and_whole_counts() -> None:
    table = markdown_table(feature_summary(_features()))

    monetary = next(line for line in table.splitlines() if "monetary" in line)
    assert "| 3 |" in monetary and "| 88.58 |" in monetary and "164.81" in monetary
    assert "88.5792" not in table and "as_of" not in table

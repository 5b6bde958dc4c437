"""The stock-out risk table of the asset's metadata."""

from __future__ import annotations

import warnings

import pandas as pd

from cdp_assets.defs.ml.demand import at_risk_markdown


def test_at_risk_table_rounds_figures_and_keeps_dates_without_warnings() -> None:
    shown = pd.DataFrame(
        {
            "product_id": ["P-1"],
            "product_name": ["Tea"],
            "store_id": ["S1"],
            "on_hand_units": [3],
            "weekly_demand": [1.23456],
            "weeks_of_cover": [2.4301],
            "run_out_date": pd.to_datetime(["2026-12-09"]),
            "p_stockout_before_lead_time": [0.98765],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas warns when .round meets a datetime column
        table = at_risk_markdown(shown)
    row = table.splitlines()[2]
    assert "| 1.23 |" in row and "| 2.43 |" in row and "| 0.99 |" in row
    assert "2026-12-09" in row
    assert at_risk_markdown(shown.iloc[0:0]) == "nothing at risk"

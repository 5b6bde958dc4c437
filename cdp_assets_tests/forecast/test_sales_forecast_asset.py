"""ml/sales_forecast through the real Definitions on a small demo (the nightly job runs it)."""

from pathlib import Path

import dagster as dg
import numpy as np

from cdp_assets.forecast.periods import SALES_FORECAST_COLUMNS
from cdp_assets_tests.e2e.pipeline import make_demo_project, run_job


def test_sales_forecast_materializes_on_the_demo(tmp_path: Path) -> None:
    project = make_demo_project(tmp_path, f"duckdb:///{tmp_path / 'w.duckdb'}", people=300)
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    events = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.to_user_string() == "ml/sales_forecast"
    ]
    assert len(events) == 1
    metadata = {k: v.value for k, v in events[0].metadata.items()}
    assert "status" not in metadata, metadata.get("status")
    assert "chosen_models" in metadata and "backtest_plot" in metadata
    assert metadata["total_mase"] > 0
    checks = {
        c.check_name
        for c in result.get_asset_check_evaluations()
        if c.asset_key.to_user_string() == "ml/sales_forecast"
    }
    assert checks == {"beats_seasonal_naive", "interval_coverage"}

    rows = project.table("ml", "sales_forecast")
    assert list(rows.columns) == list(SALES_FORECAST_COLUMNS)
    assert metadata["dagster/row_count"] == len(rows)
    weekly = rows.loc[rows["frequency"] == "week"]
    assert weekly["period_start"].min().date().isoformat() == "2026-11-21"
    sums = weekly.groupby(["level", "metric", "period_start"])["forecast"].sum().unstack("level")
    np.testing.assert_allclose(sums["channel"], sums["total"], rtol=1e-9)

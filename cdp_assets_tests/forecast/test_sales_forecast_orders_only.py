"""ml/sales_forecast on an orders-only configuration, and with no purchases at all."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import yaml

from cdp_assets_tests.e2e.pipeline import DemoProject, materialization_metadata, run_job

COLUMNS = {"order_id": "order", "customer_ref": "customer", "ordered_at": "when", "amount": "total"}


def _project(tmp_path: Path, orders_csv: str) -> DemoProject:
    path = tmp_path / "landing" / "orders" / "all.csv"
    path.parent.mkdir(parents=True)
    path.write_text(orders_csv, encoding="utf-8")
    source = {
        "name": "orders",
        "kind": "orders",
        "format": "csv",
        "path": "orders/*.csv",
        "columns": COLUMNS,
    }
    config = {"landing_dir": "landing", "timezone": "UTC", "sources": [source]}
    config_path = tmp_path / "cdp.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return DemoProject(tmp_path, config_path, tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}")


def test_orders_only_skips_category_and_units(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    days = pd.date_range("2025-12-01", "2026-11-20", freq="D")
    lines = ["order,customer,when,total"]
    for i, day in enumerate(np.repeat(days, rng.integers(0, 4, len(days)))):
        lines.append(f"O{i},K{i % 40},{day:%Y-%m-%d} 12:00:00,{rng.uniform(10, 90):.2f}")
    project = _project(tmp_path, "\n".join(lines) + "\n")
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    metadata = materialization_metadata(result, "ml/sales_forecast")
    assert "category level is skipped" in metadata["notes"]
    rows = project.table("ml", "sales_forecast")
    assert set(rows["metric"]) == {"net_revenue", "orders"}
    # No channel column: one "unknown" channel; no store ids: no store level.
    assert set(rows["level"]) == {"total", "channel"}
    assert rows["forecast"].notna().all()


def test_no_purchases_reports_not_enough_data(tmp_path: Path) -> None:
    project = _project(tmp_path, "order,customer,when,total\n")
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    assert materialization_metadata(result, "ml/sales_forecast")["status"].startswith(
        "not enough data"
    )

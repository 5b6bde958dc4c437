"""End to end: product demand and stock-out risk through the real Definitions on a small demo
(orders, items and the demo's inventory file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from cdp_assets_tests.e2e.pipeline import (
    DemoProject,
    load_definitions,
    make_demo_project,
    materialization_metadata,
    project_env,
    run_job,
)

HORIZON = 13  # the demo cdp.yaml's models.forecast.horizon_weeks (the default)
LEAD_TIME = 4.0  # ... and stockout_lead_time_weeks


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("demand")
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}", people=400)
    with dg.instance_for_test() as instance:
        yield {"project": project, "result": run_job(project, instance)}


def test_product_demand_is_published_with_its_backtest(nightly: dict) -> None:
    project: DemoProject = nightly["project"]
    assert nightly["result"].success
    demand = project.table("ml", "product_demand")
    products = demand["product_id"].nunique()
    assert 0 < products <= 50
    assert len(demand) == products * HORIZON
    assert (demand.groupby("product_id")["period_start"].nunique() == HORIZON).all()
    assert (demand["period_start"].min() - pd.Timestamp("2026-11-20")).days == 1
    assert (demand["forecast"] >= 0).all()
    assert (demand["lower_95"] <= demand["lower_80"]).all()
    assert (demand["lower_80"] <= demand["upper_80"]).all()
    assert (demand["upper_80"] <= demand["upper_95"]).all()
    meta = materialization_metadata(nightly["result"], "ml/product_demand")
    assert meta["products"] == products
    assert 0 <= meta["coverage_80"] <= 1 and meta["backtest_origins"] >= 2
    assert "recent_rate_x_category_season" in meta["backtest_wape"]
    assert meta["plot"].startswith("![product demand](data:image/png;base64,")


def test_stockout_risk_covers_every_latest_count(nightly: dict) -> None:
    project: DemoProject = nightly["project"]
    counts = pd.read_csv(
        next((project.landing / "inventory").glob("*.csv")), dtype={"store": "string"}
    )
    risk = project.table("ml", "stockout_risk")
    assert len(risk) == len(counts)
    assert risk["on_hand_units"].sum() == counts["on_hand"].sum()
    p = risk["p_stockout_before_lead_time"].dropna()
    assert p.between(0, 1).all() and len(p) > 0
    known = risk["at_risk"].notna()
    expected = risk.loc[known, "weeks_of_cover"].fillna(np.inf) < LEAD_TIME
    assert (risk.loc[known, "at_risk"].astype(bool) == expected).all()
    # An empty shelf has run out already.
    empty = risk["on_hand_units"] == 0
    assert (risk.loc[empty & known, "p_stockout_before_lead_time"] == 1).all()
    meta = materialization_metadata(nightly["result"], "ml/stockout_risk")
    assert meta["at_risk"] == int(risk["at_risk"].fillna(False).sum())


def test_inventory_is_not_customer_data(nightly: dict) -> None:
    project: DemoProject = nightly["project"]
    staged = project.table("staging", "stock_levels")
    assert len(staged) > 0
    with project.warehouse().transaction() as session:
        core = set(session.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'core'"
        )["table_name"])  # fmt: skip
    assert not any("stock" in t or "inventory" in t for t in core)


def test_no_stockout_asset_without_an_inventory_source(tmp_path: Path) -> None:
    project: DemoProject = make_demo_project(
        tmp_path, f"duckdb:///{tmp_path / 'w.duckdb'}", people=50
    )
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    config["sources"] = [s for s in config["sources"] if s["kind"] != "inventory"]
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with project_env(project):
        keys = {k.to_user_string() for k in load_definitions().resolve_all_asset_keys()}
    assert "ml/product_demand" in keys
    assert "ml/stockout_risk" not in keys

"""Churn without a classifier: with less than two churn horizons of history, churn_probability
is the purchase model's P(no purchase in the horizon), named as such."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import ChurnConfig
from cdp_assets.ml import btyd, churn
from cdp_assets_tests.ml.test_ltv import BG, simulated_orders

AS_OF = dt.date(2026, 6, 30)
CONFIG = ChurnConfig(horizon_days=90, min_customers=200, min_positives=20)


def test_short_history_scores_churn_from_the_purchase_model() -> None:
    # 150 days of orders, then the 90 days the scores are about (hidden from the model).
    later = AS_OF + dt.timedelta(days=90)
    orders = simulated_orders(4_000, seed=21, history_days=240, end=later)
    known = orders[orders["ordered_at"] < pd.Timestamp(AS_OF + dt.timedelta(days=1), tz="UTC")]
    assert churn.purchase_model_shortfall(known, AS_OF, CONFIG) is None
    scores = churn.score_churn_by_purchase_model(known, AS_OF, CONFIG, version="none")

    assert scores.dtypes.astype(str).to_dict() == churn.CHURN_SCORE_DTYPES
    summary = btyd.rfm_summary(known, AS_OF)
    assert sorted(scores["customer_id"]) == sorted(summary["customer_id"])
    assert scores["model"].str.startswith(churn.PURCHASE_MODEL_PREFIX).all()
    assert scores["model"].nunique() == 1
    probability = scores["churn_probability"].to_numpy()
    assert ((probability > 0) & (probability < 1)).all()
    # Calibrated: the mean probability is the share of buyers who did not buy in the next 90
    # days of the simulation (it follows BG/NBD, which all three models can represent).
    bought = set(
        orders.loc[
            orders["ordered_at"] >= pd.Timestamp(AS_OF, tz="UTC") + pd.Timedelta(days=1),
            "customer_id",
        ]
    )
    silent = ~scores["customer_id"].isin(bought)
    assert probability.mean() == pytest.approx(silent.mean(), abs=0.03)
    # And it ranks: those who stayed silent had the higher probabilities.
    assert probability[silent.to_numpy()].mean() > probability[~silent.to_numpy()].mean() + 0.05
    assert set(scores["risk_band"]) <= {"low", "medium", "high"}
    assert scores["top_reason_1"].isna().all()


def test_bg_nbd_probability_by_hand() -> None:
    from cdp_assets.ml import purchase_models as pm

    fit = pm.PurchaseFit(pm.BG_NBD, dict(BG.__dict__), 0.0, 1, True, "")
    x, t_x, T = np.array([3.0]), np.array([50.0]), np.array([120.0])
    alive = btyd.bg_nbd_p_alive(BG, x, t_x, T)[0]
    silent = ((BG.alpha + 120) / (BG.alpha + 120 + 90)) ** (BG.r + 3)
    assert fit.p_no_purchase(90, x, t_x, T)[0] == pytest.approx(1 - alive + alive * silent)


def test_the_fallback_applies_only_to_short_histories_with_enough_buyers() -> None:
    long = simulated_orders(1_000, seed=2, history_days=400)
    assert "enough" in churn.purchase_model_shortfall(long, AS_OF, CONFIG)
    few = simulated_orders(50, seed=2, history_days=120)
    assert "customers with a purchase" in churn.purchase_model_shortfall(few, AS_OF, CONFIG)
    assert "no purchases" in churn.purchase_model_shortfall(few.iloc[:0], AS_OF, CONFIG)


def test_score_models_fills_churn_scores_from_the_purchase_model(tmp_path) -> None:
    """End to end on an orders-only setup with 150 days of orders (under two 90-day churn
    horizons) and no churn model: scoring still fills ml.churn_scores."""
    import dagster as dg
    import yaml

    from cdp_assets_tests.e2e.pipeline import END_DATE, run_job, small_project

    orders = simulated_orders(120, seed=5, history_days=150, end=END_DATE)
    csv = pd.DataFrame(
        {
            "order": [f"O{i}" for i in range(len(orders))],
            "customer": orders["customer_id"].astype(str),
            "when": orders["ordered_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "total": orders["net_amount_base"].abs().round(2),
        }
    ).to_csv(index=False)
    columns = {"order_id": "order", "customer_ref": "customer", "ordered_at": "when"}
    source = {
        "name": "orders",
        "kind": "orders",
        "format": "csv",
        "path": "orders/*.csv",
        "columns": columns | {"amount": "total"},
    }
    project = small_project(tmp_path, [source], {"orders/all.csv": csv})
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    config["models"] = {"churn": {"min_customers": 50, "min_positives": 5}}
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
        scored = run_job(project, instance, job="score_models")
    assert scored.success
    metadata = {
        event.asset_key.to_user_string(): event.event_specific_data.materialization.metadata
        for event in scored.get_asset_materialization_events()
    }
    assert "purchase_model:" in metadata["ml/churn_scores"]["status"].value
    scores = project.table("ml", "churn_scores")
    buyers = project.table("core", "orders")["customer_id"].dropna().nunique()
    assert len(scores) == buyers
    assert scores["model"].str.startswith(churn.PURCHASE_MODEL_PREFIX).all()
    assert scores["churn_probability"].between(0, 1).all()

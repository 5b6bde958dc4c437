"""Lifetime value: backtest, model choice, scoring and data requirements, on populations
simulated from the BG/NBD + Gamma-Gamma process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdp_assets.analytics.features import customer_features
from cdp_assets.config import LtvConfig
from cdp_assets.ml import btyd, ltv, ltv_selection
from cdp_assets_tests.analytics.warehouse_fixtures import frame, profiles, write_core

AS_OF = dt.date(2026, 6, 30)
BG = btyd.BgNbdParams(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)  # CDNOW, alpha in days
GG = btyd.GammaGammaParams(p=6.25, q=3.74, v=15.44)


def simulated_orders(
    customers: int, seed: int, history_days: int = 1095, end: dt.date = AS_OF
) -> pd.DataFrame:
    """Orders of customers acquired uniformly over the history, each buying again as the
    BG/NBD process says, every purchase worth what the Gamma-Gamma process says."""
    rng = np.random.default_rng(seed)
    acquired = rng.uniform(0, history_days, customers)
    who, when = btyd.simulate_bg_nbd(BG, history_days - acquired, rng)
    customer = np.concatenate([np.arange(customers), who])
    day = np.concatenate([acquired, acquired[who] + when])
    value = btyd.simulate_gamma_gamma(GG, customer, customers, rng)
    start = pd.Timestamp(end - dt.timedelta(days=history_days - 1), tz="UTC")
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"c{i:05d}" for i in customer], dtype="string"),
            "ordered_at": start + pd.to_timedelta(day, unit="D"),
            "net_amount_base": np.round(value, 2),
            "is_purchase": True,
        }
    )


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return simulated_orders(8_000, seed=1)


@pytest.fixture(scope="module")
def backtest(orders: pd.DataFrame) -> ltv.LtvBacktest:
    return ltv.backtest_ltv(orders, AS_OF, LtvConfig())


def test_backtest_forecasts_the_holdout_revenue(backtest: ltv.LtvBacktest) -> None:
    assert backtest.holdout_days == 365  # three years of history: the full horizon
    assert backtest.cutoff == AS_OF - dt.timedelta(days=365)
    metrics = backtest.metrics
    purchases = backtest.purchases
    assert purchases is not None  # room for a selection split before the cutoff
    candidates = {f"{name}_gamma_gamma" for name in ltv_selection.CANDIDATES}
    assert set(metrics.index) == {
        ltv.BTYD_MODEL,
        ltv.BOOSTING_MODEL,
        ltv.NAIVE_MODEL,
        *candidates,
        purchases.corrected_model,
    }
    assert list(metrics.columns) == [
        "mae",
        "rmse",
        "spearman",
        "predicted_total",
        "actual_total",
        "total_ratio",
        "beats_baseline",
    ]
    btyd_row = metrics.loc[ltv.BTYD_MODEL]
    assert btyd_row["total_ratio"] == pytest.approx(1.0, abs=0.10)
    for model in (ltv.BTYD_MODEL, ltv.BOOSTING_MODEL):
        assert metrics.loc[model, "beats_baseline"]
        assert metrics.loc[model, "mae"] < metrics.loc[ltv.NAIVE_MODEL, "mae"]
        assert metrics.loc[model, "spearman"] > metrics.loc[ltv.NAIVE_MODEL, "spearman"]
    # The corrected purchase model chosen on the selection split, a year before the cutoff.
    assert backtest.chosen == purchases.corrected_model
    assert "lowest RMSE of repeat purchases on the selection split" in backtest.reason
    assert purchases.selection_cutoff == backtest.cutoff - dt.timedelta(days=365)
    # The boosting model learnt from windows that closed before the backtest cutoff.
    assert backtest.training_cutoffs
    assert max(backtest.training_cutoffs) == backtest.cutoff - dt.timedelta(days=365)


def test_backtest_decile_calibration(backtest: ltv.LtvBacktest) -> None:
    deciles = backtest.deciles
    assert list(deciles.columns) == [
        "model",
        "decile",
        "customers",
        "mean_predicted",
        "mean_actual",
    ]
    btyd_deciles = deciles[deciles["model"] == ltv.BTYD_MODEL].set_index("decile")
    assert list(btyd_deciles.index) == list(range(1, 11))
    assert btyd_deciles["customers"].sum() == backtest.customers
    assert btyd_deciles["mean_predicted"].is_monotonic_increasing
    top, bottom = btyd_deciles.loc[10], btyd_deciles.loc[1]
    assert top["mean_actual"] > 10 * bottom["mean_actual"]
    assert top["mean_predicted"] == pytest.approx(top["mean_actual"], rel=0.25)


def test_choice_prefers_accurate_totals_then_mae() -> None:
    def metrics(rows: dict[str, tuple[float, float, bool]]) -> pd.DataFrame:
        data = {
            k: {"mae": m, "total_ratio": r, "beats_baseline": b} for k, (m, r, b) in rows.items()
        }
        return pd.DataFrame.from_dict(data, orient="index")

    naive = (50.0, 2.0, False)
    chosen, _ = ltv.choose_model(
        metrics(
            {
                ltv.BTYD_MODEL: (30, 1.02, True),
                ltv.BOOSTING_MODEL: (29, 0.8, True),
                "naive_baseline": naive,
            }
        )
    )
    assert chosen == ltv.BTYD_MODEL  # boosting's MAE is lower, its total 20% short
    chosen, reason = ltv.choose_model(
        metrics(
            {
                ltv.BTYD_MODEL: (30, 1.3, True),
                ltv.BOOSTING_MODEL: (29, 0.8, True),
                "naive_baseline": naive,
            }
        )
    )
    assert chosen == ltv.BOOSTING_MODEL and "no model within" in reason
    chosen, reason = ltv.choose_model(
        metrics({ltv.BTYD_MODEL: (60, 1.0, False), "naive_baseline": naive})
    )
    assert chosen == ltv.BTYD_MODEL and "baseline" in reason


def test_scores_one_row_per_buyer(orders: pd.DataFrame, backtest: ltv.LtvBacktest) -> None:
    extra = pd.DataFrame(
        {
            "customer_id": pd.Series(["cancelled_only", "future_only", "c00000"], dtype="string"),
            "ordered_at": pd.to_datetime(
                ["2026-01-05 10:00", "2026-07-01 00:00", "2026-07-02 00:00"], utc=True
            ),
            "net_amount_base": [80.0, 50.0, 1000.0],
            "is_purchase": [False, True, True],
        }
    )
    data = pd.concat([orders, extra], ignore_index=True)
    bt = dataclasses.replace(backtest, chosen=ltv.BTYD_MODEL)
    model = ltv.train_ltv(data, AS_OF, LtvConfig(), backtest=bt)
    scores = ltv.score_ltv(model, data, AS_OF, model_version="ltv-7")

    assert {c: str(t) for c, t in scores.dtypes.items()} == ltv.LTV_DTYPES
    assert len(scores) == scores["customer_id"].nunique() == orders["customer_id"].nunique()
    assert not scores["customer_id"].isin(["cancelled_only", "future_only"]).any()
    assert (scores["as_of"] == pd.Timestamp(AS_OF)).all()
    assert (scores["horizon_days"] == 365).all()
    assert (scores["model"] == ltv.BTYD_MODEL).all() and (scores["model_version"] == "ltv-7").all()
    assert scores["p_alive"].between(0, 1).all()
    np.testing.assert_allclose(
        scores["predicted_revenue"], scores["expected_purchases"] * scores["expected_order_value"]
    )
    # A next order date exactly when one purchase is expected within the horizon.
    has_date = scores["expected_next_order_date"].notna()
    assert (has_date == (scores["expected_purchases"] >= 1)).all()
    dates = scores.loc[has_date, "expected_next_order_date"]
    assert (dates > pd.Timestamp(AS_OF)).all()
    assert (dates <= pd.Timestamp(AS_OF) + pd.Timedelta(days=365)).all()
    # Historical revenue: everything bought up to the end of as_of, nothing after.
    revenue = orders.groupby("customer_id")["net_amount_base"].sum()
    by_customer = scores.set_index("customer_id")
    np.testing.assert_allclose(
        by_customer["historical_revenue"], revenue.reindex(by_customer.index)
    )
    # One-time buyers: alive by the model's definition, spend = Gamma-Gamma population mean.
    summary = btyd.rfm_summary(data, AS_OF).set_index("customer_id")
    one_time = summary.index[summary["frequency"] == 0]
    assert (by_customer.loc[one_time, "p_alive"] == 1).all()
    assert model.btyd.gamma_gamma is not None
    mean = model.btyd.gamma_gamma.params.population_mean
    np.testing.assert_allclose(by_customer.loc[one_time, "expected_order_value"], mean)


def test_boosting_scores_when_chosen(orders: pd.DataFrame, backtest: ltv.LtvBacktest) -> None:
    config = LtvConfig(training_cutoffs=2)
    bt = dataclasses.replace(backtest, chosen=ltv.BOOSTING_MODEL, reason="test")
    model = ltv.train_ltv(orders, AS_OF, config, backtest=bt)
    assert model.chosen == ltv.BOOSTING_MODEL and model.booster is not None
    # Its training windows are whole horizons that end by as_of.
    assert max(model.booster.cutoffs) == AS_OF - dt.timedelta(days=365)
    scores = ltv.score_ltv(model, orders, AS_OF, model_version="v2")
    assert (scores["model"] == ltv.BOOSTING_MODEL).all()
    assert scores["predicted_revenue"].notna().all() and (scores["predicted_revenue"] >= 0).all()
    assert scores["predicted_revenue"].corr(scores["expected_purchases"], method="spearman") > 0.5
    described = json.loads(json.dumps(model.describe()))
    assert described["chosen"] == ltv.BOOSTING_MODEL and described["booster_cutoffs"]


def test_short_history_backtests_bg_nbd_alone_and_falls_back(
    backtest: ltv.LtvBacktest,
) -> None:
    short = simulated_orders(1_500, seed=4, history_days=380)
    result = ltv.backtest_ltv(short, AS_OF, LtvConfig())
    assert result.holdout_days == 190  # under two horizons of history: half of it
    assert {ltv.BTYD_MODEL, ltv.NAIVE_MODEL} <= set(result.metrics.index)
    assert ltv.BOOSTING_MODEL not in result.metrics.index
    assert any("gradient boosting not evaluated" in note for note in result.notes)
    # The selection split: half the 190 days before the cutoff.
    assert result.purchases is not None and result.purchases.selection_days == 95
    assert result.chosen == result.purchases.corrected_model
    # A boosting model chosen on another backtest has no full-horizon window here either.
    forced = dataclasses.replace(backtest, chosen=ltv.BOOSTING_MODEL, reason="test")
    model = ltv.train_ltv(short, AS_OF, LtvConfig(), backtest=forced)
    assert model.chosen == ltv.BTYD_MODEL and model.booster is None
    assert "365-day training window" in model.reason


def test_btyd_model_round_trips_through_json(orders: pd.DataFrame) -> None:
    model = ltv.fit_btyd(orders, AS_OF)
    again = ltv.BtydModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
    summary = btyd.rfm_summary(orders, AS_OF).head(50)
    pd.testing.assert_frame_equal(
        ltv.predict_btyd(model, summary, 90), ltv.predict_btyd(again, summary, 90)
    )


def test_predictions_by_hand() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "ordered_at": pd.to_datetime(
                ["2026-01-01", "2026-03-01", "2026-06-20", "2026-06-01"], utc=True
            ),
            "net_amount_base": [10.0, 20.0, 40.0, 15.0],
        }
    )
    fit = btyd.BgNbdFit(btyd.BgNbdParams(2.0, 20.0, 1.5, 6.0), 0.0, 2, 2, True, "")
    model = ltv.BtydModel(fit, None, AS_OF, "D", mean_order_value=21.25)
    summary = btyd.rfm_summary(orders, AS_OF)
    out = ltv.predict_btyd(model, summary, 365).set_index("customer_id")
    x, t_x, T = np.array([2.0, 0.0]), np.array([170.0, 0.0]), np.array([180.0, 29.0])
    expected = btyd.bg_nbd_expected_purchases(fit.params, 365.0, x, t_x, T)
    np.testing.assert_allclose(out["expected_purchases"], expected)
    # Without a spend model: each customer's own mean order value.
    np.testing.assert_allclose(out["expected_order_value"], [70 / 3, 15.0])
    days = btyd.days_to_expected_purchase(fit.params, 365, x, t_x, T)
    assert out.loc["a", "expected_next_order_date"] == pd.Timestamp(AS_OF) + pd.Timedelta(
        days=days[0]
    )


def test_not_enough_data() -> None:
    config = LtvConfig()
    empty = simulated_orders(10, seed=0).iloc[:0]
    assert "no purchases" in ltv.not_enough_data(empty, AS_OF, config)
    short = simulated_orders(3_000, seed=0, history_days=50)
    assert "days of purchase history" in ltv.not_enough_data(short, AS_OF, config)
    few = simulated_orders(100, seed=0)
    assert "customers with a purchase" in ltv.not_enough_data(few, AS_OF, config)
    once = simulated_orders(500, seed=0)
    once = once.drop_duplicates("customer_id")
    assert "repeat buyers" in ltv.not_enough_data(once, AS_OF, config)
    assert ltv.not_enough_data(simulated_orders(1_000, seed=0), AS_OF, config) is None


def test_boosting_reads_point_in_time_warehouse_features(tmp_path: Path) -> None:
    """The ML alternative on analytics.customer_features from a DuckDB warehouse: features
    are asked for at training cutoffs only, each followed by a full label window."""
    simulated = simulated_orders(400, seed=3, history_days=500)
    core_orders = frame(
        "orders",
        (
            {
                "customer_id": row.customer_id,
                "source": "shop",
                "order_id": f"o{i}",
                "ordered_at": row.ordered_at,
                "channel": "web",
                "status": "completed",
                "currency": "USD",
                "amount": row.net_amount_base,
                "amount_base": row.net_amount_base,
                "net_amount_base": row.net_amount_base,
                "is_purchase": True,
            }
            for i, row in enumerate(simulated.itertuples())
        ),
    )
    people = sorted(simulated["customer_id"].unique())
    members = [
        {"customer_id": c, "loyalty_id": c} if i % 3 == 0 else c for i, c in enumerate(people)
    ]
    warehouse = write_core(
        f"duckdb:///{tmp_path}/w.duckdb", customer_profiles=profiles(*members), orders=core_orders
    )
    asked: list[dt.date] = []
    config = LtvConfig(
        horizon_days=60, training_cutoffs=3, cutoff_spacing_days=30, min_customers=50
    )
    with warehouse.transaction() as session:

        def features_at(day: dt.date) -> pd.DataFrame:
            asked.append(day)
            return customer_features(session, day)

        result = ltv.backtest_ltv(core_orders, AS_OF, config, features_at=features_at)
        assert ltv.BOOSTING_MODEL in result.metrics.index
        booster = ltv.fit_booster(core_orders, list(result.training_cutoffs), 60, features_at)
        with pytest.raises(ValueError, match="features_at"):
            ltv.predict_booster(booster, core_orders, result.cutoff)
    assert {"f_is_loyalty_member", "f_sessions_90d", "f_email_consent"} <= set(
        booster.feature_names
    )
    assert result.cutoff == AS_OF - dt.timedelta(days=60)
    assert set(result.training_cutoffs) <= set(asked)
    assert all(day + dt.timedelta(days=60) <= result.cutoff for day in result.training_cutoffs)
    # Point in time: nothing was asked for after the backtest cutoff (the learned purchase
    # model reads features at the starts of windows that end by it).
    assert max(asked) <= result.cutoff

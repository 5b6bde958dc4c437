"""Lifetime value on three years of orders (the `make demo` history): the 365-day backtest
evaluates both models, BG/NBD + Gamma-Gamma and gradient boosting, next to the naive baseline;
two years (the generator's default) are too short for the boosting model's training window."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import LtvConfig
from cdp_assets.ml import ltv
from cdp_assets_tests.ml.test_ltv import AS_OF, simulated_orders

HORIZON = 365
# Holdout + one training window + the features' minimum history, the first day included.
BOTH_MODELS_DAYS = 2 * HORIZON + ltv.MIN_FEATURE_HISTORY_DAYS + 1


def with_first_day_order(orders: pd.DataFrame, history_days: int) -> pd.DataFrame:
    """`orders` plus one purchase on the first day of the history, so it is exactly that long."""
    first = pd.Timestamp(AS_OF - dt.timedelta(days=history_days - 1), tz="UTC")
    extra = pd.DataFrame(
        {
            "customer_id": pd.Series(["first_day"], dtype="string"),
            "ordered_at": [first + pd.Timedelta(hours=12)],
            "net_amount_base": [50.0],
            "is_purchase": [True],
        }
    )
    return pd.concat([orders, extra], ignore_index=True)


@pytest.fixture(scope="module")
def three_years() -> ltv.LtvBacktest:
    orders = simulated_orders(5_000, seed=11, history_days=1095)
    config = LtvConfig(horizon_days=HORIZON)
    assert ltv.not_enough_data(orders, AS_OF, config) is None
    return ltv.backtest_ltv(orders, AS_OF, config)


def test_three_years_evaluate_both_models_next_to_the_baseline(
    three_years: ltv.LtvBacktest,
) -> None:
    result = three_years
    assert result.holdout_days == HORIZON
    assert {ltv.BTYD_MODEL, ltv.BOOSTING_MODEL, ltv.NAIVE_MODEL} <= set(result.metrics.index)
    assert not any("not evaluated" in note or "skipped" in note for note in result.notes)
    for model in (ltv.BTYD_MODEL, ltv.BOOSTING_MODEL):
        row = result.metrics.loc[model]
        assert np.isfinite(row["mae"]) and np.isfinite(row["total_ratio"])
        assert row["mae"] < result.metrics.loc[ltv.NAIVE_MODEL, "mae"]
    # Every boosting training window closes by the backtest cutoff.
    assert result.training_cutoffs
    assert max(result.training_cutoffs) == result.cutoff - dt.timedelta(days=HORIZON)
    assert result.purchases is not None and result.chosen == result.purchases.corrected_model
    deciles = result.deciles
    assert set(deciles["model"]) == set(result.metrics.index)


def test_two_years_leave_the_boosting_model_out() -> None:
    orders = simulated_orders(3_000, seed=12, history_days=730)
    result = ltv.backtest_ltv(orders, AS_OF, LtvConfig(horizon_days=HORIZON))
    assert result.holdout_days == HORIZON
    assert ltv.BOOSTING_MODEL not in result.metrics.index
    assert any("gradient boosting not evaluated" in note for note in result.notes)


@pytest.mark.parametrize(
    ("history_days", "both"), [(BOTH_MODELS_DAYS - 1, False), (BOTH_MODELS_DAYS, True)]
)
def test_the_history_both_models_need(history_days: int, both: bool) -> None:
    orders = with_first_day_order(
        simulated_orders(8_000, seed=13, history_days=history_days), history_days
    )
    first = ltv.first_purchase_date(orders, AS_OF)
    assert first is not None and ltv.history_days(first, AS_OF) == history_days
    result = ltv.backtest_ltv(orders, AS_OF, LtvConfig(horizon_days=HORIZON))
    assert (ltv.BOOSTING_MODEL in result.metrics.index) is both
    assert {ltv.BTYD_MODEL, ltv.NAIVE_MODEL} <= set(result.metrics.index)

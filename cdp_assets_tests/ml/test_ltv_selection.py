"""The purchase models' selection/holdout backtest: the choice and the aggregate correction
are learned on the split before the reported holdout, never on it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import LtvConfig
from cdp_assets.ml import btyd, ltv, ltv_selection
from cdp_assets.ml import purchase_models as pm
from cdp_assets_tests.ml.test_ltv import AS_OF, simulated_orders

CONFIG = LtvConfig(horizon_days=180, training_cutoffs=2)


def _split(predicted: dict[str, list[float]], actual: list[float], revenue: list[float]):
    ids = pd.Index([f"c{i}" for i in range(len(actual))], name="customer_id")
    return ltv_selection.SplitForecast(
        cutoff=dt.date(2026, 1, 1),
        days=90,
        summary=pd.DataFrame(),
        purchases=pd.DataFrame(predicted, index=ids),
        order_value=np.full(len(actual), 10.0),
        actual_purchases=np.array(actual, float),
        actual_revenue=np.array(revenue, float),
        fits={},
        learned=None,
    )


def test_corrections_make_the_split_totals_right_and_are_clipped() -> None:
    # a is exactly proportional to what happened (no residual, so no sampling error: the
    # factors are applied in full).
    split = _split({"a": [1.25, 2.5, 1.25], "b": [8.0, 8.0, 8.0]}, [1.0, 2.0, 1.0], [10, 20, 10])
    notes: list[str] = []
    k_purchases, k_value = ltv_selection.corrections_of(split, "a", notes)
    assert k_purchases == pytest.approx(0.8)  # 4 purchases happened, 5 were predicted
    # Revenue: 40 happened, 50 predicted (5 x 10): 0.8 overall, so the value factor is 1.
    assert k_value == pytest.approx(1.0)
    assert len(notes) == 1 and "measured x0.800, applied x0.800" in notes[0]
    table = ltv_selection.split_metrics(split, {"a": (k_purchases, k_value)})
    corrected = table.loc[ltv_selection.corrected_name("a")]
    assert corrected["purchases_ratio"] == pytest.approx(1.0)
    assert corrected["revenue_ratio"] == pytest.approx(1.0)
    assert table.loc["a", "rmse_purchases"] == pytest.approx(np.sqrt((0.0625 + 0.25 + 0.0625) / 3))
    # b over-forecasts 6x: the factor stops at 1/MAX_CORRECTION, and a note says so.
    k_b, _ = ltv_selection.corrections_of(split, "b", notes)
    assert k_b == pytest.approx(1 / ltv_selection.MAX_CORRECTION)
    assert any("clipped" in note for note in notes)


def test_a_correction_is_shrunk_towards_one_by_its_sampling_error() -> None:
    # 100 customers predicted 1 purchase each; half bought none, half 1.6: measured 0.8, every
    # residual actual - 0.8 x predicted is ±0.8, so se = sqrt(100 x 0.64) / 100 = 0.08 and the
    # weight is 0.05² / (0.05² + 0.08²).
    predicted = np.ones(100)
    actual = np.repeat([0.0, 1.6], 50)
    shrunk, measured, se = ltv_selection.shrunk_correction(actual, predicted)
    assert measured == pytest.approx(0.8)
    assert se == pytest.approx(0.08)
    assert shrunk == pytest.approx(1 - 0.2 * 0.0025 / (0.0025 + 0.0064))
    # Four times the customers, the same pattern: half the standard error, more weight.
    shrunk_4x, measured_4x, se_4x = ltv_selection.shrunk_correction(
        np.tile(actual, 4), np.tile(predicted, 4)
    )
    assert (measured_4x, se_4x) == pytest.approx((0.8, 0.04))
    assert shrunk_4x == pytest.approx(1 - 0.2 * 0.0025 / (0.0025 + 0.0016))
    assert measured < shrunk_4x < shrunk < 1
    # Nothing predicted: no factor.
    assert ltv_selection.shrunk_correction(actual, np.zeros(100))[0] == 1.0


def _fit(name: str, log_likelihood: float, converged: bool = True) -> pm.PurchaseFit:
    return pm.PurchaseFit(name, {}, log_likelihood, 100, converged, "")


def test_a_model_decisively_below_the_best_likelihood_is_left_out() -> None:
    fits = {
        pm.BG_NBD: _fit(pm.BG_NBD, -1_035.0),  # 35 below the best: out
        pm.PARETO_NBD: _fit(pm.PARETO_NBD, -1_000.0),
        pm.MBG_NBD: _fit(pm.MBG_NBD, -1_009.5),  # 9.5 below: within LIKELIHOOD_GAP
    }
    notes: list[str] = []
    assert ltv_selection.outlikelihooded(fits, notes) == {pm.BG_NBD}
    assert notes == [
        f"{pm.BG_NBD} not chosen: its log-likelihood up to the reported cutoff is 35.0 below the best model's"
    ]
    # A fit that did not converge is no evidence either way, nor is a single fit.
    fits[pm.PARETO_NBD] = _fit(pm.PARETO_NBD, -900.0, converged=False)
    assert ltv_selection.outlikelihooded(fits, []) == {pm.BG_NBD}
    assert ltv_selection.outlikelihooded({pm.BG_NBD: fits[pm.BG_NBD]}, []) == set()


def test_estimation_se_shrinks_the_factor_and_halves_with_four_times_the_customers(
    orders: pd.DataFrame,
) -> None:
    cutoff = AS_OF - dt.timedelta(days=360)
    summary = btyd.rfm_summary(orders, cutoff)
    se = ltv_selection.parameter_se(summary, 180)
    assert 0.005 < se < 0.5
    # The same purchases under other customer ids, in another row order: the same figure
    # (an as-of run on a warehouse with later data numbers customers differently).
    relabelled = summary.sample(frac=1.0, random_state=3).reset_index(drop=True)
    relabelled["customer_id"] = [f"other{i}" for i in range(len(relabelled))]
    assert ltv_selection.parameter_se(relabelled, 180) == pytest.approx(se)
    # Every customer four times: the fit's parameters are pinned down twice as well.
    fourfold = pd.concat([summary] * 4, ignore_index=True)
    assert 0.3 < ltv_selection.parameter_se(fourfold, 180) / se < 0.75
    # And the estimation se pulls the factor further towards 1.
    predicted, actual = np.ones(100), np.repeat([0.0, 1.6], 50)
    without, _, _ = ltv_selection.shrunk_correction(actual, predicted)
    with_estimation, _, _ = ltv_selection.shrunk_correction(actual, predicted, 0.06)
    assert with_estimation == pytest.approx(1 - 0.2 * 0.0025 / (0.0025 + 0.0064 + 0.0036))
    assert without < with_estimation < 1


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return simulated_orders(2_000, seed=31, history_days=630)


def test_the_reported_holdout_does_not_reach_the_choice_or_the_correction(
    orders: pd.DataFrame,
) -> None:
    cutoff = AS_OF - dt.timedelta(days=180)
    result = ltv_selection.backtest_purchase_models(orders, cutoff, 180, CONFIG)
    assert result is not None
    backtest, revenue = result
    assert backtest.selection_cutoff == cutoff - dt.timedelta(days=180)
    assert set(backtest.selection_metrics.index) == set(ltv_selection.CANDIDATES)
    left_out = [n for n in pm.PARAMETRIC_MODELS if f"{n} not chosen" in " ".join(backtest.notes)]
    rmse = backtest.selection_metrics["rmse_purchases"].drop(index=left_out)
    assert backtest.chosen == rmse.idxmin()
    # Every order of the reported holdout three times (the same days: three times the revenue,
    # the same purchase days): what was chosen and the correction applied to the holdout stay
    # the same; only the production correction, learned on the holdout, moves.
    after = orders["ordered_at"] > pd.Timestamp(cutoff + dt.timedelta(days=1), tz="UTC")
    busier = pd.concat([orders, orders[after], orders[after]], ignore_index=True)
    busier_bt, _ = ltv_selection.backtest_purchase_models(busier, cutoff, 180, CONFIG)
    assert busier_bt.chosen == backtest.chosen
    assert busier_bt.purchase_correction == backtest.purchase_correction
    assert busier_bt.value_correction == backtest.value_correction
    assert busier_bt.production_value_correction > backtest.production_value_correction
    # The corrected forecast is the chosen one times the factors.
    chosen = revenue[ltv_selection.revenue_name(backtest.chosen)]
    corrected = revenue[backtest.corrected_model]
    np.testing.assert_allclose(
        corrected, chosen * backtest.purchase_correction * backtest.value_correction
    )


def test_the_correction_matches_its_definition_on_the_selection_split(
    orders: pd.DataFrame,
) -> None:
    cutoff = AS_OF - dt.timedelta(days=180)
    backtest, _ = ltv_selection.backtest_purchase_models(orders, cutoff, 180, CONFIG)
    # Recomputed by hand: the chosen model fitted up to the selection cutoff, its forecast
    split = ltv_selection.forecast_split(orders, backtest.selection_cutoff, 180, CONFIG)
    # of the selection split against the purchase days that happened, shrunk by its precision.
    predicted = split.purchases[backtest.chosen].to_numpy()
    measured = split.actual_purchases.sum() / predicted.sum()
    residuals = split.actual_purchases - measured * predicted
    se = np.sqrt((residuals**2).sum()) / predicted.sum()
    estimation_se = ltv_selection.parameter_se(split.summary, 180)
    weight = 0.05**2 / (0.05**2 + se**2 + estimation_se**2)
    expected = np.clip(1 + weight * (measured - 1), 1 / 1.5, 1.5)
    assert backtest.purchase_correction == pytest.approx(expected)
    assert 0 < weight < 1


def test_train_and_score_with_the_corrected_purchase_model(orders: pd.DataFrame) -> None:
    config = CONFIG
    backtest = ltv.backtest_ltv(orders, AS_OF, config)
    assert backtest.purchases is not None
    model = ltv.train_ltv(orders, AS_OF, config, backtest=backtest)
    assert model.forecaster is not None and model.chosen == backtest.chosen
    scores = ltv.score_ltv(model, orders, AS_OF, "v1")
    assert (scores["model"] == model.chosen).all()
    np.testing.assert_allclose(
        scores["predicted_revenue"], scores["expected_purchases"] * scores["expected_order_value"]
    )
    assert scores["p_alive"].between(0, 1).all()
    # The production correction is the one learned on the reported split.
    forecaster = model.forecaster
    assert forecaster.purchase_correction == backtest.purchases.production_purchase_correction
    summary = ltv.btyd.rfm_summary(orders, AS_OF)
    raw, _ = ltv_selection.forecast_purchases(forecaster, orders, AS_OF, summary, 180)
    np.testing.assert_allclose(
        scores["expected_purchases"], raw * forecaster.purchase_correction, rtol=1e-9
    )
    has_date = scores["expected_next_order_date"].notna()
    assert (has_date == (scores["expected_purchases"] >= 1)).all()
    described = model.describe()
    assert described["purchase_models"]["purchase_model"] == forecaster.name
    assert any(row["chosen"] for row in described["purchase_backtest"])
    assert pm.BG_NBD in {row["purchase_model"] for row in described["purchase_backtest"]}

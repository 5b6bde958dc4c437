"""Model metrics against hand computations and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cdp_assets.ml import metrics as m

RNG = np.random.default_rng(7)
Y = (RNG.random(500) < 0.3).astype(int)
SCORE = np.clip(0.3 + 0.3 * (Y - 0.3) + RNG.normal(0, 0.25, 500), 0, 1)


def test_auc_of_perfect_and_reversed_rankings() -> None:
    y = [0, 0, 1, 1, 0, 1]
    perfect = [0.1, 0.2, 0.8, 0.9, 0.3, 0.7]
    assert m.roc_auc(y, perfect) == 1.0
    assert m.roc_auc(y, [-s for s in perfect]) == 0.0
    assert m.roc_auc(y, [0.5] * 6) == 0.5


def test_auc_and_average_precision_match_sklearn() -> None:
    assert m.roc_auc(Y, SCORE) == pytest.approx(roc_auc_score(Y, SCORE))
    assert m.pr_auc(Y, SCORE) == pytest.approx(average_precision_score(Y, SCORE))
    assert m.brier(Y, SCORE) == pytest.approx(brier_score_loss(Y, SCORE))


def test_average_precision_by_hand() -> None:
    # ranked: 1 (precision 1/1), 0, 1 (precision 2/3), 0  ->  (1 + 2/3) / 2
    assert m.pr_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)


def test_brier_by_hand() -> None:
    assert m.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)


def test_one_class_gives_nan_auc() -> None:
    assert math.isnan(m.roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert math.isnan(m.pr_auc([0, 0], [0.1, 0.2]))


def test_lift_of_a_perfect_model_is_ten_at_low_base_rates() -> None:
    y = np.zeros(1000, dtype=int)
    y[:50] = 1  # base rate 5 %
    assert m.top_decile_lift(y, y.astype(float)) == pytest.approx(10.0)
    y[:100] = 1  # exactly 10 %
    assert m.top_decile_lift(y, y.astype(float)) == pytest.approx(10.0)
    y[:200] = 1  # 20 %: the top decile can only be all positives -> 1 / 0.2
    assert m.top_decile_lift(y, y.astype(float)) == pytest.approx(5.0)


def test_ties_count_pro_rata_whatever_the_row_order() -> None:
    y = np.array([1] * 10 + [0] * 90)
    assert m.top_decile_lift(y, np.zeros(100)) == pytest.approx(1.0)
    # 20 cases tie at the top for 10 places: half of their 5 positives go in
    score = np.r_[np.ones(20), np.zeros(80)]
    y = np.r_[[1] * 5, [0] * 15, [1] * 5, [0] * 75]
    assert m.top_decile_lift(y, score) == pytest.approx((2.5 / 10) / 0.1)
    assert m.top_decile_lift(y[::-1], score[::-1]) == pytest.approx(2.5)


def test_lift_of_a_reversed_model_is_zero() -> None:
    y = np.zeros(100, dtype=int)
    y[:5] = 1
    assert m.top_decile_lift(y, -y.astype(float)) == 0.0


def test_calibration_table_by_hand() -> None:
    y = [0, 1, 1, 0, 1]
    p = [0.05, 0.15, 0.55, 0.58, 0.95]
    table = m.calibration_table(y, p)
    assert list(table["count"]) == [1, 1, 0, 0, 0, 2, 0, 0, 0, 1]
    row = table.set_index("bin").loc[6]
    assert row["mean_predicted"] == pytest.approx(0.565)
    assert row["observed_rate"] == pytest.approx(0.5)
    assert math.isnan(table.set_index("bin").loc[3, "mean_predicted"])
    # |0.05-0| + |0.15-1| + 2 * |0.565-0.5| + |0.95-1|, over 5
    expected = (0.05 + 0.85 + 2 * 0.065 + 0.05) / 5
    assert m.expected_calibration_error(y, p) == pytest.approx(expected)


def test_probability_one_falls_in_the_last_bin() -> None:
    table = m.calibration_table([1, 0], [1.0, 0.0])
    assert table["count"].iloc[-1] == 1 and table["count"].iloc[0] == 1


def test_perfectly_calibrated_bins_have_no_error() -> None:
    y = [0] * 8 + [1] * 2 + [0] * 2 + [1] * 8
    p = [0.2] * 10 + [0.8] * 10
    assert m.expected_calibration_error(y, p) == pytest.approx(0.0)


def test_psi_of_identical_arrays_is_zero() -> None:
    assert m.population_stability_index(SCORE, SCORE) == pytest.approx(0.0)
    assert m.population_stability_index(SCORE, SCORE.copy()[::-1]) == pytest.approx(0.0)


def test_psi_by_hand_when_everything_moves_to_the_top_bin() -> None:
    reference = np.arange(1000, dtype=float)
    current = np.full(200, 995.0)
    eps = m.PSI_EPSILON
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (eps - 0.1) * math.log(eps / 0.1)
    assert m.population_stability_index(reference, current) == pytest.approx(expected)


def test_psi_grows_with_the_shift() -> None:
    small = m.population_stability_index(SCORE, np.clip(SCORE + 0.02, 0, 1))
    large = m.population_stability_index(SCORE, np.clip(SCORE + 0.3, 0, 1))
    assert 0 < small < 0.2 < large


def test_rank_scores_get_no_brier_or_calibration() -> None:
    result = m.classification_metrics(Y, SCORE * 100, is_probability=False)
    assert set(result) == set(m.METRIC_NAMES)
    assert math.isnan(result["brier"]) and math.isnan(result["calibration_error"])
    assert result["roc_auc"] == pytest.approx(roc_auc_score(Y, SCORE))


def test_decile_lift_table_adds_up() -> None:
    table = m.decile_lift_table(Y, SCORE)
    assert table["count"].sum() == len(Y)
    assert table["positives"].sum() == pytest.approx(Y.sum())
    assert table["cumulative_share_of_positives"].iloc[-1] == pytest.approx(1.0)
    assert table["lift"].iloc[0] == pytest.approx(m.top_decile_lift(Y, SCORE))


def test_plots_are_markdown_png_images() -> None:
    importances = pd.DataFrame(
        {"feature": ["a", "b"], "importance": [0.2, 0.05], "importance_std": [0.01, 0.01]}
    )
    plots = {
        "ROC curve": m.roc_curve_plot(Y, {"model": SCORE, "other": 1 - SCORE}),
        "Calibration curve": m.calibration_plot(Y, {"model": SCORE}),
        "Lift chart": m.lift_chart(Y, {"model": SCORE}),
        "Feature importances": m.feature_importance_plot(importances),
    }
    for title, markdown in plots.items():
        assert markdown.startswith(f"![{title}](data:image/png;base64,")

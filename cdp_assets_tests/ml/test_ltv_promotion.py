"""When a newly trained lifetime-value model replaces the champion."""

from __future__ import annotations

from cdp_assets.ml.ltv_promotion import ltv_promotion

HOLDOUT = {"holdout_cutoff": "2025-11-20", "mae": 180.0}


def test_a_model_that_does_not_beat_the_baseline_is_never_promoted() -> None:
    assert ltv_promotion(False, HOLDOUT, None, None) == (
        False,
        "does not beat the naive baseline: not promoted",
    )
    champion = {"holdout_cutoff": "2025-11-20", "mae": 500.0}
    assert ltv_promotion(False, HOLDOUT, "ltv-1", champion)[0] is False


def test_the_first_model_that_beats_the_baseline_is_promoted() -> None:
    assert ltv_promotion(True, HOLDOUT, None, None) == (
        True,
        "first model that beats the naive baseline",
    )


def test_a_champion_of_another_holdout_period_is_replaced() -> None:
    champion = {"holdout_cutoff": "2025-11-13", "mae": 100.0}  # better MAE, older period
    assert ltv_promotion(True, HOLDOUT, "ltv-1", champion) == (
        True,
        "new holdout period 2025-11-20: replaces ltv-1",
    )


def test_on_the_same_holdout_a_lower_mae_wins_and_a_tie_keeps_the_champion() -> None:
    worse = {"holdout_cutoff": "2025-11-20", "mae": 190.5}
    assert ltv_promotion(True, HOLDOUT, "ltv-1", worse) == (
        True,
        "MAE 180.00 beats the champion's 190.50",
    )
    same = {"holdout_cutoff": "2025-11-20", "mae": 180.0}
    assert ltv_promotion(True, HOLDOUT, "ltv-1", same) == (
        False,
        "champion ltv-1 is as good on the same holdout (MAE 180.00)",
    )
    better = {"holdout_cutoff": "2025-11-20", "mae": 150.0}
    assert ltv_promotion(True, HOLDOUT, "ltv-1", better)[0] is False


def test_a_champion_without_metrics_is_replaced() -> None:
    assert ltv_promotion(True, HOLDOUT, "ltv-0", {})[0] is True

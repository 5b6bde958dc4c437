"""The churn and lead scores' stability against the previous scoring (`psi_vs_previous` and
the `score_stability` check): a PSI when there were previous scores, and no made-up 0.0 on
the first scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdp_assets.defs.ml.classifier_scoring import stability

PSI_WARN = 0.2


def test_previous_scores_give_the_population_stability_index() -> None:
    previous = np.array([0.1] * 5 + [0.9] * 5)
    today = np.array([0.1] * 8 + [0.9] * 2)  # half low before, 80 % low now
    expected = 0.3 * math.log(0.8 / 0.5) + 0.3 * math.log(0.5 / 0.2)  # = 0.3 ln 4

    compared = stability(previous, today)

    assert compared.metadata()["psi_vs_previous"] == pytest.approx(expected)
    shifted = compared.check(PSI_WARN)
    assert shifted.check_name == "score_stability" and not shifted.passed
    assert shifted.metadata["psi"].value == pytest.approx(expected)
    assert compared.check(0.5).passed
    assert stability(previous, previous).metadata()["psi_vs_previous"] == 0.0


@pytest.mark.parametrize(
    "previous",
    [np.array([]), np.array([np.nan, np.nan])],
    ids=["no previous table or rows", "previous scores all null"],
)
def test_the_first_scoring_says_nothing_was_compared(previous: np.ndarray) -> None:
    compared = stability(previous, np.array([0.2, 0.4, 0.7]))

    metadata = compared.metadata()
    assert "psi_vs_previous" not in metadata
    assert "no previous scores" in str(metadata["psi_not_computed"])
    check = compared.check(PSI_WARN)
    assert check.passed  # nothing to compare is not instability
    assert "psi" not in check.metadata
    assert "no previous scores" in str(check.metadata["psi_not_computed"].value)

"""Why a customer's score is high: the features that push it up most, in words.

For each feature, every customer's value is replaced by the population's reference value
(the training median) and the score recomputed; the drop is that feature's contribution for
that customer. Only customers whose value differs from the reference are rescored, one
`predict` call per feature over all of them, so the cost is at most features x customers
predictions. Only positive contributions count: a reason is something that *raises* the
score. This is a one-at-a-time counterfactual, not a Shapley value: two features that only
matter together are each credited with their joint effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

# Contributions below a tenth of a percentage point are step noise of the calibrated trees
# rather than reasons anyone would act on.
MIN_CONTRIBUTION = 1e-3


def contributions(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    reference: np.ndarray,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """customers x features: score minus the score with that feature at its reference value."""
    base = predict(matrix) if base is None else base
    result = np.zeros(matrix.shape, dtype=np.float64)
    for j in range(matrix.shape[1]):
        column, ref = matrix[:, j], reference[j]
        # NaN != NaN, so a null value differs from the reference only if the reference is known
        differs = ~np.isnan(column) if np.isnan(ref) else np.isnan(column) | (column != ref)
        rows = np.flatnonzero(differs)
        if len(rows) == 0:
            continue
        changed = matrix[rows].copy()
        changed[:, j] = ref
        result[rows, j] = base[rows] - predict(changed)
    return result


def format_value(value: float) -> str:
    """A feature value as a reason shows it: integers plainly, others to two decimals."""
    if np.isnan(value):
        return "none"
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def top_reasons(
    contribution: np.ndarray,
    matrix: np.ndarray,
    features: Sequence[str],
    k: int = 3,
    min_contribution: float = MIN_CONTRIBUTION,
) -> pd.DataFrame:
    """top_reason_1..k per customer: "feature=value" of the k largest positive
    contributions, largest first; null where fewer than k features raise the score."""
    n = contribution.shape[0]
    k_used = min(k, contribution.shape[1])
    masked = np.where(contribution >= min_contribution, contribution, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")[:, :k_used]
    rows = np.arange(n)
    names = np.asarray(features, dtype=object)
    out: dict[str, pd.Series] = {}
    for rank in range(k):
        reasons = np.full(n, None, dtype=object)
        if rank < k_used:
            column = order[:, rank]
            valid = np.isfinite(masked[rows, column])
            values = matrix[rows, column]
            for i in np.flatnonzero(valid):
                reasons[i] = f"{names[column[i]]}={format_value(values[i])}"
        out[f"top_reason_{rank + 1}"] = pd.Series(reasons, dtype="string")
    return pd.DataFrame(out)


def explain(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    features: Sequence[str],
    reference: np.ndarray,
    k: int = 3,
    base: np.ndarray | None = None,
) -> pd.DataFrame:
    """The top-k reasons of every row of `matrix` (see `top_reasons`)."""
    return top_reasons(contributions(predict, matrix, reference, base), matrix, features, k)

"""Why a customer's score is high: the features that push it up most, in words.

For each feature, every customer's value is replaced by the population's reference value
(the training median) and the score recomputed; the drop is that feature's contribution for
that customer. Only positive contributions count: a reason is something that *raises* the
score. This is a one-at-a-time counterfactual, not a Shapley value: two features that only
matter together are each credited with their joint effect.

The cost is what `contributions` predicts. Without more knowledge of the model, every customer
whose value of a feature differs from the reference is rescored, one `predict` call per
feature: up to features x customers predictions. For boosted trees (a fitted
`HistGradientBoostingClassifier`, or a `CalibratedClassifierCV` of them) `SplitCells` knows
more: a tree only compares a value with its split thresholds, so two values between the same
two thresholds of a feature (or both null) take the same path through every tree of every
fold, and two customers whose values all fall in the same cells get the same prediction, to
the last bit. So, per feature:

* a customer whose value lies in the reference's own cell keeps its score (contribution 0,
  which is what rescoring him gives, exactly), and is not rescored;
* the others are grouped by the cells of their counterfactual row (the reference's cell for
  the feature, their own cells elsewhere) and one row per group is rescored.

Both are exact: each prediction made is the one the plain loop makes for that customer, bit for
bit (a test compares them on a fitted calibrated model with ties and nulls). Groups are found
by a 64-bit hash of the cell row and then checked cell by cell, so a hash collision only costs
time (that feature is rescored row by row), never a wrong answer.

Rows are rescored in blocks of at most `PREDICT_BLOCK_ROWS` (which bounds the memory of the
copies), as many blocks side by side as the process has cores, each on a Python thread whose
OpenMP pool is one thread. Left to itself, scikit-learn's tree prediction runs every tree as
an OpenMP parallel loop over the rows, with a barrier at the end of each: the three folds'
trees are hundreds of barriers per call, and on a busy machine a descheduled thread stalls
every one of them (2 OpenMP threads predicting 3,000 rows 67 times: 150 s wall and 53 s CPU
against 8.5 s and 3.8 s on one thread, at a load of 9 on 2 cores). A block per thread has one
join per block. Every row's prediction is the same whichever thread or block computes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

# Contributions below a tenth of a percentage point are step noise of the calibrated trees
# rather than reasons anyone would act on.
MIN_CONTRIBUTION = 1e-3
# Counterfactual rows rescored per predict call: 200,000 rows of 29 features are 46 MB a copy.
PREDICT_BLOCK_ROWS = 200_000
# Below this a block's fixed cost (a Python call per tree) outweighs a second thread.
MIN_BLOCK_ROWS = 5_000


@dataclass(frozen=True)
class SplitCells:
    """The split thresholds of every tree of a boosted model, per feature (sorted, distinct).

    `encode` maps a value to its cell: the number of thresholds below it, or `null_cell` for a
    null. A tree sends a value left when it is <= the threshold (nulls by a flag of the
    node), so values with the same cell take the same path through every tree."""

    thresholds: tuple[np.ndarray, ...]

    @property
    def null_cell(self) -> int:
        return max((len(t) for t in self.thresholds), default=0) + 1

    @classmethod
    def of(cls, estimator: Any, n_features: int) -> SplitCells | None:
        """The cells of a fitted HistGradientBoosting model or a CalibratedClassifierCV of
        them; None for any other model (or trees with categorical splits)."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier

        if isinstance(estimator, CalibratedClassifierCV):
            boosters = [c.estimator for c in getattr(estimator, "calibrated_classifiers_", [])]
        else:
            boosters = [estimator]
        if not boosters or not all(
            isinstance(b, HistGradientBoostingClassifier) and hasattr(b, "_predictors")
            for b in boosters
        ):
            return None
        found: list[list[np.ndarray]] = [[] for _ in range(n_features)]
        for booster in boosters:
            if booster.n_features_in_ != n_features:
                return None
            for iteration in booster._predictors:
                for predictor in iteration:
                    nodes = predictor.nodes[predictor.nodes["is_leaf"] == 0]
                    if nodes["is_categorical"].any():
                        return None
                    for j in np.unique(nodes["feature_idx"]):
                        found[j].append(nodes["num_threshold"][nodes["feature_idx"] == j])
        cells = cls(
            tuple(
                np.unique(np.concatenate(t)) if t else np.zeros(0, dtype=np.float64) for t in found
            )
        )
        return cells if cells.null_cell <= np.iinfo(np.uint16).max else None

    def encode(self, matrix: np.ndarray) -> np.ndarray:
        """rows x features cells (uint16)."""
        cells = np.empty(matrix.shape, dtype=np.uint16)
        for j, thresholds in enumerate(self.thresholds):
            column = matrix[:, j]
            # side="left": how many thresholds are < x, so x <= t exactly when t is above them
            cells[:, j] = np.searchsorted(thresholds, column, side="left")
            cells[np.isnan(column), j] = self.null_cell
        return cells


def workers() -> int:
    """Threads that rescore blocks side by side: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def predict_rows(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    rows: np.ndarray | None = None,
    column: int | None = None,
    value: float = np.nan,
    threads: int | None = None,
) -> np.ndarray:
    """predict(matrix[rows]), with `column` set to `value` when given, in blocks of at most
    PREDICT_BLOCK_ROWS rows (at least MIN_BLOCK_ROWS) that `threads` Python threads predict
    side by side, each with a one-thread OpenMP pool (see the module docstring)."""
    rows = np.arange(len(matrix)) if rows is None else rows
    threads = workers() if threads is None else threads
    out = np.empty(len(rows), dtype=np.float64)
    size = max(MIN_BLOCK_ROWS, min(PREDICT_BLOCK_ROWS, -(-len(rows) // max(threads, 1))))
    starts = range(0, len(rows), size)

    def one(start: int) -> None:
        block = rows[start : start + size]
        changed = matrix[block]
        if column is not None:
            changed[:, column] = value
        with threadpool_limits(1, user_api="openmp"):
            out[start : start + len(block)] = predict(changed)

    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(one, starts))
    else:
        for start in starts:
            one(start)
    return out


def _differs(column: np.ndarray, ref: float) -> np.ndarray:
    # NaN != NaN, so a null value differs from the reference only if the reference is known
    return ~np.isnan(column) if np.isnan(ref) else np.isnan(column) | (column != ref)


def contributions(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    reference: np.ndarray,
    base: np.ndarray | None = None,
    cells: SplitCells | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """customers x features: score minus the score with that feature at its reference value.

    With `cells` (the model's `SplitCells`), only one customer per group of identical
    counterfactual cells is rescored (see the module docstring): the same numbers, fewer
    predictions."""
    base = predict_rows(predict, matrix, threads=threads) if base is None else base
    result = np.zeros(matrix.shape, dtype=np.float64)
    if cells is not None:
        _grouped_contributions(predict, matrix, reference, base, cells, result, threads)
        return result
    for j in range(matrix.shape[1]):
        rows = np.flatnonzero(_differs(matrix[:, j], reference[j]))
        if len(rows):
            result[rows, j] = base[rows] - predict_rows(
                predict, matrix, rows, j, reference[j], threads
            )
    return result


def _cell_weights(n_features: int) -> np.ndarray:
    """A row's hash is the sum of its cells times these random odd 64-bit weights (wrapping)."""
    weights = np.random.default_rng(0).integers(1, 2**63, size=n_features, dtype=np.uint64)
    return weights | np.uint64(1)


def _grouped_contributions(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    reference: np.ndarray,
    base: np.ndarray,
    cells: SplitCells,
    result: np.ndarray,
    threads: int | None,
) -> None:
    codes = cells.encode(matrix)
    reference_codes = cells.encode(reference[np.newaxis, :])[0]
    weights = _cell_weights(matrix.shape[1])
    hashes = (codes.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    for j in range(matrix.shape[1]):
        rows = np.flatnonzero(codes[:, j] != reference_codes[j])
        if len(rows) == 0:
            continue
        # the counterfactual row's hash: feature j's cell swapped for the reference's
        keys = (
            hashes[rows]
            + (np.uint64(reference_codes[j]) - codes[rows, j].astype(np.uint64)) * weights[j]
        )
        group, _ = pd.factorize(keys)
        # one row of each group (any: the check below proves the choice does not matter)
        member = np.empty(group.max() + 1, dtype=np.int64)
        member[group] = np.arange(len(rows))
        representative = rows[member]
        same = codes[rows] == codes[representative[group]]
        same[:, j] = True
        if not same.all():  # a hash collision: rescore this feature row by row
            representative, group = rows, np.arange(len(rows))
        predicted = predict_rows(predict, matrix, representative, j, reference[j], threads)
        result[rows, j] = base[rows] - predicted[group]


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
    model: Any = None,
) -> pd.DataFrame:
    """The top-k reasons of every row of `matrix` (see `top_reasons`). With the fitted
    `model` that `predict` calls, boosted trees are rescored by cells (`SplitCells`): the same
    reasons, fewer predictions."""
    cells = None if model is None else SplitCells.of(model, matrix.shape[1])
    return top_reasons(contributions(predict, matrix, reference, base, cells), matrix, features, k)

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
        return cls(
            tuple(
                np.unique(np.concatenate(t)) if t else np.zeros(0, dtype=np.float64) for t in found
            )
        )

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
    `model` that `predict` calls, boosted trees are rescored tree by tree (`BoostedTrees`) or
    by cells (`SplitCells`): the same reasons, fewer predictions."""
    trees = None if model is None else BoostedTrees.of(model, matrix.shape[1])
    if trees is not None:
        found = tree_contributions(predict, matrix, reference, trees, base)
    else:
        cells = None if model is None else SplitCells.of(model, matrix.shape[1])
        found = contributions(predict, matrix, reference, base, cells)
    return top_reasons(found, matrix, features, k)


# -- rescoring through the trees that split on the feature -----------------------------------

# Customers per chunk of the tree-by-tree rescoring: its leaf table is trees x rows float64
# (800 trees x 10,000 rows = 64 MB, twice when a feature's rows are copied), per thread.
TREE_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class _Fold:
    predictors: tuple[Any, ...]  # one TreePredictor per boosting iteration, in order
    baseline: Any  # shape (1, 1), added as scikit-learn adds it
    calibrator: Any
    known_cat_bitsets: Any
    f_idx_map: Any


@dataclass(frozen=True)
class BoostedTrees:
    """A `CalibratedClassifierCV` of binary `HistGradientBoostingClassifier`s (isotonic or
    sigmoid), taken apart so that a feature can be rescored through only the trees that split
    on it: a tree that does not split on a feature gives the same leaf whatever its value.

    `probabilities` adds each fold's leaves in the order scikit-learn does (baseline, then
    tree by tree), applies the fold's calibrator and averages the folds as
    `CalibratedClassifierCV.predict_proba` does, so the numbers are its numbers to the last
    bit; `contributions` checks that on every chunk (the unchanged rows against the scores it
    was given) and falls back to rescoring whole rows if they ever differ."""

    folds: tuple[_Fold, ...]
    trees_on: tuple[tuple[np.ndarray, ...], ...]  # [fold][feature]: indices of its trees
    cells: SplitCells

    @classmethod
    def of(cls, estimator: Any, n_features: int) -> BoostedTrees | None:
        from sklearn.calibration import CalibratedClassifierCV

        cells = SplitCells.of(estimator, n_features)
        if cells is None or not isinstance(estimator, CalibratedClassifierCV):
            return None
        if len(estimator.classes_) != 2 or estimator.method not in ("isotonic", "sigmoid"):
            return None
        folds, trees_on = [], []
        for calibrated in estimator.calibrated_classifiers_:
            booster = calibrated.estimator
            if booster.n_trees_per_iteration_ != 1 or len(calibrated.calibrators) != 1:
                return None
            predictors = tuple(iteration[0] for iteration in booster._predictors)
            bitsets, f_idx_map = booster._bin_mapper.make_known_categories_bitsets()
            folds.append(
                _Fold(
                    predictors,
                    booster._baseline_prediction,
                    calibrated.calibrators[0],
                    bitsets,
                    f_idx_map,
                )
            )
            split_on = [
                set(p.nodes["feature_idx"][p.nodes["is_leaf"] == 0].tolist()) for p in predictors
            ]
            trees_on.append(
                tuple(
                    np.array([t for t, s in enumerate(split_on) if j in s], dtype=np.int64)
                    for j in range(n_features)
                )
            )
        return cls(tuple(folds), tuple(trees_on), cells)

    def leaves(self, fold: _Fold, matrix: np.ndarray, trees: Sequence[int]) -> np.ndarray:
        """trees x rows: each tree's leaf value for each row."""
        out = np.empty((len(trees), len(matrix)), dtype=np.float64)
        for i, t in enumerate(trees):
            out[i] = fold.predictors[t].predict(matrix, fold.known_cat_bitsets, fold.f_idx_map, 1)
        return out

    def probabilities(self, leaves: Sequence[np.ndarray]) -> np.ndarray:
        """The calibrated probability from each fold's trees x rows leaves."""
        n = leaves[0].shape[1]
        mean = np.zeros(n, dtype=np.float64)
        for fold, table in zip(self.folds, leaves, strict=True):
            raw = np.zeros((n, 1), dtype=np.float64)
            raw += fold.baseline
            raw = raw[:, 0]
            for row in table:
                raw += row
            proba = np.asarray(fold.calibrator.predict(raw), dtype=np.float64)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(self.folds)
        return mean


class _NotTheModelsNumbers(Exception):
    """The taken-apart trees did not reproduce the model's scores."""


def _tree_chunk(
    trees: BoostedTrees,
    matrix: np.ndarray,
    reference: np.ndarray,
    reference_codes: np.ndarray,
    base: np.ndarray,
    result: np.ndarray,
    chunk: np.ndarray,
) -> None:
    x = matrix[chunk]
    codes = trees.cells.encode(x)
    all_trees = [np.arange(len(fold.predictors)) for fold in trees.folds]
    tables = [trees.leaves(f, x, t) for f, t in zip(trees.folds, all_trees, strict=True)]
    if not np.array_equal(trees.probabilities(tables), base[chunk]):
        raise _NotTheModelsNumbers
    for j in range(matrix.shape[1]):
        rows = np.flatnonzero(codes[:, j] != reference_codes[j])
        if len(rows) == 0:
            continue
        changed = x[rows]
        changed[:, j] = reference[j]
        counterfactual = []
        for fold, table, on in zip(trees.folds, tables, trees.trees_on, strict=True):
            copy = table[:, rows]
            copy[on[j]] = trees.leaves(fold, changed, on[j])
            counterfactual.append(copy)
        result[chunk[rows], j] = base[chunk[rows]] - trees.probabilities(counterfactual)


def tree_contributions(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    reference: np.ndarray,
    trees: BoostedTrees,
    base: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """`contributions` of a calibrated boosted model, each feature rescored through only the
    trees that split on it (see `BoostedTrees`): the same numbers."""
    base = predict_rows(predict, matrix, threads=threads) if base is None else base
    result = np.zeros(matrix.shape, dtype=np.float64)
    reference_codes = trees.cells.encode(reference[np.newaxis, :])[0]
    chunks = [
        np.arange(start, min(start + TREE_CHUNK_ROWS, len(matrix)))
        for start in range(0, len(matrix), TREE_CHUNK_ROWS)
    ]
    threads = workers() if threads is None else threads

    def one(chunk: np.ndarray) -> None:
        with threadpool_limits(1, user_api="openmp"):
            _tree_chunk(trees, matrix, reference, reference_codes, base, result, chunk)

    try:
        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(min(threads, len(chunks))) as pool:
                list(pool.map(one, chunks))
        else:
            for chunk in chunks:
                one(chunk)
    except _NotTheModelsNumbers:
        return contributions(predict, matrix, reference, base, trees.cells, threads)
    return result

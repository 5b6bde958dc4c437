"""Calibrated boosted trees' probabilities, tree by tree: a counterfactual row walks only the
trees that split on the feature it changed.

A `CalibratedClassifierCV` of binary `HistGradientBoostingClassifier`s predicts, per fold, the
raw score `baseline + leaf_1 + leaf_2 + ...` (added in tree order), maps it through the fold's
calibrator, and averages the folds. A row that differs from another only in feature j reaches
the same leaf in every tree that has no split on j. `BoostedTreeSums` keeps each row's leaf
values per tree (`leaves`), and the score of the row with j changed takes the kept leaf of
every tree without a split on j and walks the others: the same additions in the same order
as scikit-learn's own `predict_proba`, so the same probability to the last bit (a test
compares them; `agrees_with` checks it on the rows being scored before they are used).

Customers' explanations (`cdp_assets.ml.explain`) rescore each customer once per feature that
differs from the reference; about 30 % of a churn model's trees split on a given feature, so
most of those walks are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CALIBRATION_METHODS = ("isotonic", "sigmoid")
# When the rows to change are at least this share of the block, the block's leaves are used
# in place (every row computed, nothing gathered) rather than gathered for those rows.
WHOLE_BLOCK_SHARE = 0.75


@dataclass(frozen=True)
class _Fold:
    """One calibrated fold: its booster's trees in order and its calibrator."""

    baseline: float
    trees: tuple[Any, ...]  # TreePredictor, in the order the booster adds them
    calibrator: Any
    known_categories: Any
    feature_map: Any
    trees_using: tuple[np.ndarray, ...]  # per feature: positions of the trees splitting on it
    # per feature, per tree of trees_using: that tree's thresholds on the feature (sorted)
    thresholds: tuple[tuple[np.ndarray, ...], ...]

    def leaf(self, position: int, matrix: np.ndarray) -> np.ndarray:
        return self.trees[position].predict(matrix, self.known_categories, self.feature_map, 1)

    def leaves(self, matrix: np.ndarray) -> np.ndarray:
        """trees x rows: the leaf value each row reaches in each tree (a tree's row of leaves
        is contiguous: it is written and added as one)."""
        out = np.empty((len(self.trees), len(matrix)), dtype=np.float64)
        for position in range(len(self.trees)):
            out[position] = self.leaf(position, matrix)
        return out

    def raw(self, leaves: np.ndarray) -> np.ndarray:
        """baseline plus every tree's leaf, added tree after tree as the booster does."""
        total = np.zeros(leaves.shape[1], dtype=np.float64)
        total += self.baseline
        for position in range(leaves.shape[0]):
            total += leaves[position]
        return total


@dataclass(frozen=True)
class BoostedTreeSums:
    """The folds of a calibrated binary boosted-trees classifier, scored tree by tree."""

    folds: tuple[_Fold, ...]

    @classmethod
    def of(cls, estimator: Any, n_features: int) -> BoostedTreeSums | None:
        """For a `CalibratedClassifierCV` (isotonic or sigmoid) of binary
        `HistGradientBoostingClassifier`s on numeric features; None for anything else, and
        for a scikit-learn whose fitted trees are not laid out as this reads them."""
        try:
            return cls._of(estimator, n_features)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            return None

    @classmethod
    def _of(cls, estimator: Any, n_features: int) -> BoostedTreeSums | None:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier

        if not isinstance(estimator, CalibratedClassifierCV):
            return None
        calibrated = getattr(estimator, "calibrated_classifiers_", [])
        if not calibrated or len(getattr(estimator, "classes_", [])) != 2:
            return None
        folds = []
        for fold in calibrated:
            booster = fold.estimator
            if (
                not isinstance(booster, HistGradientBoostingClassifier)
                or not hasattr(booster, "_predictors")
                or booster.n_trees_per_iteration_ != 1
                or booster.n_features_in_ != n_features
                or getattr(fold, "method", None) not in CALIBRATION_METHODS
                or len(fold.calibrators) != 1
            ):
                return None
            trees = tuple(iteration[0] for iteration in booster._predictors)
            using: list[list[int]] = [[] for _ in range(n_features)]
            thresholds: list[list[np.ndarray]] = [[] for _ in range(n_features)]
            for position, tree in enumerate(trees):
                nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
                if nodes["is_categorical"].any():
                    return None
                for feature in np.unique(nodes["feature_idx"]):
                    using[int(feature)].append(position)
                    splits = nodes["num_threshold"][nodes["feature_idx"] == feature]
                    thresholds[int(feature)].append(np.unique(splits.astype(np.float64)))
            known, feature_map = booster._bin_mapper.make_known_categories_bitsets()
            folds.append(
                _Fold(
                    baseline=float(np.asarray(booster._baseline_prediction).ravel()[0]),
                    trees=trees,
                    calibrator=fold.calibrators[0],
                    known_categories=known,
                    feature_map=feature_map,
                    trees_using=tuple(np.asarray(p, dtype=np.int64) for p in using),
                    thresholds=tuple(tuple(t) for t in thresholds),
                )
            )
        return cls(tuple(folds))

    def leaves(self, matrix: np.ndarray) -> list[np.ndarray]:
        """Per fold, trees x rows leaf values of `matrix`."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        return [fold.leaves(matrix) for fold in self.folds]

    def probability(self, leaves: list[np.ndarray]) -> np.ndarray:
        """The calibrated probability of the rows whose leaves these are: each fold's
        calibrator on its raw score, averaged as `CalibratedClassifierCV.predict_proba`."""
        mean = np.zeros(leaves[0].shape[1], dtype=np.float64)
        for fold, fold_leaves in zip(self.folds, leaves, strict=True):
            mean += fold.calibrator.predict(fold.raw(fold_leaves))
        mean /= len(self.folds)
        return mean

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.probability(self.leaves(matrix))

    def changed(
        self,
        matrix: np.ndarray,
        leaves: list[np.ndarray],
        column: int,
        value: float,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """The probability of `matrix`'s `rows` (all by default) with `column` set to
        `value`, given the leaves of `matrix` (per fold, trees x rows). A tree is walked again
        only by the rows whose own value of `column` and `value` lie on different sides of one
        of that tree's thresholds on it (or one of them is null): for the others every split
        on `column` sends both the same way, so the leaf is the one the row has. Sorted by
        their value, those rows are the two ends of the block: no row is gathered per tree."""
        rows = np.arange(len(matrix)) if rows is None else rows
        if len(rows) >= WHOLE_BLOCK_SHARE * len(matrix):
            return self._changed_in_place(matrix, leaves, column, value)[rows]
        by_value = np.argsort(matrix[rows, column], kind="stable")  # nulls last
        order = rows[by_value]
        ordered = matrix[order, column]
        known = int(np.count_nonzero(~np.isnan(ordered)))
        changed = matrix[order]
        changed[:, column] = value
        moved = []
        for fold, fold_leaves in zip(self.folds, leaves, strict=True):
            fold_moved = fold_leaves[:, order]
            for position, splits in zip(
                fold.trees_using[column], fold.thresholds[column], strict=True
            ):
                for start, stop in _apart(ordered[:known], len(ordered), splits, value):
                    fold_moved[position, start:stop] = fold.leaf(int(position), changed[start:stop])
            moved.append(fold_moved)
        probability = np.empty(len(rows), dtype=np.float64)
        probability[by_value] = self.probability(moved)
        return probability

    def _changed_in_place(
        self, matrix: np.ndarray, leaves: list[np.ndarray], column: int, value: float
    ) -> np.ndarray:
        """`changed` for every row of the block, its leaves left in place: a tree that does
        not split on `column` adds its row of leaves as it is (contiguous), and a tree that
        does adds a copy with the re-walked rows' leaves put in. The rows are sorted by value
        only to walk them as slices."""
        by_value = np.argsort(matrix[:, column], kind="stable")  # nulls last
        ordered = matrix[by_value, column]
        known = int(np.count_nonzero(~np.isnan(ordered)))
        changed = matrix[by_value]
        changed[:, column] = value
        mean = np.zeros(len(matrix), dtype=np.float64)
        for fold, fold_leaves in zip(self.folds, leaves, strict=True):
            splits_of = dict(
                zip(fold.trees_using[column].tolist(), fold.thresholds[column], strict=True)
            )
            total = np.zeros(len(matrix), dtype=np.float64)
            total += fold.baseline
            for position in range(len(fold.trees)):
                splits = splits_of.get(position)
                ranges = (
                    _apart(ordered[:known], len(ordered), splits, value)
                    if splits is not None
                    else []
                )
                if not ranges:
                    total += fold_leaves[position]
                    continue
                moved = fold_leaves[position].copy()
                for start, stop in ranges:
                    moved[by_value[start:stop]] = fold.leaf(position, changed[start:stop])
                total += moved
            mean += fold.calibrator.predict(total)
        mean /= len(self.folds)
        return mean

    def agrees_with(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        matrix: np.ndarray,
        reference: np.ndarray | None = None,
    ) -> bool:
        """Whether these sums give `predict`'s numbers, bit for bit, on `matrix` (a sample of
        the rows to score) and, with `reference`, on each of its rows with one feature at the
        reference (features alternately in place and gathered, the two ways of `changed`): a
        scikit-learn that sums or splits otherwise is caught, not trusted."""
        if len(matrix) == 0:
            return True
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        leaves = self.leaves(matrix)
        if not np.array_equal(self.probability(leaves), predict(matrix)):
            return False
        if reference is None:
            return True
        # every counterfactual of every row, predicted by the model in one call
        stacked = np.repeat(matrix[np.newaxis], len(reference), axis=0)
        for column, value in enumerate(reference):
            stacked[column, :, column] = value
        expected = predict(stacked.reshape(-1, matrix.shape[1])).reshape(len(reference), -1)
        # the block's leaves in place for every other feature, gathered for the rest
        some = np.arange(0, len(matrix), 2)
        for column, value in enumerate(reference):
            rows = None if column % 2 == 0 else some
            found = self.changed(matrix, leaves, column, value, rows=rows)
            if not np.array_equal(
                found, expected[column] if rows is None else expected[column, some]
            ):
                return False
        return True


def _apart(known: np.ndarray, rows: int, splits: np.ndarray, value: float) -> list[tuple[int, int]]:
    """The ranges of sorted rows (`known`: the non-null values, ascending; nulls after them up
    to `rows`) whose value is not in `value`'s cell of `splits` (sorted thresholds; a split sends
    x left when x <= threshold), nulls included; all rows when `value` is null."""
    if np.isnan(value):
        return [(0, rows)]
    cell = int(np.searchsorted(splits, value, side="left"))  # thresholds below value
    below = (
        int(np.searchsorted(known, splits[cell - 1], side="right")) if cell > 0 else 0
    )  # rows with x <= the threshold under value's cell
    above = (
        int(np.searchsorted(known, splits[cell], side="right"))
        if cell < len(splits)
        else len(known)
    )  # rows with x <= the threshold over value's cell: the rest are above it
    ranges = [(0, below)] if below > 0 else []
    if above < rows:
        ranges.append((above, rows))
    return ranges

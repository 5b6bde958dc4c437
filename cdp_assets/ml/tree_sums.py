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


@dataclass(frozen=True)
class _Fold:
    """One calibrated fold: its booster's trees in order and its calibrator."""

    baseline: float
    trees: tuple[Any, ...]  # TreePredictor, in the order the booster adds them
    calibrator: Any
    known_categories: Any
    feature_map: Any
    trees_using: tuple[np.ndarray, ...]  # per feature: positions of the trees splitting on it

    def leaf(self, position: int, matrix: np.ndarray) -> np.ndarray:
        return self.trees[position].predict(matrix, self.known_categories, self.feature_map, 1)

    def leaves(self, matrix: np.ndarray) -> np.ndarray:
        """rows x trees: the leaf value each row reaches in each tree."""
        out = np.empty((len(matrix), len(self.trees)), dtype=np.float64)
        for position in range(len(self.trees)):
            out[:, position] = self.leaf(position, matrix)
        return out

    def raw(self, leaves: np.ndarray) -> np.ndarray:
        """baseline plus every tree's leaf, added tree after tree as the booster does."""
        total = np.zeros(len(leaves), dtype=np.float64)
        total += self.baseline
        for position in range(leaves.shape[1]):
            total += leaves[:, position]
        return total


@dataclass(frozen=True)
class BoostedTreeSums:
    """The folds of a calibrated binary boosted-trees classifier, scored tree by tree."""

    folds: tuple[_Fold, ...]

    @classmethod
    def of(cls, estimator: Any, n_features: int) -> BoostedTreeSums | None:
        """For a `CalibratedClassifierCV` (isotonic or sigmoid) of binary
        `HistGradientBoostingClassifier`s on numeric features; None for anything else."""
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
            for position, tree in enumerate(trees):
                nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
                if nodes["is_categorical"].any():
                    return None
                for feature in np.unique(nodes["feature_idx"]):
                    using[int(feature)].append(position)
            known, feature_map = booster._bin_mapper.make_known_categories_bitsets()
            folds.append(
                _Fold(
                    baseline=float(np.asarray(booster._baseline_prediction).ravel()[0]),
                    trees=trees,
                    calibrator=fold.calibrators[0],
                    known_categories=known,
                    feature_map=feature_map,
                    trees_using=tuple(np.asarray(p, dtype=np.int64) for p in using),
                )
            )
        return cls(tuple(folds))

    def leaves(self, matrix: np.ndarray) -> list[np.ndarray]:
        """Per fold, rows x trees leaf values of `matrix` (float64, C order)."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        return [fold.leaves(matrix) for fold in self.folds]

    def probability(self, leaves: list[np.ndarray]) -> np.ndarray:
        """The calibrated probability of the rows whose leaves these are: each fold's
        calibrator on its raw score, averaged as `CalibratedClassifierCV.predict_proba`."""
        mean = np.zeros(len(leaves[0]), dtype=np.float64)
        for fold, fold_leaves in zip(self.folds, leaves, strict=True):
            mean += fold.calibrator.predict(fold.raw(fold_leaves))
        mean /= len(self.folds)
        return mean

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.probability(self.leaves(matrix))

    def changed(
        self, matrix: np.ndarray, leaves: list[np.ndarray], column: int, value: float
    ) -> np.ndarray:
        """The probability of `matrix`'s rows with `column` set to `value`, given their own
        leaves: only the trees splitting on `column` are walked again."""
        changed = np.array(matrix, dtype=np.float64, order="C")
        changed[:, column] = value
        moved = []
        for fold, fold_leaves in zip(self.folds, leaves, strict=True):
            fold_moved = fold_leaves.copy()
            for position in fold.trees_using[column]:
                fold_moved[:, position] = fold.leaf(int(position), changed)
            moved.append(fold_moved)
        return self.probability(moved)

    def agrees_with(self, predict: Callable[[np.ndarray], np.ndarray], matrix: np.ndarray) -> bool:
        """Whether these sums give `predict`'s numbers, bit for bit, on `matrix` (a sample of
        the rows to score): a scikit-learn that sums otherwise is caught, not trusted."""
        if len(matrix) == 0:
            return True
        return bool(np.array_equal(self.predict(matrix), predict(matrix)))

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

Between two scorings with the same model most customers keep their cell row: the analysis date
moves recency for everyone, but few cross a split threshold from one day to the next. A
customer's score and every contribution are functions of (the model, the reference, his cell
row) only, so `score_by_cells` takes them from what an earlier scoring kept by cell row
(`ScoresByCells`) and computes only the customers whose cell row it does not hold, to the same
bits. Rows are found by the same 64-bit hash and then compared cell by cell: a colliding hash
is a row computed again, never another row's numbers. What is kept holds no customer id: a
cell row and its numbers.

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

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cdp_assets.ml.tree_sums import BoostedTreeSums

# Contributions below a tenth of a percentage point are step noise of the calibrated trees
# rather than reasons anyone would act on.
MIN_CONTRIBUTION = 1e-3
# Counterfactual rows rescored per predict call: 200,000 rows of 29 features are 46 MB a copy.
PREDICT_BLOCK_ROWS = 200_000
# Below this a block's fixed cost (a Python call per tree) outweighs a second thread.
MIN_BLOCK_ROWS = 5_000
# Rows per block of `_contributions_by_trees`: their leaves (rows x trees of every fold, 10,000
# x 800 float64 is 64 MB) are kept while the block's counterfactual rows are scored.
TREE_BLOCK_ROWS = 10_000
# Rows on which `BoostedTreeSums` must give the model's own scores before it is used.
AGREEMENT_ROWS = 256


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


def _each_block(one: Callable[[int], None], starts: Sequence[int], threads: int) -> None:
    """`one(start)` for every block start: side by side on `threads` Python threads when
    there is more than one block, else in order on this one."""
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(one, starts))
    else:
        for start in starts:
            one(start)


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

    _each_block(one, starts, threads)
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
    for rescoring in _rescorings(codes, reference_codes, _row_hashes(codes, weights), weights):
        j = rescoring.column
        predicted = predict_rows(
            predict, matrix, rescoring.representative, j, reference[j], threads
        )
        result[rescoring.rows, j] = base[rescoring.rows] - predicted[rescoring.group]


@dataclass(frozen=True)
class _Rescoring:
    """The rows whose feature `column` differs from the reference's cell, the one row of each
    group of identical counterfactual cells that is rescored, and each row's group."""

    column: int
    rows: np.ndarray
    representative: np.ndarray
    group: np.ndarray


def _rescorings(
    codes: np.ndarray, reference_codes: np.ndarray, hashes: np.ndarray, weights: np.ndarray
) -> list[_Rescoring]:
    """Per feature, the rows to rescore in groups of the same counterfactual cell row, one
    representative each (any: the check proves the choice does not matter); a hash collision
    makes every row its own group (rescored row by row)."""
    found = []
    for j in range(codes.shape[1]):
        rows = np.flatnonzero(codes[:, j] != reference_codes[j])
        if len(rows) == 0:
            continue
        keys = (
            hashes[rows]
            + (np.uint64(reference_codes[j]) - codes[rows, j].astype(np.uint64)) * weights[j]
        )
        group, _ = pd.factorize(keys)
        member = np.empty(group.max() + 1, dtype=np.int64)
        member[group] = np.arange(len(rows))
        representative = rows[member]
        same = codes[rows] == codes[representative[group]]
        same[:, j] = True
        if not same.all():
            representative, group = rows, np.arange(len(rows))
        # int32 positions: every feature's groups are held at once by `_contributions_by_trees`
        found.append(
            _Rescoring(
                j, rows.astype(np.int32), representative.astype(np.int32), group.astype(np.int32)
            )
        )
    return found


def _contributions_by_trees(
    sums: BoostedTreeSums,
    matrix: np.ndarray,
    reference: np.ndarray,
    cells: SplitCells,
    threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, contributions) of `matrix`, as `predict_rows` and `contributions` with `cells`
    give them, computed in blocks of rows: each block's leaves are found once, and each
    counterfactual row of the block re-walks only the trees splitting on its feature."""
    codes = cells.encode(matrix)
    reference_codes = cells.encode(reference[np.newaxis, :])[0]
    weights = _cell_weights(matrix.shape[1])
    rescorings = _rescorings(codes, reference_codes, _row_hashes(codes, weights), weights)
    base = np.empty(len(matrix), dtype=np.float64)
    predicted = [np.empty(len(r.representative), dtype=np.float64) for r in rescorings]
    threads = workers() if threads is None else threads
    size = max(1, min(TREE_BLOCK_ROWS, -(-len(matrix) // max(threads, 1))))
    starts = range(0, len(matrix), size)

    def one(start: int) -> None:
        stop = min(start + size, len(matrix))
        block = np.ascontiguousarray(matrix[start:stop], dtype=np.float64)
        leaves = sums.leaves(block)
        base[start:stop] = sums.probability(leaves)
        for rescoring, out in zip(rescorings, predicted, strict=True):
            inside = np.flatnonzero(
                (rescoring.representative >= start) & (rescoring.representative < stop)
            )
            if len(inside) == 0:
                continue
            out[inside] = sums.changed(
                block,
                leaves,
                rescoring.column,
                reference[rescoring.column],
                rows=rescoring.representative[inside] - start,
            )

    _each_block(one, starts, threads)
    result = np.zeros(matrix.shape, dtype=np.float64)
    for rescoring, out in zip(rescorings, predicted, strict=True):
        result[rescoring.rows, rescoring.column] = base[rescoring.rows] - out[rescoring.group]
    return base, result


def _row_hashes(codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return (codes.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


@dataclass(frozen=True)
class ScoresByCells:
    """Distinct cell rows with the score and contributions any customer of that row has under
    the model and reference named by `key` (see `scores_key`). No customer id: the rows are
    found again by their cells."""

    key: str
    cells: np.ndarray  # rows x features, uint16
    probability: np.ndarray  # rows
    contributions: np.ndarray  # rows x features

    def to_frame(self, features: Sequence[str]) -> pd.DataFrame:
        """One row per cell row: model_key, probability, cell_<feature>...,
        contribution_<feature>... (the warehouse table `score_by_cells` reads back)."""
        columns: dict[str, Any] = {
            "model_key": pd.Series([self.key] * len(self.cells), dtype="string"),
            "probability": self.probability,
        }
        for j, name in enumerate(features):
            columns[f"cell_{name}"] = self.cells[:, j].astype(np.int64)
        for j, name in enumerate(features):
            columns[f"contribution_{name}"] = self.contributions[:, j]
        return pd.DataFrame(columns)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, features: Sequence[str]) -> ScoresByCells | None:
        """What `to_frame` wrote, or None when `frame` is not that for these features (other
        columns, several keys, a cell that is not one): nothing is then reused."""
        cell_columns = [f"cell_{name}" for name in features]
        contribution_columns = [f"contribution_{name}" for name in features]
        wanted = ["model_key", "probability", *cell_columns, *contribution_columns]
        if len(frame) == 0 or any(c not in frame.columns for c in wanted):
            return None
        keys = frame["model_key"].dropna().unique()
        cells = frame[cell_columns].to_numpy(dtype=np.float64, na_value=np.nan)
        if len(keys) != 1 or frame["model_key"].isna().any():
            return None
        if np.isnan(cells).any() or (cells < 0).any() or (cells > np.iinfo(np.uint16).max).any():
            return None
        return cls(
            str(keys[0]),
            cells.astype(np.uint16),
            frame["probability"].to_numpy(dtype=np.float64),
            frame[contribution_columns].to_numpy(dtype=np.float64),
        )


def scores_key(version: str, reference: np.ndarray, cells: SplitCells) -> str:
    """What a cell row's numbers depend on besides the row: the model version (its trees and
    calibration) and the reference, with a digest of the reference and of the thresholds, so
    that a reference changed under the same version name reuses nothing."""
    digest = hashlib.sha256(np.ascontiguousarray(reference, dtype=np.float64).tobytes())
    for thresholds in cells.thresholds:
        digest.update(len(thresholds).to_bytes(4, "little"))
        digest.update(np.ascontiguousarray(thresholds, dtype=np.float64).tobytes())
    return f"{version}:{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class CellScoring:
    """What `score_by_cells` returns: every customer's score and contributions, what to keep
    for the next scoring, and how many customers were computed (their cell row was not kept)."""

    probability: np.ndarray
    contributions: np.ndarray
    kept: ScoresByCells
    recomputed: int


def _known_rows(
    known: ScoresByCells | None, key: str, codes: np.ndarray, hashes: np.ndarray
) -> np.ndarray:
    """Per customer, the row of `known` with his cells, or -1."""
    found = np.full(len(codes), -1, dtype=np.int64)
    if known is None or known.key != key or known.cells.shape[1:] != codes.shape[1:]:
        return found
    known_hashes = _row_hashes(known.cells, _cell_weights(codes.shape[1]))
    unique = ~pd.Series(known_hashes).duplicated(keep=False).to_numpy()
    positions = np.flatnonzero(unique)  # a hash kept twice is no one's: those rows are computed
    at = pd.Index(known_hashes[positions]).get_indexer(hashes)
    candidates = np.flatnonzero(at >= 0)
    rows = positions[at[candidates]]
    same = (known.cells[rows] == codes[candidates]).all(axis=1)
    found[candidates[same]] = rows[same]
    return found


def _distinct_rows(
    key: str,
    codes: np.ndarray,
    hashes: np.ndarray,
    probability: np.ndarray,
    contribution: np.ndarray,
) -> ScoresByCells:
    """One row per distinct cell row, in hash order (the same rows give the same table);
    rows whose hash another cell row shares are left out (see `_known_rows`)."""
    group, uniques = pd.factorize(hashes)
    first = np.empty(len(uniques), dtype=np.int64)
    first[group[::-1]] = np.arange(len(group))[::-1]
    same = (codes == codes[first[group]]).all(axis=1)
    collided = np.zeros(len(uniques), dtype=bool)
    collided[group[~same]] = True
    rows = first[~collided]
    rows = rows[np.argsort(hashes[rows], kind="stable")]
    return ScoresByCells(key, codes[rows], probability[rows], contribution[rows])


def score_by_cells(
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    reference: np.ndarray,
    cells: SplitCells,
    key: str,
    known: ScoresByCells | None = None,
    threads: int | None = None,
    sums: BoostedTreeSums | None = None,
) -> CellScoring:
    """Every row's score and contributions (those of `predict_rows` and `contributions` with
    `cells`, to the last bit): taken from `known` for the rows whose cell row it holds under
    `key`, computed for the others. With `sums` (the model's `BoostedTreeSums`, when it gives
    `predict`'s numbers on the first rows computed) a counterfactual row walks only the trees
    that split on its changed feature."""
    codes = cells.encode(matrix)
    hashes = _row_hashes(codes, _cell_weights(matrix.shape[1]))
    found = _known_rows(known, key, codes, hashes)
    probability = np.empty(len(matrix), dtype=np.float64)
    contribution = np.empty(matrix.shape, dtype=np.float64)
    hit, missing = np.flatnonzero(found >= 0), np.flatnonzero(found < 0)
    if len(hit):
        assert known is not None
        probability[hit] = known.probability[found[hit]]
        contribution[hit] = known.contributions[found[hit]]
    if len(missing):
        computed = matrix if len(missing) == len(matrix) else matrix[missing]
        if sums is not None and _sums_agree(sums, predict, computed, reference):
            base, computed_contribution = _contributions_by_trees(
                sums, computed, reference, cells, threads
            )
        else:
            base = predict_rows(predict, computed, threads=threads)
            computed_contribution = contributions(
                predict, computed, reference, base, cells, threads
            )
        probability[missing] = base
        contribution[missing] = computed_contribution
    kept = _distinct_rows(key, codes, hashes, probability, contribution)
    return CellScoring(probability, contribution, kept, len(missing))


def _sums_agree(
    sums: BoostedTreeSums,
    predict: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    reference: np.ndarray,
) -> bool:
    """`sums.agrees_with` on the first AGREEMENT_ROWS rows, the model's own predictions on a
    one-thread OpenMP pool (small calls: see the module docstring)."""
    with threadpool_limits(1, user_api="openmp"):
        return sums.agrees_with(predict, matrix[:AGREEMENT_ROWS], reference)


@dataclass
class ReasonCache:
    """Carries what an earlier scoring kept (`known`) into a scoring, and what this one keeps
    for the next (`kept`, with `recomputed` customers computed) back out. Both stay None for
    models without cells (see `SplitCells.of`): nothing is kept or reused for them."""

    known: ScoresByCells | None = None
    kept: ScoresByCells | None = None
    recomputed: int | None = None


def format_value(value: float) -> str:
    """A feature value as a reason shows it: integers plainly, others to two decimals."""
    if np.isnan(value):
        return "none"
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _formatted(values: np.ndarray) -> np.ndarray:
    """`format_value` of each value (an object array), formatted once per distinct value
    (equal floats format alike: 0.0 and -0.0 both as "0", every null as "none")."""
    distinct, inverse = np.unique(values, return_inverse=True)
    texts = np.array([format_value(v) for v in distinct.tolist()], dtype=object)
    return texts[inverse.reshape(-1)]


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
            valid = np.flatnonzero(np.isfinite(masked[rows, column]))
            reasons[valid] = names[column[valid]] + "=" + _formatted(matrix[valid, column[valid]])
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

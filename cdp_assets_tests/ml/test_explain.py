"""The explanations' grouped rescoring (`SplitCells`) gives exactly the plain loop's numbers.

The plain loop below is the one `contributions` ran before the cells existed: every customer
whose value differs from the reference rescored, one predict call per feature. On fitted
calibrated boosted trees (isotonic and sigmoid), with tied values, nulls in the data and a
null reference, the grouped rescoring must give the same contributions to the last bit, and
so the same reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from cdp_assets.ml import explain, tree_sums
from cdp_assets.ml.churn import _reference, fit_calibrated_boosting
from cdp_assets.ml.explain import (
    SplitCells,
    contributions,
    top_reasons,
)
from cdp_assets.ml.tree_sums import BoostedTreeSums, _Fold


def plain_loop(predict, matrix: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """contributions() as it was: features x customers predictions."""
    base = predict(matrix)
    result = np.zeros(matrix.shape, dtype=np.float64)
    for j in range(matrix.shape[1]):
        column, ref = matrix[:, j], reference[j]
        differs = ~np.isnan(column) if np.isnan(ref) else np.isnan(column) | (column != ref)
        rows = np.flatnonzero(differs)
        if len(rows) == 0:
            continue
        changed = matrix[rows].copy()
        changed[:, j] = ref
        result[rows, j] = base[rows] - predict(changed)
    return result


def customers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features with many ties (counts, rounded values), nulls (a mostly-null NPS, a few
    missing recencies) and a label that depends on several of them."""
    rng = np.random.default_rng(seed)
    recency = rng.integers(0, 400, n).astype(float)
    recency[rng.random(n) < 0.02] = np.nan
    frequency = (rng.poisson(2.0, n) + 1).astype(float)
    monetary = np.round(frequency * rng.gamma(2.0, 40.0, n), 0)
    tickets = rng.poisson(0.3, n).astype(float)
    nps = np.where(rng.random(n) < 0.3, rng.integers(0, 11, n), np.nan).astype(float)
    constant = np.zeros(n)
    logit = (
        -0.5
        + 0.008 * np.nan_to_num(recency, nan=200)
        - 1.2 * np.log(frequency)
        + 0.9 * tickets
        - 0.1 * np.nan_to_num(nps, nan=5)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([recency, frequency, monetary, tickets, nps, constant]), y


@pytest.fixture(scope="module", params=[6_000, 1_500], ids=["isotonic", "sigmoid"])
def fitted(request) -> tuple[CalibratedClassifierCV, np.ndarray, np.ndarray]:
    matrix, y = customers(request.param, seed=11)
    with threadpool_limits(1, user_api="openmp"):
        model = fit_calibrated_boosting(matrix, y, groups=np.arange(len(y)) % 500)
    scoring, _ = customers(3_000, seed=12)
    return model, scoring, _reference(matrix)


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """The plain loop predicts with scikit-learn's own threads, which on a busy machine cost
    far more than they save (see cdp_assets.ml.explain)."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def _predict(model):
    return lambda x: model.predict_proba(x)[:, 1]


def test_grouped_contributions_equal_the_plain_loop(fitted) -> None:
    model, matrix, reference = fitted
    assert np.isnan(reference[4])  # most NPS are null: the typical customer has none
    cells = SplitCells.of(model, matrix.shape[1])
    assert cells is not None
    with threadpool_limits(1, user_api="openmp"):
        expected = plain_loop(_predict(model), matrix, reference)
        found = contributions(_predict(model), matrix, reference, cells=cells)
    np.testing.assert_array_equal(found, expected)
    assert (expected > 0).sum() > 1_000  # the comparison is not of zeros
    features = ["recency", "frequency", "monetary", "tickets", "nps", "constant"]
    assert top_reasons(found, matrix, features).equals(top_reasons(expected, matrix, features))


def test_fewer_rows_are_rescored(fitted) -> None:
    model, matrix, reference = fitted
    rescored: list[int] = []

    def counting(x: np.ndarray) -> np.ndarray:
        rescored.append(len(x))
        return model.predict_proba(x)[:, 1]

    base = _predict(model)(matrix)
    plain = contributions(counting, matrix, reference, base=base)
    plain_rows, rescored[:] = sum(rescored), []
    grouped = contributions(
        counting, matrix, reference, base=base, cells=SplitCells.of(model, matrix.shape[1])
    )
    np.testing.assert_array_equal(grouped, plain)
    assert sum(rescored) < plain_rows


def test_a_hash_collision_costs_time_not_answers(fitted, monkeypatch) -> None:
    """With every weight 1 a row's hash is the sum of its cells: rows that differ collide,
    the check finds it and the feature is rescored row by row."""
    model, matrix, reference = fitted
    monkeypatch.setattr(explain, "_cell_weights", lambda n: np.ones(n, dtype=np.uint64))
    cells = SplitCells.of(model, matrix.shape[1])
    with threadpool_limits(1, user_api="openmp"):
        found = contributions(_predict(model), matrix, reference, cells=cells)
        expected = plain_loop(_predict(model), matrix, reference)
    np.testing.assert_array_equal(found, expected)


def test_blocks_and_threads_give_the_same_answers(fitted, monkeypatch) -> None:
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    whole = contributions(_predict(model), matrix, reference, cells=cells, threads=1)
    monkeypatch.setattr(explain, "PREDICT_BLOCK_ROWS", 397)
    monkeypatch.setattr(explain, "MIN_BLOCK_ROWS", 1)
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(
            contributions(_predict(model), matrix, reference, cells=cells, threads=threads), whole
        )
    np.testing.assert_array_equal(
        contributions(_predict(model), matrix, reference, threads=2), whole
    )


def test_cells_follow_the_trees_comparison() -> None:
    """x <= threshold goes left: a value equal to a threshold shares the cell of those below."""
    cells = SplitCells((np.array([1.0, 2.5]), np.zeros(0)))
    matrix = np.array(
        [[0.5, 7.0], [1.0, np.nan], [1.0001, 0.0], [2.5, -3.0], [9.0, 1.0], [np.nan, 2.0]]
    )
    np.testing.assert_array_equal(
        cells.encode(matrix), [[0, 0], [0, 3], [1, 0], [1, 0], [2, 0], [3, 0]]
    )


def test_other_models_have_no_cells() -> None:
    matrix, y = customers(300, seed=1)
    logistic = LogisticRegression().fit(np.nan_to_num(matrix), y)
    assert SplitCells.of(logistic, matrix.shape[1]) is None
    booster = HistGradientBoostingClassifier(max_iter=5).fit(matrix, y)
    assert SplitCells.of(booster, matrix.shape[1]) is not None
    assert SplitCells.of(booster, matrix.shape[1] + 1) is None


# -- scores kept by cell row (`score_by_cells`) --------------------------------------------


def _inside(cells: SplitCells, j: int, cell: int) -> float:
    """A value of feature j in `cell`: its upper threshold (x <= t), or above the last one."""
    thresholds = cells.thresholds[j]
    if cell == cells.null_cell:
        return np.nan
    return float(thresholds[cell]) if cell < len(thresholds) else float(thresholds[-1]) + 1.0


def _next_night(cells: SplitCells, matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """Yesterday's customers as they are today, and how many hold a cell row nobody held
    yesterday: rows 0-299 change a value inside its cell, rows 300-599 move one feature to
    another cell (some to null), rows 600-699 leave, 200 new customers arrive."""
    today = matrix.copy()
    codes = cells.encode(matrix)
    for i in range(300):  # monetary moved to its cell's upper bound: same cells
        j = 2
        if codes[i, j] != cells.null_cell:
            today[i, j] = _inside(cells, j, int(codes[i, j]))
    for i in range(300, 600):
        j = 0 if i % 3 else 4  # recency, or the NPS (often null) for every third
        cell = int(codes[i, j])
        if cell == cells.null_cell or i % 30 == 0:
            today[i, j] = _inside(cells, j, 0) if cell != 0 else np.nan
        else:
            today[i, j] = _inside(cells, j, cell + 1 if cell < len(cells.thresholds[j]) else 0)
    new, _ = customers(200, seed=99)
    today = np.vstack([today[:600], today[700:], new])
    yesterday = {row.tobytes() for row in codes}
    moved = sum(row.tobytes() not in yesterday for row in cells.encode(today))
    return today, moved


def test_a_rescoring_computes_only_the_customers_whose_cells_moved(fitted) -> None:
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    key = explain.scores_key("v1", reference, cells)
    first = explain.score_by_cells(_predict(model), matrix, reference, cells, key)
    assert first.recomputed == len(matrix)
    np.testing.assert_array_equal(
        first.contributions, plain_loop(_predict(model), matrix, reference)
    )
    np.testing.assert_array_equal(first.probability, _predict(model)(matrix))

    today, moved = _next_night(cells, matrix)
    assert (
        280 <= moved <= 500
    )  # the crossings (a few may land on a row someone held) and most newcomers
    predicted: list[int] = []

    def counting(x: np.ndarray) -> np.ndarray:
        predicted.append(len(x))
        return model.predict_proba(x)[:, 1]

    again = explain.score_by_cells(counting, today, reference, cells, key, known=first.kept)
    scratch = explain.score_by_cells(_predict(model), today, reference, cells, key)
    assert again.recomputed == moved
    assert predicted[0] == moved  # the base scores of those customers only
    np.testing.assert_array_equal(again.probability, scratch.probability)
    np.testing.assert_array_equal(again.contributions, scratch.contributions)
    np.testing.assert_array_equal(
        again.contributions, plain_loop(_predict(model), today, reference)
    )
    features = ["recency", "frequency", "monetary", "tickets", "nps", "constant"]
    reasons = top_reasons(again.contributions, today, features)
    assert reasons.equals(top_reasons(scratch.contributions, today, features))
    # what is kept for the next night does not depend on what was reused
    for field in ("cells", "probability", "contributions"):
        np.testing.assert_array_equal(getattr(again.kept, field), getattr(scratch.kept, field))


def test_another_model_or_reference_reuses_nothing(fitted) -> None:
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    kept = explain.score_by_cells(
        _predict(model), matrix, reference, cells, explain.scores_key("v1", reference, cells)
    ).kept
    assert (
        explain.score_by_cells(
            _predict(model),
            matrix,
            reference,
            cells,
            explain.scores_key("v1", reference, cells),
            kept,
        ).recomputed
        == 0
    )
    retrained = explain.scores_key("v2", reference, cells)
    assert explain.score_by_cells(
        _predict(model), matrix, reference, cells, retrained, kept
    ).recomputed == len(matrix)
    moved_reference = reference.copy()
    moved_reference[1] += 1.0
    other = explain.score_by_cells(
        _predict(model),
        matrix,
        moved_reference,
        cells,
        explain.scores_key("v1", moved_reference, cells),
        kept,
    )
    assert other.recomputed == len(matrix)
    np.testing.assert_array_equal(
        other.contributions, plain_loop(_predict(model), matrix, moved_reference)
    )


def test_colliding_hashes_are_computed_not_reused(fitted, monkeypatch) -> None:
    """With every weight 1 a row's hash is the sum of its cells: many rows collide. They are
    left out of what is kept and computed again, with the same answers."""
    model, matrix, reference = fitted
    monkeypatch.setattr(explain, "_cell_weights", lambda n: np.ones(n, dtype=np.uint64))
    cells = SplitCells.of(model, matrix.shape[1])
    key = explain.scores_key("v1", reference, cells)
    first = explain.score_by_cells(_predict(model), matrix, reference, cells, key)
    today, moved = _next_night(cells, matrix)
    again = explain.score_by_cells(_predict(model), today, reference, cells, key, first.kept)
    assert moved < again.recomputed < len(today)
    np.testing.assert_array_equal(
        again.contributions, plain_loop(_predict(model), today, reference)
    )
    np.testing.assert_array_equal(again.probability, _predict(model)(today))
    # a kept row whose hash another kept row shares is no one's
    doubled = explain.ScoresByCells(
        key,
        np.vstack([first.kept.cells[:1], first.kept.cells[:1]]),
        np.array([0.0, 1.0]),
        np.zeros((2, matrix.shape[1])),
    )
    assert (
        explain.score_by_cells(
            _predict(model), matrix[:50], reference, cells, key, doubled
        ).recomputed
        == 50
    )


def test_kept_scores_round_trip_through_a_frame(fitted) -> None:
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    kept = explain.score_by_cells(
        _predict(model), matrix, reference, cells, explain.scores_key("v1", reference, cells)
    ).kept
    features = ["recency", "frequency", "monetary", "tickets", "nps", "constant"]
    frame = kept.to_frame(features)
    assert "customer_id" not in frame.columns and len(frame) == len(kept.cells)
    back = explain.ScoresByCells.from_frame(frame, features)
    assert back is not None and back.key == kept.key
    for field in ("cells", "probability", "contributions"):
        np.testing.assert_array_equal(getattr(back, field), getattr(kept, field))
    # another model's features, or several keys: nothing to reuse
    assert explain.ScoresByCells.from_frame(frame, [*features[:-1], "other"]) is None
    frame.loc[0, "model_key"] = "v0:0"
    assert explain.ScoresByCells.from_frame(frame, features) is None


# -- tree by tree (BoostedTreeSums) -----------------------------------------------------------


def test_tree_sums_give_the_models_own_probabilities(fitted) -> None:
    """Every row changed (the block's leaves used in place) and a third of them (gathered)."""
    model, matrix, reference = fitted
    sums = BoostedTreeSums.of(model, matrix.shape[1])
    assert sums is not None
    np.testing.assert_array_equal(sums.predict(matrix), _predict(model)(matrix))
    leaves = sums.leaves(matrix)
    some = np.arange(0, len(matrix), 3)[::-1]
    for j in range(matrix.shape[1]):
        changed = matrix.copy()
        changed[:, j] = reference[j]
        expected = _predict(model)(changed)
        np.testing.assert_array_equal(sums.changed(matrix, leaves, j, reference[j]), expected)
        np.testing.assert_array_equal(
            sums.changed(matrix, leaves, j, reference[j], rows=some), expected[some]
        )


@pytest.mark.parametrize("whole_block_share", [0.0, 0.75, 1.01])
def test_scoring_by_trees_equals_the_plain_loop(fitted, monkeypatch, whole_block_share) -> None:
    """Small blocks (representatives of a group in another block than its other rows) and
    threads: the same scores and contributions as the plain loop, fewer tree walks."""
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    sums = BoostedTreeSums.of(model, matrix.shape[1])
    key = explain.scores_key("v1", reference, cells)
    walked: list[int] = []
    leaf = _Fold.leaf

    def counting(self, position: int, rows: np.ndarray) -> np.ndarray:
        walked.append(len(rows))
        return leaf(self, position, rows)

    monkeypatch.setattr(_Fold, "leaf", counting)
    monkeypatch.setattr(explain, "TREE_BLOCK_ROWS", 397)
    monkeypatch.setattr(tree_sums, "WHOLE_BLOCK_SHARE", whole_block_share)
    expected = plain_loop(_predict(model), matrix, reference)
    for threads in (1, 2):
        walked[:] = []
        scored = explain.score_by_cells(
            _predict(model), matrix, reference, cells, key, threads=threads, sums=sums
        )
        np.testing.assert_array_equal(scored.probability, _predict(model)(matrix))
        np.testing.assert_array_equal(scored.contributions, expected)
    trees = sum(len(fold.trees) for fold in sums.folds)
    grouped_rows = sum(len(r.representative) for r in _groups(cells, matrix, reference))
    if whole_block_share == 0.0:
        return  # every block in place: the rows of no group walk too (the same numbers)
    scoring = sum(walked)
    walked[:] = []
    assert sums.agrees_with(_predict(model), matrix[: explain.AGREEMENT_ROWS], reference)
    # every row's own walk, plus the counterfactuals' walks of only the trees that split on
    # their feature: fewer than all trees for every counterfactual row
    assert scoring - sum(walked) < trees * (len(matrix) + grouped_rows)


def test_tree_sums_whose_splits_differ_from_the_model_are_not_used(fitted, monkeypatch) -> None:
    """Were a tree to split otherwise than `x <= threshold` (here: no row ever re-walked), the
    counterfactual check on the sample catches it and the plain path gives the numbers."""
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    sums = BoostedTreeSums.of(model, matrix.shape[1])
    monkeypatch.setattr(tree_sums, "_apart", lambda *args: [])
    assert sums.agrees_with(_predict(model), matrix[:256])  # the base scores still agree
    assert not sums.agrees_with(_predict(model), matrix[:256], reference)
    scored = explain.score_by_cells(
        _predict(model), matrix, reference, cells, explain.scores_key("v1", reference, cells),
        sums=sums,
    )  # fmt: skip
    np.testing.assert_array_equal(
        scored.contributions, plain_loop(_predict(model), matrix, reference)
    )


def _groups(cells: SplitCells, matrix: np.ndarray, reference: np.ndarray):
    codes = cells.encode(matrix)
    weights = explain._cell_weights(matrix.shape[1])
    return explain._rescorings(
        codes,
        cells.encode(reference[np.newaxis, :])[0],
        explain._row_hashes(codes, weights),
        weights,
    )


def test_tree_sums_that_disagree_with_the_model_are_not_used(fitted, monkeypatch) -> None:
    model, matrix, reference = fitted
    cells = SplitCells.of(model, matrix.shape[1])
    sums = BoostedTreeSums.of(model, matrix.shape[1])
    monkeypatch.setattr(BoostedTreeSums, "probability", lambda self, leaves: leaves[0][:, 0])
    scored = explain.score_by_cells(
        _predict(model), matrix, reference, cells, explain.scores_key("v1", reference, cells),
        sums=sums,
    )  # fmt: skip
    np.testing.assert_array_equal(scored.probability, _predict(model)(matrix))
    np.testing.assert_array_equal(
        scored.contributions, plain_loop(_predict(model), matrix, reference)
    )


def test_trees_laid_out_otherwise_give_no_tree_sums(fitted, monkeypatch) -> None:
    """A scikit-learn whose boosters keep their bins elsewhere: no sums (the plain path), not
    an error in the nightly scoring."""
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    model, matrix, _ = fitted
    monkeypatch.delattr(_BinMapper, "make_known_categories_bitsets")
    assert BoostedTreeSums.of(model, matrix.shape[1]) is None


def test_other_models_have_no_tree_sums() -> None:
    matrix, y = customers(400, seed=3)
    logistic = CalibratedClassifierCV(LogisticRegression(), cv=2).fit(np.nan_to_num(matrix), y)
    assert BoostedTreeSums.of(logistic, matrix.shape[1]) is None
    booster = HistGradientBoostingClassifier(max_iter=5).fit(matrix, y)
    assert BoostedTreeSums.of(booster, matrix.shape[1]) is None  # not calibrated


def test_reasons_format_each_value_as_format_value_does() -> None:
    """Formatted once per distinct value: the same text as formatting row by row, with ties,
    nulls, -0.0, large and tiny values."""
    rng = np.random.default_rng(5)
    n = 5_000
    matrix = np.column_stack(
        [
            rng.integers(0, 400, n).astype(float),
            np.round(rng.gamma(2.0, 40.0, n), 2),
            rng.normal(0.0, 1.0, n),
            np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 1_000),
            np.where(rng.random(n) < 0.5, -0.0, 0.0),
            rng.random(n) * 1e-9,
        ]
    )
    contribution = rng.normal(0.0, 0.01, matrix.shape)
    contribution[:, 3] = np.where(np.isnan(matrix[:, 3]), 0.02, contribution[:, 3])
    features = ["recency", "monetary", "trend", "nps", "zero", "tiny"]
    reasons = top_reasons(contribution, matrix, features)
    for i in range(n):
        ranked = sorted(
            (j for j in range(6) if contribution[i, j] >= explain.MIN_CONTRIBUTION),
            key=lambda j: -contribution[i, j],
        )
        expected = [f"{features[j]}={explain.format_value(matrix[i, j])}" for j in ranked[:3]]
        assert [r for r in reasons.iloc[i] if r is not pd.NA] == expected
    assert (reasons == "zero=0").any().any() and (reasons == "nps=none").any().any()

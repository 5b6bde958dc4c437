"""The explanations' grouped rescoring (`SplitCells`) gives exactly the plain loop's numbers.

The plain loop below is the one `contributions` ran before the cells existed: every customer
whose value differs from the reference rescored, one predict call per feature. On fitted
calibrated boosted trees (isotonic and sigmoid), with tied values, nulls in the data and a
null reference, the grouped rescoring must give the same contributions to the last bit, and
so the same reasons.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from cdp_assets.ml import explain
from cdp_assets.ml.churn import _reference, fit_calibrated_boosting
from cdp_assets.ml.explain import (
    SplitCells,
    contributions,
    top_reasons,
)


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

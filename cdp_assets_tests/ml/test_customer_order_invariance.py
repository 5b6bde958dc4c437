"""Purchase models fitted on the same customers listed in another order are the same model.

Customer ids are numbered over the whole identity graph, so a warehouse holding later data lists
the same past customers in another order; an as-of backfill must fit exactly what was fitted
then (cdp_assets_tests/e2e/test_as_of_backfill.py found p_alive moving in the fifth digit)."""

from __future__ import annotations

import numpy as np
import pytest

from cdp_assets.ml import btyd
from cdp_assets.ml import purchase_models as pm


def _histories(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 900, n).astype(float)
    x = rng.poisson(rng.gamma(1.0, 2.0, n) * T / 365.0).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(n) * T), 0.0)
    return x, t_x, T


def test_distinct_rows_do_not_depend_on_the_customers_order() -> None:
    x, t_x, T = _histories(1)
    permutation = np.random.default_rng(2).permutation(len(x))
    rows, inverse = btyd.unique_rfm(x, t_x, T)
    shuffled_rows, shuffled_inverse = btyd.unique_rfm(
        x[permutation], t_x[permutation], T[permutation]
    )
    assert rows.equals(shuffled_rows)
    # Each customer still points at its own (x, t_x, T).
    assert np.array_equal(shuffled_rows["x"].to_numpy()[shuffled_inverse], x[permutation])
    assert np.array_equal(inverse[permutation], shuffled_inverse)


@pytest.mark.parametrize("fit", [pm.fit_bg_nbd, pm.fit_pareto_nbd, pm.fit_mbg_nbd])
def test_fitted_parameters_are_exactly_equal_in_any_order(fit) -> None:
    x, t_x, T = _histories(3)
    permutation = np.random.default_rng(4).permutation(len(x))
    listed = fit(x, t_x, T)
    reordered = fit(x[permutation], t_x[permutation], T[permutation])
    assert listed.params == reordered.params

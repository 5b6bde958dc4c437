"""The churn and lead scores' table of scores by cell row (`ml.<score table>_by_cells`): what
it keeps reads back to the last bit on both engines, it holds no identifier, and a model
without cells leaves it empty."""

from __future__ import annotations

import numpy as np

from cdp_assets.defs.ml.classifier_scoring import (
    cache_ref,
    keep_scores_by_cells,
    known_scores_by_cells,
)
from cdp_assets.defs.ml.classifiers import CLASSIFIERS
from cdp_assets.ml.explain import ReasonCache, ScoresByCells
from cdp_assets.privacy.identifiers import NAMED_COLUMNS
from cdp_assets.privacy.tables import personal_tables
from cdp_assets.warehouse import Warehouse

FEATURES = ("recency_days", "frequency", "latest_nps")


def kept() -> ScoresByCells:
    """Awkward doubles: thirds, the smallest normal, a subnormal, -0.0, negatives, 0.1 + 0.2."""
    rng = np.random.default_rng(3)
    contributions = rng.normal(0.0, 0.1, (5, 3)) / 3.0
    contributions[0] = [np.finfo(float).tiny, 5e-324, -(0.1 + 0.2)]
    contributions[1, 0] = -0.0
    return ScoresByCells(
        "churn-20261120T030000-0a1b2c3d:0123456789abcdef",
        np.array([[0, 1, 7], [3, 0, 7], [65535, 2, 0], [1, 1, 1], [2, 2, 6]], dtype=np.uint16),
        np.array([1 / 3, 0.1 + 0.2, 0.0, 1.0, 2 / 7]),
        contributions,
    )


def test_kept_scores_read_back_to_the_last_bit(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    for spec in CLASSIFIERS:
        ref = cache_ref(spec)
        with warehouse.transaction() as session:
            assert known_scores_by_cells(session, ref, FEATURES) is None  # nothing kept yet
            keep_scores_by_cells(session, ref, ReasonCache(kept=kept(), recomputed=5), FEATURES)
        with warehouse.transaction() as session:
            back = known_scores_by_cells(session, ref, FEATURES)
        assert back is not None and back.key == kept().key
        for field in ("cells", "probability", "contributions"):
            expected = getattr(kept(), field)
            np.testing.assert_array_equal(getattr(back, field), expected)
            assert getattr(back, field).tobytes() == expected.tobytes()  # -0.0, subnormals


def test_the_table_holds_no_identifier_and_erasure_does_not_search_it(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    with warehouse.transaction() as session:
        for spec in CLASSIFIERS:
            ref = cache_ref(spec)
            keep_scores_by_cells(session, ref, ReasonCache(kept=kept(), recomputed=5), FEATURES)
            assert not set(session.columns(ref)) & set(NAMED_COLUMNS)
    with warehouse.transaction() as session:
        searched = {str(ref) for ref in personal_tables(session)}
    assert searched.isdisjoint({str(cache_ref(spec)) for spec in CLASSIFIERS})


def test_a_model_without_cells_leaves_nothing_kept(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    ref = cache_ref(CLASSIFIERS[0])
    with warehouse.transaction() as session:
        keep_scores_by_cells(session, ref, ReasonCache(kept=kept(), recomputed=5), FEATURES)
    with warehouse.transaction() as session:
        keep_scores_by_cells(session, ref, ReasonCache(known=kept()), FEATURES)
    with warehouse.transaction() as session:
        assert session.row_count(ref) == 0
        assert known_scores_by_cells(session, ref, FEATURES) is None

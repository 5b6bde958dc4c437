"""analytics.rfm: quintile scores with ties, the segment map, summaries and the grid plot."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from cdp_assets.analytics.features import type_features
from cdp_assets.analytics.rfm import (
    RFM_DTYPES,
    empty_scores_note,
    quintile_scores,
    rfm_grid_plot,
    rfm_scores,
    segment_grid,
    segment_summary,
)
from cdp_assets.config import AnalyticsConfig, RfmSegmentRule
from cdp_assets.contracts.features import FEATURE_DTYPES

SEGMENTS = AnalyticsConfig().rfm_segments


def _features(rows: list[tuple[str, int | None, int, float]]) -> pd.DataFrame:
    """(customer_id, recency_days, frequency, monetary) rows as typed customer features."""
    frame = pd.DataFrame(rows, columns=["customer_id", "recency_days", "frequency", "monetary"])
    frame["as_of"] = pd.Timestamp("2025-03-31")
    return frame.astype({c: FEATURE_DTYPES[c] for c in frame.columns})


def test_distinct_values_split_into_equal_quintiles() -> None:
    scores = quintile_scores(pd.Series(range(10, 0, -1)))
    assert scores.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_ties_score_alike_at_the_bottom_of_their_group() -> None:
    frequency = pd.Series([1, 1, 1, 1, 1, 1, 2, 2, 3, 5])
    # six one-time buyers: none is beaten by anyone, so all score 1; six of ten are below
    # the two-order customers (60 % reaches three boundaries: score 4); 80 % is below 3.
    assert quintile_scores(frequency).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert quintile_scores(pd.Series([7, 7, 7])).tolist() == [1, 1, 1]
    assert quintile_scores(pd.Series([], dtype="int64")).tolist() == []


def test_hand_computed_scores_and_segments() -> None:
    features = _features(
        [
            ("A", 1, 1, 10.0),
            ("B", 400, 1, 20.0),
            ("C", 100, 1, 30.0),
            ("D", 10, 5, 40.0),
            ("E", 50, 9, 50.0),
            ("F", None, 0, 0.0),  # never bought: not scored
        ]
    )
    rfm = rfm_scores(features, SEGMENTS).set_index("customer_id")
    assert {c: str(t) for c, t in rfm.reset_index().dtypes.items()} == RFM_DTYPES
    assert list(rfm.index) == ["A", "B", "C", "D", "E"]
    assert rfm["r_score"].tolist() == [5, 1, 2, 4, 3]
    assert rfm["f_score"].tolist() == [1, 1, 1, 4, 5]
    assert rfm["m_score"].tolist() == [1, 2, 3, 4, 5]
    assert rfm["rfm_score"].tolist() == ["511", "112", "213", "444", "355"]
    assert rfm["rfm_segment"].tolist() == [
        "New Customers",  # R5 F1
        "Lost",  # R1 F1
        "Hibernating",  # R2 F1
        "Loyal Customers",  # R4 F4
        "Loyal Customers",  # R3 F5
    ]
    assert (rfm["as_of"] == pd.Timestamp("2025-03-31")).all()

    summary = segment_summary(rfm.reset_index())
    assert summary.columns.tolist() == ["segment", "customers", "share", "revenue", "revenue_share"]
    first = summary.iloc[0]
    assert (first["segment"], first["customers"], first["revenue"]) == ("Loyal Customers", 2, 90.0)
    assert first["share"] == pytest.approx(0.4)
    assert first["revenue_share"] == pytest.approx(0.6)
    assert summary["share"].sum() == pytest.approx(1.0)
    assert summary["revenue_share"].sum() == pytest.approx(1.0)


def test_the_default_map_names_known_cells() -> None:
    grid = segment_grid(SEGMENTS)
    expected = {
        (5, 5): "Champions",
        (5, 4): "Champions",
        (4, 5): "Loyal Customers",
        (1, 5): "Can't Lose Them",
        (2, 3): "At Risk",
        (1, 1): "Lost",
        (2, 2): "Hibernating",
        (3, 3): "Need Attention",
        (3, 1): "About to Sleep",
        (4, 2): "Potential Loyalists",
        (5, 1): "New Customers",
        (4, 1): "Promising",
    }
    for (r, f), name in expected.items():
        assert grid[r - 1, f - 1] == name, (r, f)
    assert all(cell is not None for cell in grid.ravel())


def test_the_first_covering_rule_wins() -> None:
    segments = AnalyticsConfig(
        rfm_segments=(
            RfmSegmentRule(name="Recent", recency="4-5", frequency="1-5"),
            RfmSegmentRule(name="Frequent", recency="1-5", frequency="5"),
            RfmSegmentRule(name="Rest", recency="1-5", frequency="1-5"),
        )
    ).rfm_segments
    grid = segment_grid(segments)
    assert grid[4, 4] == "Recent"
    assert grid[0, 4] == "Frequent"
    assert grid[0, 0] == "Rest"


def test_scores_on_many_customers() -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    features = _features(
        [
            (f"C{i:05d}", int(r), int(f), float(m))
            for i, (r, f, m) in enumerate(
                zip(
                    rng.integers(0, 730, n),
                    1 + rng.geometric(0.55, n) - 1,  # mostly one-time buyers
                    rng.lognormal(4, 1, n).round(2),
                    strict=True,
                )
            )
        ]
    )
    rfm = rfm_scores(features, SEGMENTS)
    assert len(rfm) == n
    for column in ("r_score", "f_score", "m_score"):
        assert rfm[column].between(1, 5).all()
    # equal values, equal scores
    assert (rfm.groupby("frequency")["f_score"].nunique() == 1).all()
    assert (rfm.groupby("recency_days")["r_score"].nunique() == 1).all()
    assert (rfm.loc[rfm["frequency"] == 1, "f_score"] == 1).all()
    # a continuous value splits into five near-equal quintiles
    assert rfm["m_score"].value_counts(normalize=True).between(0.19, 0.21).all()
    assert rfm["rfm_segment"].notna().all()
    summary = segment_summary(rfm)
    assert summary["customers"].sum() == n
    assert summary["share"].sum() == pytest.approx(1.0)
    assert summary["revenue_share"].sum() == pytest.approx(1.0)


def test_no_buyers_gives_empty_results() -> None:
    features = _features([("A", None, 0, 0.0)])
    rfm = rfm_scores(features, SEGMENTS)
    assert rfm.empty and list(rfm.columns) == list(RFM_DTYPES)
    assert segment_summary(rfm).empty
    assert rfm_grid_plot(rfm, SEGMENTS).startswith("![R x F](data:image/png;base64,")


def test_grid_plot_is_a_markdown_png() -> None:
    features = _features([(f"C{i}", i, 1 + i % 4, 10.0 * i) for i in range(20)])
    rfm = rfm_scores(features, SEGMENTS)
    for plot in (rfm_grid_plot(rfm), rfm_grid_plot(rfm, SEGMENTS)):
        prefix = "![R x F](data:image/png;base64,"
        assert plot.startswith(prefix) and plot.endswith(")")
        assert base64.b64decode(plot[len(prefix) : -1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_rfm_reads_a_typed_feature_frame() -> None:
    raw = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "as_of": ["2025-03-31", "2025-03-31"],
            "recency_days": [3, None],
            "frequency": [2, None],  # a null count is 0
            "monetary": [10.0, None],
        }
    )
    raw = raw.reindex(columns=list(FEATURE_DTYPES)).astype("object")
    rfm = rfm_scores(type_features(raw), SEGMENTS)
    assert rfm["customer_id"].tolist() == ["A"]
    assert rfm["rfm_score"].tolist() == ["111"]


def test_empty_scores_are_explained_by_the_tie_that_skips_them() -> None:
    # Ten customers, six with one order: F = 1 for them, two-order customers jump to F = 4,
    # so F = 2 and 3 are empty; recency and spend are all distinct, so nothing is skipped.
    rows = [(f"C{i}", i, f, 10.0 + i) for i, f in enumerate([1, 1, 1, 1, 1, 1, 2, 2, 3, 5])]
    scores = rfm_scores(_features(rows), SEGMENTS)
    assert sorted(set(scores["f_score"])) == [1, 4, 5]
    note = empty_scores_note(scores)
    assert note.startswith("F = 2, 3 has no customers: 60% of customers share the same orders")
    assert "R =" not in note and "M =" not in note
    distinct = rfm_scores(_features([(f"C{i}", i, i + 1, 10.0 + i) for i in range(10)]), SEGMENTS)
    assert empty_scores_note(distinct) == ""

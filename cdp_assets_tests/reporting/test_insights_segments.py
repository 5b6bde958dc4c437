"""RFM movement since a month earlier: the matrix and per-segment changes on hand-made
segment frames, and the month-earlier segments recomputed from the warehouse."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cdp_assets.analytics.features import customer_features, existing_core_tables
from cdp_assets.analytics.rfm import rfm_scores
from cdp_assets.config import AnalyticsConfig
from cdp_assets.reporting.insights import segments
from cdp_assets.reporting.insights.segments import (
    NO_LONGER,
    NOT_YET_BUYER,
    month_earlier,
    movement_matrix,
    segment_changes,
)
from cdp_assets.warehouse import TableRef
from cdp_assets_tests.analytics.warehouse_fixtures import orders, profiles, write_core

RULES = AnalyticsConfig().rfm_segments


def _segments(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["customer_id", "rfm_segment"]).astype("string")


BEFORE = _segments([("c1", "Champions"), ("c2", "Loyal"), ("c3", "At Risk"), ("c4", "Lost")])
NOW = _segments([("c1", "Champions"), ("c2", "Champions"), ("c3", "Lost"), ("c5", "New")])


def test_movement_matrix_counts_each_move() -> None:
    matrix = movement_matrix(BEFORE, NOW)
    moves = {(a, b): int(v) for (a, b), v in matrix.stack().items() if v}
    assert moves == {
        ("Champions", "Champions"): 1,
        ("Loyal", "Champions"): 1,
        ("At Risk", "Lost"): 1,
        ("Lost", NO_LONGER): 1,
        (NOT_YET_BUYER, "New"): 1,
    }


def test_segment_changes_per_segment() -> None:
    changes = segment_changes(movement_matrix(BEFORE, NOW)).set_index("segment")
    assert changes.loc["Champions"].tolist() == [2, 1, 1, 1, 0]  # now, before, stayed, in, left
    assert changes.loc["Lost"].tolist() == [1, 1, 0, 1, 1]
    assert changes.loc["Loyal"].tolist() == [0, 1, 0, 0, 1]
    assert changes.loc["New"].tolist() == [1, 0, 0, 1, 0]
    assert list(changes.index[:1]) == ["Champions"]  # largest now first
    assert int(changes["now"].sum()) == len(NOW) and int(changes["before"].sum()) == len(BEFORE)


def test_month_earlier_keeps_the_day_or_the_month_end() -> None:
    assert month_earlier(dt.date(2025, 3, 31)) == dt.date(2025, 2, 28)
    assert month_earlier(dt.date(2025, 1, 15)) == dt.date(2024, 12, 15)


def test_section_recomputes_segments_a_month_earlier(warehouse_url: str) -> None:
    """Three buyers now; a month earlier only two had bought: the third comes from 'not a
    buyer yet', and the earlier segments are those the domain code gives on that day."""
    rows = [
        ("A", "A1", "2025-01-05 10:00", 100.0),
        ("A", "A2", "2025-02-20 10:00", 80.0),
        ("B", "B1", "2024-11-01 10:00", 30.0),
        ("C", "C1", "2025-03-10 10:00", 60.0),
    ]
    warehouse = write_core(
        warehouse_url, orders=orders(rows), customer_profiles=profiles("A", "B", "C")
    )
    as_of = dt.date(2025, 3, 15)
    with warehouse.transaction() as session:
        tables = existing_core_tables(session)
        now = rfm_scores(customer_features(session, as_of, tables=tables), RULES)
        session.replace_table(TableRef("analytics", "rfm"), now)
        before = rfm_scores(customer_features(session, dt.date(2025, 2, 15), tables=tables), RULES)
        section = segments.build(session, RULES, 24.0, tables)
    assert set(before["customer_id"]) == {"A", "B"}
    assert section.status == "rendered"
    assert section.figures == {"segments": now["rfm_segment"].nunique(), "buyers": 3}
    assert f"{NOT_YET_BUYER}" in section.body  # C's move is among the largest moves
    assert "2025-02-15" in section.sentence


def test_no_rfm_table_says_so(warehouse_url: str) -> None:
    warehouse = write_core(warehouse_url, customer_profiles=profiles("A"))
    with warehouse.transaction() as session:
        section = segments.build(session, RULES, 24.0, set())
    assert section.status == "missing" and "analytics.rfm" in section.sentence

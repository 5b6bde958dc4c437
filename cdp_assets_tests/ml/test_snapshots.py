"""Point-in-time training snapshots: cutoffs, labels, and no leakage from after a cutoff."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import ChurnConfig
from cdp_assets.ml.snapshots import (
    CHURN_FEATURES,
    LEAD_FEATURES,
    churn_labels,
    config_cutoffs,
    cutoff_dates,
    lead_labels,
    model_matrix,
    split_holdout,
    training_snapshots,
)
from cdp_assets_tests.analytics.warehouse_fixtures import events, orders, profiles, ts, write_core

CUTOFF = dt.date(2025, 2, 28)  # features: facts before 2025-03-01 00:00 UTC
HORIZON = 30  # labels: purchases in [2025-03-01, 2025-03-31) UTC
BASE_ORDERS = [
    ("A", "A1", "2025-01-10 10:00", 50.0),
    ("B", "B1", "2025-01-20 10:00", 40.0),
    ("B", "B2", "2025-03-05 10:00", 40.0),  # in B's label window
    ("D", "D1", "2025-02-28 23:59", 10.0),  # last minute before the cutoff: a feature
    ("E", "E1", "2025-01-02 10:00", 10.0),
    ("E", "E2", "2025-03-31 00:00", 10.0),  # the window's end: not in it
    ("F", "F1", "2025-01-02 10:00", 10.0),
    ("F", "F2", "2025-03-15 10:00", 10.0, "cancelled"),  # not a purchase
    ("L1", "L1a", "2025-03-10 10:00", 25.0),  # lead L1's first order, in the window
    ("L3", "L3a", "2025-03-20 10:00", 25.0),  # L3 was first seen after the cutoff
]
FIRST_SEEN = {
    "A": "2024-12-01 00:00",
    "B": "2024-12-01 00:00",
    "C": "2024-12-01 00:00",
    "D": "2025-02-28 23:59",
    "E": "2024-12-01 00:00",
    "F": "2024-12-01 00:00",
    "L1": "2025-01-05 00:00",
    "L2": "2025-01-05 00:00",
    "L3": "2025-03-05 00:00",
}


def _profiles() -> pd.DataFrame:
    frame = profiles(*FIRST_SEEN)
    frame["first_seen"] = pd.to_datetime([ts(v) for v in FIRST_SEEN.values()], utc=True)
    return frame


def _snapshots(url: str, order_rows: list[tuple], label_fn, cutoffs=(CUTOFF,)) -> pd.DataFrame:
    warehouse = write_core(
        url,
        customer_profiles=_profiles(),
        orders=orders(order_rows),
        events=events([("L1", "s1", "add_to_cart", "2025-02-20 10:00")]),
    )
    with warehouse.transaction() as session:
        return training_snapshots(session, list(cutoffs), label_fn)


def test_the_latest_cutoff_leaves_a_complete_label_window() -> None:
    cutoffs = cutoff_dates(dt.date(2026, 11, 20), horizon_days=90, n=4, spacing_days=60)
    assert cutoffs == [
        dt.date(2026, 1, 24),
        dt.date(2026, 3, 25),
        dt.date(2026, 5, 24),
        dt.date(2026, 8, 22),  # 2026-11-20 - 90 days: its window ends with as_of
    ]
    # every training label window closes by the holdout cutoff
    assert cutoffs[-2] + dt.timedelta(days=90) <= cutoffs[-1]


def test_cutoffs_without_a_gap_are_evenly_spaced() -> None:
    cutoffs = cutoff_dates(dt.date(2026, 11, 20), 90, 3, 60, holdout_gap_days=0)
    assert cutoffs == [dt.date(2026, 4, 24), dt.date(2026, 6, 23), dt.date(2026, 8, 22)]
    assert cutoff_dates(dt.date(2026, 11, 20), 90, 1, 60) == [dt.date(2026, 8, 22)]
    with pytest.raises(ValueError):
        cutoff_dates(dt.date(2026, 11, 20), 90, 0, 60)


def test_config_cutoffs_are_the_training_cutoffs_plus_the_holdout() -> None:
    cutoffs = config_cutoffs(dt.date(2026, 11, 20), ChurnConfig())
    assert len(cutoffs) == ChurnConfig().training_cutoffs + 1
    assert cutoffs[-1] == dt.date(2026, 8, 22)


def test_churn_labels_read_only_the_window_after_the_cutoff(warehouse_url: str) -> None:
    snapshots = _snapshots(warehouse_url, BASE_ORDERS, churn_labels(HORIZON))
    labels = snapshots.set_index("customer_id")["label"].to_dict()
    # population: customers with a purchase by the cutoff (C never bought, L1 only after)
    assert labels == {"A": 1, "B": 0, "D": 1, "E": 1, "F": 1}
    assert set(snapshots["cutoff"]) == {CUTOFF}
    d = snapshots.set_index("customer_id").loc["D"]
    assert d["frequency"] == 1 and d["recency_days"] == 0


def test_a_purchase_after_the_cutoff_changes_the_label_not_the_features(
    warehouse_url: str,
) -> None:
    before = _snapshots(warehouse_url, BASE_ORDERS, churn_labels(HORIZON))
    later = [*BASE_ORDERS, ("A", "A2", "2025-03-01 00:00", 999.0)]  # the cutoff instant
    after = _snapshots(warehouse_url, later, churn_labels(HORIZON))
    a_before = before.set_index("customer_id").loc["A"]
    a_after = after.set_index("customer_id").loc["A"]
    assert (a_before["label"], a_after["label"]) == (1, 0)
    columns = [c for c in before.columns if c != "label"]
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_lead_labels_take_known_non_buyers_only(warehouse_url: str) -> None:
    snapshots = _snapshots(warehouse_url, BASE_ORDERS, lead_labels(HORIZON))
    by_id = snapshots.set_index("customer_id")
    # C, L1, L2 were known and had bought nothing; L3 was first seen after the cutoff
    assert by_id["label"].to_dict() == {"C": 0, "L1": 1, "L2": 0}
    assert by_id.loc["L1", "days_known"] == pytest.approx(55.0)  # 2025-01-05 -> 03-01
    assert by_id.loc["L1", "add_to_carts_30d"] == 1
    # L1's first order comes after the cutoff: it is the label, never a feature
    assert by_id.loc["L1", "frequency"] == 0


def test_snapshots_stack_cutoffs_and_split_off_the_latest(warehouse_url: str) -> None:
    cutoffs = (dt.date(2025, 1, 31), CUTOFF)
    snapshots = _snapshots(warehouse_url, BASE_ORDERS, churn_labels(HORIZON), cutoffs)
    assert snapshots.attrs["cutoffs"] == list(cutoffs)
    train, holdout = split_holdout(snapshots)
    assert set(train["cutoff"]) == {dt.date(2025, 1, 31)}
    assert set(holdout["cutoff"]) == {CUTOFF}
    # at the earlier cutoff, A, B, E and F had bought; B's next purchase (03-05) is after
    # the 30-day window
    assert train.set_index("customer_id")["label"].to_dict() == {"A": 1, "B": 1, "E": 1, "F": 1}


def test_an_empty_holdout_is_not_mistaken_for_an_earlier_cutoff() -> None:
    frame = pd.DataFrame({"cutoff": [dt.date(2025, 1, 1)], "customer_id": ["A"], "label": [1]})
    frame.attrs["cutoffs"] = [dt.date(2025, 1, 1), dt.date(2025, 3, 1)]
    train, holdout = split_holdout(frame)
    assert len(train) == 1 and len(holdout) == 0


def test_model_matrix_turns_nullable_columns_into_floats() -> None:
    frame = pd.DataFrame(
        {
            "recency_days": pd.array([3, None], dtype="Int64"),
            "email_consent": pd.array([True, None], dtype="boolean"),
            "monetary": [1.5, np.nan],
        }
    )
    matrix = model_matrix(frame, ["recency_days", "email_consent", "monetary", "absent"])
    expected = np.array([[3.0, 1.0, 1.5, np.nan], [np.nan, np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(matrix, expected)


def test_model_features_are_point_in_time_columns() -> None:
    profile_fields = {"loyalty_tier", "loyalty_points", "email_consent", "sms_consent"}
    assert not profile_fields & set(CHURN_FEATURES)
    assert not profile_fields & set(LEAD_FEATURES)
    assert "recency_days" not in LEAD_FEATURES  # no lead has a purchase


def test_row_order_does_not_depend_on_how_customers_are_numbered(tmp_path) -> None:
    # A warehouse holding later data numbers the same people differently: the snapshots (and
    # so anything fitted on them in order) must come out the same apart from the ids.
    renamed = {c: f"Z{99 - i:02d}" for i, c in enumerate(FIRST_SEEN)}  # reverses the id order
    frames = []
    for name, rename in (("ids", lambda c: c), ("renamed", renamed.get)):
        seen = profiles(*(rename(c) for c in FIRST_SEEN))
        seen["first_seen"] = pd.to_datetime([ts(v) for v in FIRST_SEEN.values()], utc=True)
        warehouse = write_core(
            f"duckdb:///{tmp_path / name}.duckdb",
            customer_profiles=seen,
            orders=orders([(rename(r[0]), *r[1:]) for r in BASE_ORDERS]),
            events=events([(rename("L1"), "s1", "add_to_cart", "2025-02-20 10:00")]),
        )
        with warehouse.transaction() as session:
            frames.append(training_snapshots(session, [CUTOFF], churn_labels(HORIZON)))
    original, other = frames
    assert len(original) >= 5
    # Rows whose content is the same (E and F here) may swap: they are the same training row.
    assert sorted(other["customer_id"]) == sorted(original["customer_id"].map(renamed))
    pd.testing.assert_frame_equal(
        original.drop(columns="customer_id"), other.drop(columns="customer_id")
    )

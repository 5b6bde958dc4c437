"""Uplift training examples: outcomes in each customer's window, features as of assignment."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cdp_assets.ml.uplift_examples import campaign_outcomes, feature_day, uplift_examples

OPENS = pd.Timestamp("2026-09-02 04:00", tz="UTC")  # the run of 2026-09-01, New York


def test_outcomes_count_purchases_inside_each_window_only() -> None:
    assignments = pd.DataFrame(
        {
            "campaign": ["a", "a", "a", "b", "c"],
            "customer_id": ["x", "y", "z", "x", "x"],
            "arm": ["offer", "control", "offer", "offer", "offer"],
            "assigned_at": [OPENS, OPENS, OPENS, OPENS + pd.Timedelta(days=40), OPENS],
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["x", "x", "x", "y", "y", "z"],
            "ordered_at": pd.to_datetime(
                [
                    "2026-09-03 10:00",  # x: inside a's window
                    "2026-09-20 10:00",  # x: inside too (window 21 days)
                    "2026-09-01 10:00",  # x: before the assignment
                    "2026-09-23 04:00",  # y: the first instant after the window
                    "2026-09-05 10:00",  # y: inside, but not a purchase
                    "2026-09-10 10:00",  # z: inside
                ],
                utc=True,
            ),
            "net_amount_base": [10.0, 5.5, 99.0, 20.0, 30.0, 7.0],
            "is_purchase": [True, True, True, True, False, True],
        }
    )
    out = campaign_outcomes(assignments, orders, {"a": 21, "b": 14}, dt.date(2026, 9, 30))
    # b's window (from 2026-10-12) has not closed by 2026-09-30; c is not a measured campaign.
    assert out["campaign"].tolist() == ["a", "a", "a"]
    by_customer = out.set_index("customer_id")
    assert by_customer["converted"].to_dict() == {"x": True, "y": False, "z": True}
    assert by_customer["revenue"].to_dict() == {"x": 15.5, "y": 0.0, "z": 7.0}


def test_examples_take_the_features_of_the_assignment_run() -> None:
    assert feature_day(pd.Series([OPENS]), "America/New_York").tolist() == [dt.date(2026, 9, 1)]
    outcomes = pd.DataFrame(
        {
            "campaign": ["a", "a", "a"],
            "customer_id": ["x", "y", "new"],
            "arm": ["offer", "control", "offer"],
            "assigned_at": [OPENS] * 3,
            "converted": [True, False, True],
            "revenue": [10.0, 0.0, 4.0],
        }
    )
    features = {
        dt.date(2026, 9, 1): pd.DataFrame({"customer_id": ["x", "y"], "frequency": [3, 1]}),
        dt.date(2026, 9, 2): pd.DataFrame({"customer_id": ["x", "y", "new"], "frequency": [9] * 3}),
    }
    examples = uplift_examples(outcomes, features, "America/New_York")
    assert examples["customer_id"].tolist() == ["x", "y"]  # "new" was not known on 2026-09-01
    assert examples["frequency"].tolist() == [3, 1]
    assert uplift_examples(outcomes, {}, "UTC").empty

"""analytics.cohorts: cohort figures and acquisition comparisons against hand computations."""

from __future__ import annotations

import base64
import datetime as dt

import pandas as pd
import pytest

from cdp_assets.analytics.cohorts import (
    COHORT_DTYPES,
    COMPARISON_DTYPES,
    acquisition_comparison,
    black_friday_weekend,
    cohorts,
    customer_acquisition,
    holiday_acquired,
    retention_heatmap,
)
from cdp_assets.config import AnalyticsConfig, HolidayWindow
from cdp_assets.warehouse import Warehouse
from cdp_assets_tests.analytics.warehouse_fixtures import orders, profiles, write_core

COHORT_ORDERS = orders(
    [
        ("A", "A1", "2025-01-05 10:00", 100.0),
        ("A", "A2", "2025-01-20 10:00", 50.0),
        ("A", "A3", "2025-02-10 10:00", 30.0),
        ("A", "A4", "2025-03-01 10:00", 20.0),
        ("B", "B1", "2025-01-25 10:00", 200.0),
        ("B", "B2", "2025-03-10 10:00", 40.0),
        ("C", "C1", "2025-02-14 10:00", 80.0),
        ("C", "C2", "2025-02-20 10:00", 500.0, "cancelled"),
        ("C", "C3", "2025-03-20 10:00", 60.0),  # after as_of
        ("D", "D1", "2024-12-31 23:30", 10.0),
    ]
)
COHORTS_AS_OF = dt.date(2025, 3, 15)


def _cohort_rows(warehouse: Warehouse, as_of: dt.date) -> pd.DataFrame:
    with warehouse.transaction() as session:
        frame = cohorts(session, as_of)
    assert {c: str(t) for c, t in frame.dtypes.items()} == COHORT_DTYPES
    return frame


def test_cohorts_match_hand_computation(warehouse_url: str) -> None:
    warehouse = write_core(warehouse_url, orders=COHORT_ORDERS)
    frame = _cohort_rows(warehouse, COHORTS_AS_OF)
    got = [
        (
            f"{row.cohort_month:%Y-%m}",
            row.months_since_first,
            row.cohort_customers,
            row.active_customers,
            row.retention_rate,
            row.revenue,
            row.cumulative_revenue_per_customer,
        )
        for row in frame.itertuples()
    ]
    assert got == [
        ("2024-12", 0, 1, 1, 1.0, 10.0, 10.0),
        ("2024-12", 1, 1, 0, 0.0, 0.0, 10.0),
        ("2024-12", 2, 1, 0, 0.0, 0.0, 10.0),
        ("2024-12", 3, 1, 0, 0.0, 0.0, 10.0),
        ("2025-01", 0, 2, 2, 1.0, 350.0, 175.0),
        ("2025-01", 1, 2, 1, 0.5, 30.0, 190.0),
        ("2025-01", 2, 2, 2, 1.0, 60.0, 220.0),
        ("2025-02", 0, 1, 1, 1.0, 80.0, 80.0),
        ("2025-02", 1, 1, 0, 0.0, 0.0, 80.0),
    ]
    assert (frame["as_of"] == pd.Timestamp("2025-03-15")).all()


def test_cohorts_earlier_ignore_later_orders(tmp_path) -> None:
    warehouse = write_core(f"duckdb:///{tmp_path}/w.duckdb", orders=COHORT_ORDERS)
    frame = _cohort_rows(warehouse, dt.date(2025, 1, 31))
    january = frame.loc[frame["cohort_month"] == pd.Timestamp("2025-01-01")]
    assert january[["months_since_first", "cohort_customers", "revenue"]].values.tolist() == [
        [0, 2, 350.0]
    ]
    assert frame["cohort_month"].max() == pd.Timestamp("2025-01-01")


def test_no_orders_table_gives_no_cohorts(tmp_path) -> None:
    warehouse = write_core(f"duckdb:///{tmp_path}/w.duckdb", customer_profiles=profiles("A"))
    frame = _cohort_rows(warehouse, COHORTS_AS_OF)
    assert frame.empty
    assert retention_heatmap(frame).startswith("_no purchases")


def test_retention_heatmap_is_a_markdown_png(tmp_path) -> None:
    warehouse = write_core(f"duckdb:///{tmp_path}/w.duckdb", orders=COHORT_ORDERS)
    plot = retention_heatmap(_cohort_rows(warehouse, COHORTS_AS_OF))
    prefix = "![retention heatmap](data:image/png;base64,"
    assert plot.startswith(prefix)
    assert base64.b64decode(plot[len(prefix) : -1])[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("year", "friday", "monday"),
    [
        (2024, dt.date(2024, 11, 29), dt.date(2024, 12, 2)),
        (2025, dt.date(2025, 11, 28), dt.date(2025, 12, 1)),
        (2026, dt.date(2026, 11, 27), dt.date(2026, 11, 30)),
    ],
)
def test_black_friday_weekend(year: int, friday: dt.date, monday: dt.date) -> None:
    assert black_friday_weekend(year) == (friday, monday)


def _instants(*texts: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts), utc=True))


def test_black_friday_window_boundaries() -> None:
    window = (HolidayWindow(name="BFCM", black_friday=True),)
    first = _instants(
        "2024-11-28 23:59",
        "2024-11-29 00:00",
        "2024-12-02 23:59",
        "2024-12-03 00:00",
        "2025-11-27 12:00",
        "2025-11-28 12:00",
        "2025-12-01 12:00",
        "2025-12-02 00:00",
        None,
    )
    assert holiday_acquired(first, window).tolist() == [
        False,
        True,
        True,
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    # 03:00 UTC on Black Friday is still Thanksgiving evening in New York
    assert holiday_acquired(_instants("2024-11-29 03:00"), window, "America/New_York").tolist() == [
        False
    ]


def test_month_day_windows_including_one_across_new_year() -> None:
    windows = (
        HolidayWindow(name="11.11", start="11-11", end="11-11"),
        HolidayWindow(name="Winter", start="12-20", end="01-06"),
    )
    first = _instants(
        "2025-11-11 08:00",
        "2025-11-12 08:00",
        "2025-12-24 08:00",
        "2026-01-03 08:00",
        "2026-01-07 08:00",
    )
    assert holiday_acquired(first, windows).tolist() == [True, False, True, True, False]


ACQUISITION_ORDERS = orders(
    [
        ("P", "P1", "2024-11-29 10:00", 100.0),  # Black Friday 2024
        ("P", "P2", "2024-12-05 10:00", 50.0),  # 6 days later
        ("P", "P3", "2025-03-01 10:00", 70.0),  # outside both horizons
        ("Q", "Q1", "2025-11-11 12:00", 40.0),  # 11.11
        ("R", "R1", "2025-06-01 10:00", 60.0),  # no holiday, no profile
        ("R", "R2", "2025-07-15 10:00", 30.0),  # 44 days later
        ("S", "S1", "2025-12-28 10:00", 20.0),  # December, too recent for any horizon
        ("S", "S2", "2026-01-02 10:00", 20.0),  # after as_of
    ]
)


def test_acquisition_comparison_matches_hand_computation(warehouse_url: str) -> None:
    warehouse = write_core(
        warehouse_url,
        orders=ACQUISITION_ORDERS,
        customer_profiles=profiles(
            {"customer_id": "P", "loyalty_id": "L1"}, "Q", {"customer_id": "S", "loyalty_id": "L2"}
        ),
    )
    as_of, horizons = dt.date(2025, 12, 31), (10, 60)
    with warehouse.transaction() as session:
        acquisition = customer_acquisition(session, as_of, horizons)
    assert acquisition["customer_id"].tolist() == ["P", "Q", "R", "S"]
    assert acquisition["value_60d"].tolist() == [150.0, 40.0, 90.0, 20.0]
    assert acquisition["purchases_10d"].tolist() == [2, 1, 1, 1]
    assert acquisition["is_loyalty_member"].tolist() == [True, False, False, True]

    comparison = acquisition_comparison(
        acquisition, as_of, AnalyticsConfig().holiday_windows, horizons
    )
    assert {c: str(t) for c, t in comparison.dtypes.items()} == COMPARISON_DTYPES
    got = {
        (row.comparison, row.group, row.horizon_days): (
            row.customers,
            row.mean_value,
            row.repeat_rate,
        )
        for row in comparison.itertuples()
    }
    assert got == {
        ("holiday_acquisition", "holiday-acquired", 10): (2, 95.0, 0.5),  # P and Q
        ("holiday_acquisition", "other", 10): (1, 60.0, 0.0),  # R
        ("holiday_acquisition", "holiday-acquired", 60): (1, 150.0, 1.0),  # P (Q too recent)
        ("holiday_acquisition", "other", 60): (1, 90.0, 1.0),  # R
        ("loyalty", "loyalty member", 10): (1, 150.0, 1.0),  # P (S too recent)
        ("loyalty", "non-member", 10): (2, 50.0, 0.0),  # Q and R
        ("loyalty", "loyalty member", 60): (1, 150.0, 1.0),
        ("loyalty", "non-member", 60): (1, 90.0, 1.0),
    }


def test_acquisition_comparison_without_buyers(tmp_path) -> None:
    warehouse = write_core(f"duckdb:///{tmp_path}/w.duckdb", customer_profiles=profiles("A"))
    with warehouse.transaction() as session:
        acquisition = customer_acquisition(session, dt.date(2025, 12, 31), (60,))
    assert acquisition.empty
    comparison = acquisition_comparison(
        acquisition, dt.date(2025, 12, 31), AnalyticsConfig().holiday_windows, (60,)
    )
    assert comparison["customers"].tolist() == [0, 0, 0, 0]
    assert comparison["mean_value"].isna().all()


def test_horizons_must_be_positive() -> None:
    with pytest.raises(ValueError, match="horizons"):
        acquisition_comparison(pd.DataFrame(), dt.date(2025, 1, 1), (), (0,))

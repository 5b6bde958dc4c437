"""analytics.customer_features on hand-built core tables, against hand computations."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from cdp_assets.analytics.features import (
    customer_features,
    customer_features_sql,
    known_profiles,
)
from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.warehouse import Warehouse
from cdp_assets_tests.analytics.warehouse_fixtures import (
    events,
    items,
    orders,
    profiles,
    surveys,
    tickets,
    write_core,
)

AS_OF = dt.date(2025, 3, 31)  # cutoff: 2025-04-01 00:00 UTC
EARLIER = dt.date(2025, 2, 15)  # cutoff: 2025-02-16 00:00 UTC

ORDERS = orders(
    [
        ("A", "A1", "2025-01-01 10:00", 100.0, "completed", "web"),
        ("A", "A2", "2025-02-01 10:00", 50.0, "partially_refunded", "app"),
        ("A", "A3", "2025-03-21 10:00", 30.0, "completed", "store"),
        ("A", "A4", "2025-03-25 12:00", 80.0, "cancelled", "web"),
        ("A", "A5", "2025-04-05 10:00", 999.0, "completed", "web"),  # after as_of
        ("B", "B1", "2025-03-31 23:30", 40.0, "completed", "web"),
        ("B", "B2", "2025-04-01 00:00", 70.0, "completed", "web"),  # exactly the cutoff
        ("C", "C1", "2025-02-10 09:00", 60.0, "refunded", "web"),
        (None, "X1", "2025-01-05 09:00", 500.0, "completed", "web"),  # unresolved customer
        ("Z", "Z1", "2025-01-05 09:00", 500.0, "completed", "web"),  # not a profile
    ]
)
ITEMS = items(
    ORDERS,
    [
        ("A1", "shoes", 2),
        ("A1", "bags", 1),
        ("A2", "bags", 1),
        ("A3", "shoes", 1),
        ("A4", "bags", 5),  # cancelled
        ("A5", "bags", 10),  # after as_of
    ],
)
EVENTS = events(
    [
        ("A", "s1", "product_view", "2025-03-30 10:00"),
        ("A", "s1", "add_to_cart", "2025-03-30 10:05"),
        ("A", "s1", "add_to_cart", "2025-03-30 10:10"),  # s1 abandoned
        ("A", "s2", "product_view", "2025-03-10 09:00"),
        ("A", "s2", "add_to_cart", "2025-03-10 09:05"),
        ("A", "s2", "purchase", "2025-03-10 09:20"),  # s2 bought
        ("A", "s3", "add_to_cart", "2025-01-15 12:00"),  # abandoned, 90 days only
        ("A", "s4", "product_view", "2025-04-02 10:00"),  # after as_of
        ("A", "s4", "add_to_cart", "2025-04-02 10:05"),
        ("A", "s5", "product_view", "2024-11-01 10:00"),  # older than 90 days
        ("B", None, "product_view", "2025-03-31 08:00"),  # no session
        ("C", "s6", "add_to_cart", "2025-03-31 22:00"),
        ("C", "s6", "purchase", "2025-04-01 00:30"),  # bought, but after as_of
        (None, "s7", "add_to_cart", "2025-03-31 10:00"),  # anonymous
    ]
)
TICKETS = tickets(
    [
        ("A", "2025-03-01 10:00", "2025-03-01 20:00"),  # 10 h
        ("A", "2025-03-28 10:00", "2025-03-30 10:00"),  # 48 h: breach
        ("A", "2025-03-31 12:00", None),  # open 12 h at the cutoff
        ("A", "2025-03-29 00:00", "2025-04-03 00:00"),  # open 72 h at the cutoff: breach
        ("A", "2024-06-01 10:00", "2024-06-01 12:00"),  # old
        ("A", "2025-04-02 10:00", None),  # after as_of
    ]
)
SURVEYS = surveys(
    [
        ("A", "2025-02-01 12:00", 9, 4),
        ("A", "2025-03-15 12:00", 3, None),
        ("A", "2025-04-02 12:00", 10, 5),  # after as_of
    ]
)
PROFILES = profiles(
    {
        "customer_id": "A",
        "loyalty_id": "L1",
        "loyalty_tier": "gold",
        "loyalty_points": 500,
        "email_consent": True,
    },
    {"customer_id": "B", "sms_consent": True, "country": "DE"},
    {"customer_id": "C", "loyalty_id": "L3", "loyalty_tier": "silver", "loyalty_points": 0},
    {"customer_id": "D", "ads_consent": False},
)


@pytest.fixture
def warehouse(warehouse_url: str) -> Warehouse:
    return write_core(
        warehouse_url,
        customer_profiles=PROFILES,
        orders=ORDERS,
        order_items=ITEMS,
        events=EVENTS,
        support_tickets=TICKETS,
        survey_responses=SURVEYS,
    )


def _features(warehouse: Warehouse, as_of: dt.date, **kwargs) -> dict[str, dict]:
    with warehouse.transaction() as session:
        df = customer_features(session, as_of, sla_hours=24.0, **kwargs)
    assert {c: str(t) for c, t in df.dtypes.items()} == FEATURE_DTYPES
    return {row["customer_id"]: row for row in df.to_dict("records")}


def _check(row: dict, expected: dict) -> None:
    for column, value in expected.items():
        actual = row[column]
        if value is None:
            assert actual is None or pd.isna(actual), f"{column}: {actual!r} is not null"
        elif isinstance(value, float):
            assert actual == pytest.approx(value, abs=1e-9), column
        else:
            assert actual == value, f"{column}: {actual!r} != {value!r}"


def test_features_as_of_match_hand_computation(warehouse: Warehouse) -> None:
    rows = _features(warehouse, AS_OF)
    assert list(rows) == ["A", "B", "C", "D"]
    for row in rows.values():
        assert row["as_of"] == pd.Timestamp("2025-03-31")
    _check(
        rows["A"],
        {
            "first_order_at": pd.Timestamp("2025-01-01 10:00", tz="UTC"),
            "last_order_at": pd.Timestamp("2025-03-21 10:00", tz="UTC"),
            "recency_days": 10,
            "recency_weeks": 1,
            "frequency": 3,
            "monetary": 180.0,
            "average_order_value": 60.0,
            "tenure_days": 89,
            "tenure_months": 2,
            "mean_days_between_orders": 39.5,  # gaps of 31 and 48 days
            "std_days_between_orders": 17 / math.sqrt(2),
            "cancelled_orders": 1,
            "top_category": "shoes",  # 3 units against 2 of bags
            "category_count": 2,
            "top_category_share": 0.6,
            "web_orders": 1,
            "app_orders": 1,
            "store_orders": 1,
            "store_share": 1 / 3,
            "sessions_30d": 2,
            "sessions_90d": 3,
            "product_views_30d": 2,
            "product_views_90d": 2,
            "add_to_carts_30d": 3,
            "add_to_carts_90d": 4,
            "abandoned_carts_30d": 1,
            "abandoned_carts_90d": 2,
            "hours_since_abandoned_cart": 37 + 50 / 60,  # 2025-03-30 10:10 to the cutoff
            "tickets_90d": 4,
            "tickets_total": 5,
            "unresolved_tickets": 2,
            "sla_breaches": 2,
            "latest_nps": 3,
            "latest_csat": 4,
            "loyalty_tier": "gold",
            "loyalty_points": 500,
            "is_loyalty_member": True,
            "email_consent": True,
            "sms_consent": False,
            "ads_consent": True,
            "country": "US",
        },
    )
    _check(
        rows["B"],
        {
            "recency_days": 0,
            "recency_weeks": 0,
            "tenure_days": 0,
            "tenure_months": 0,
            "frequency": 1,  # the order at exactly the cutoff does not count
            "monetary": 40.0,
            "average_order_value": 40.0,
            "mean_days_between_orders": None,
            "std_days_between_orders": None,
            "top_category": None,
            "category_count": 0,
            "top_category_share": None,
            "store_share": 0.0,
            "sessions_30d": 0,  # an event without a session is no session
            "product_views_30d": 1,
            "hours_since_abandoned_cart": None,
            "tickets_total": 0,
            "latest_nps": None,
            "is_loyalty_member": False,
            "sms_consent": True,
            "country": "DE",
        },
    )
    _check(
        rows["C"],
        {
            "first_order_at": None,
            "recency_days": None,
            "recency_weeks": None,
            "tenure_days": None,
            "tenure_months": None,
            "frequency": 0,
            "monetary": 0.0,
            "average_order_value": None,
            "cancelled_orders": 1,
            "store_share": None,
            "sessions_30d": 1,
            "add_to_carts_30d": 1,
            "abandoned_carts_30d": 1,  # the purchase came after the cutoff
            "hours_since_abandoned_cart": 2.0,
            "loyalty_points": 0,
            "is_loyalty_member": True,
        },
    )
    _check(
        rows["D"],
        {
            "frequency": 0,
            "monetary": 0.0,
            "recency_days": None,
            "sessions_90d": 0,
            "tickets_total": 0,
            "sla_breaches": 0,
            "loyalty_tier": None,
            "loyalty_points": None,
            "is_loyalty_member": False,
            "ads_consent": False,
        },
    )


def test_moving_as_of_back_ignores_later_facts(warehouse: Warehouse) -> None:
    rows = _features(warehouse, EARLIER)
    assert rows["A"]["as_of"] == pd.Timestamp("2025-02-15")
    _check(
        rows["A"],
        {
            "last_order_at": pd.Timestamp("2025-02-01 10:00", tz="UTC"),
            "recency_days": 14,
            "recency_weeks": 2,  # exactly two weeks
            "frequency": 2,
            "monetary": 150.0,
            "average_order_value": 75.0,
            "tenure_days": 45,
            "tenure_months": 1,
            "mean_days_between_orders": 31.0,
            "std_days_between_orders": None,  # one gap has no spread
            "cancelled_orders": 0,
            "top_category": "bags",  # 2 units each: the tie goes to the first name
            "top_category_share": 0.5,
            "store_orders": 0,
            "store_share": 0.0,
            "sessions_30d": 0,
            "sessions_90d": 1,
            "add_to_carts_90d": 1,
            "abandoned_carts_30d": 0,
            "abandoned_carts_90d": 1,
            "hours_since_abandoned_cart": 31 * 24 + 12.0,
            "tickets_90d": 0,
            "tickets_total": 1,
            "unresolved_tickets": 0,
            "sla_breaches": 0,
            "latest_nps": 9,
            "latest_csat": 4,
        },
    )
    _check(rows["B"], {"frequency": 0, "recency_days": None, "product_views_30d": 0})
    _check(rows["C"], {"cancelled_orders": 1, "sessions_90d": 0, "abandoned_carts_30d": 0})


def test_a_purchase_after_the_cutoff_closes_the_cart_once_it_counts(
    warehouse: Warehouse,
) -> None:
    rows = _features(warehouse, dt.date(2025, 4, 1))
    _check(rows["C"], {"abandoned_carts_30d": 0, "hours_since_abandoned_cart": None})
    _check(rows["B"], {"frequency": 2, "monetary": 110.0})


def test_sla_hours_is_configurable(warehouse: Warehouse) -> None:
    with warehouse.transaction() as session:
        df = customer_features(session, AS_OF, sla_hours=8.0)
    # every ticket of A open more than 8 hours: 10 h, 48 h, 12 h (open), 72 h (open)
    assert df.set_index("customer_id").loc["A", "sla_breaches"] == 4


def test_orders_only_warehouse(tmp_path) -> None:
    warehouse = write_core(
        f"duckdb:///{tmp_path}/w.duckdb", customer_profiles=PROFILES, orders=ORDERS
    )
    rows = _features(warehouse, AS_OF)
    assert list(rows) == ["A", "B", "C", "D"]
    _check(
        rows["A"],
        {
            "frequency": 3,
            "monetary": 180.0,
            "top_category": None,
            "category_count": 0,
            "sessions_90d": 0,
            "abandoned_carts_90d": 0,
            "hours_since_abandoned_cart": None,
            "tickets_total": 0,
            "latest_nps": None,
            "is_loyalty_member": True,
        },
    )


def test_the_sql_names_no_missing_table() -> None:
    sql = customer_features_sql(AS_OF, "duckdb", 24.0, tables={"customer_profiles", "orders"})
    assert '"core"."orders"' in sql
    for table in ("events", "order_items", "support_tickets", "survey_responses"):
        assert f'"core"."{table}"' not in sql


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        customer_features_sql(AS_OF, "sqlite")


def test_customers_first_seen_after_the_analysis_date_are_left_out(tmp_path) -> None:
    seen = profiles(
        {"customer_id": "A", "first_seen": "2025-01-01 10:00"},
        {"customer_id": "B", "first_seen": "2025-03-31 23:59"},
        {"customer_id": "C", "first_seen": "2025-04-01 00:00"},  # exactly the cutoff: later
        {"customer_id": "D"},  # nothing dated: kept
    )
    warehouse = write_core(f"duckdb:///{tmp_path}/w.duckdb", customer_profiles=seen, orders=ORDERS)
    assert list(_features(warehouse, AS_OF)) == ["A", "B", "D"]
    assert list(_features(warehouse, dt.date(2025, 4, 1))) == ["A", "B", "C", "D"]
    with warehouse.transaction() as session:
        assert known_profiles(session, AS_OF) == 3

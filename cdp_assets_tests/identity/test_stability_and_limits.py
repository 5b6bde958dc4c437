"""Decisions around the identity graph: cluster stability between runs, profiles over the
distinct email / phone limits, and the first/last activity SQL of golden profiles."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from cdp_assets.identity.facts import activity_sql
from cdp_assets.identity.profiles import profiles_over_limits
from cdp_assets.identity.stability import cluster_figures, cluster_stability
from cdp_assets.identity.stable_ids import id_number


def assignments(clusters: dict[str, int], anonymous: int = 0) -> pd.DataFrame:
    rows = [
        (f"record|src|{customer}-{i}", customer)
        for customer, size in clusters.items()
        for i in range(size)
    ]
    rows += [(f"anonymous|cookie-{i}", "c-anon") for i in range(anonymous)]
    return pd.DataFrame(rows, columns=["node_key", "customer_id"]).astype("string")


def test_cluster_figures_count_record_nodes_only() -> None:
    figures = cluster_figures(assignments({"c1": 3, "c2": 1, "c3": 1, "c4": 1}, anonymous=9))
    assert figures == {"largest_cluster_records": 3.0, "singleton_share": 0.75}
    assert cluster_figures(assignments({})) == {}


def test_first_run_is_stable() -> None:
    verdict = cluster_stability({"largest_cluster_records": 50.0, "singleton_share": 0.1}, {}, 0.5)
    assert verdict.stable and verdict.first_run and verdict.figures == {}


@pytest.mark.parametrize(
    ("largest_now", "singletons_now", "stable"),
    [
        (6.0, 0.80, True),  # +50 % largest cluster, singleton share +0.00: at the limit
        (6.1, 0.80, False),  # largest cluster grew by 52.5 %
        (4.0, 0.90, True),  # singleton share moved by 0.10 = 0.5 / 5
        (4.0, 0.91, False),  # ... by 0.11
        (2.0, 0.69, False),  # shrinking clusters are fine, a falling singleton share is not
    ],
)
def test_cluster_stability_against_the_previous_run(
    largest_now: float, singletons_now: float, stable: bool
) -> None:
    before = {"largest_cluster_records": 4.0, "singleton_share": 0.8}
    now = {"largest_cluster_records": largest_now, "singleton_share": singletons_now}
    verdict = cluster_stability(now, before, allowed_growth=0.5)
    assert verdict.stable is stable and not verdict.first_run
    assert verdict.figures["largest_cluster_before"] == 4.0
    assert verdict.figures["largest_cluster_now"] == largest_now


def test_profiles_over_limits_counts_customers_not_records() -> None:
    records = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c", "c", "c"],
            "email_key": ["x", "y", "z", "p", "p", None, None, None],
            "phone": ["+1", "+1", None, "+2", "+3", "+4", "+5", "+6"],
        }
    )
    # a: 3 emails, 1 phone; b: 1 email, 2 phones; c: no email, 3 phones
    assert profiles_over_limits(records, max_emails=3, max_phones=3) == 0
    assert profiles_over_limits(records, max_emails=2, max_phones=3) == 1  # a
    assert profiles_over_limits(records, max_emails=2, max_phones=2) == 2  # a and c
    assert profiles_over_limits(records, max_emails=1, max_phones=1) == 3


def test_activity_sql_spans_every_configured_fact_kind() -> None:
    assert activity_sql(["customers", "order_items"]) is None
    db = duckdb.connect()
    db.execute("CREATE SCHEMA core")
    db.execute(
        "CREATE TABLE core.orders AS SELECT * FROM (VALUES "
        "('c1', TIMESTAMP '2025-03-01'), ('c1', TIMESTAMP '2025-06-01'), "
        "(NULL, TIMESTAMP '2020-01-01')) t(customer_id, ordered_at)"
    )
    db.execute(
        "CREATE TABLE core.events AS SELECT * FROM (VALUES "
        "('c1', TIMESTAMP '2024-12-24'), ('c2', TIMESTAMP '2025-01-05')) t(customer_id, occurred_at)"
    )
    both = db.execute(activity_sql(["orders", "events", "customers"]) + " ORDER BY 1").fetchall()
    assert [(c, str(a.date()), str(b.date())) for c, a, b in both] == [
        ("c1", "2024-12-24", "2025-06-01"),
        ("c2", "2025-01-05", "2025-01-05"),
    ]
    # Kinds not configured are not read (their tables need not exist).
    orders_only = db.execute(activity_sql(["orders"]) + " ORDER BY 1").fetchall()
    assert [(c, str(a.date()), str(b.date())) for c, a, b in orders_only] == [
        ("c1", "2025-03-01", "2025-06-01")
    ]


def test_id_number_reads_only_ids_of_the_prefix_and_digits() -> None:
    ids = pd.Series(["C000000042", "C7", "X000000001", "C", "C12a", "CC1", None], dtype="string")
    numbers = id_number(ids, "C").tolist()
    assert numbers[:2] == [42, 7]
    assert all(pd.isna(n) for n in numbers[2:])

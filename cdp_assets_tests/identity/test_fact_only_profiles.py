"""Profiles of customers known only from facts (`fact_only_profiles`)."""

import numpy as np
import pandas as pd

from cdp_assets.identity.profiles import fact_only_profiles, joined_sources


def test_sources_are_distinct_sorted_and_joined_per_customer() -> None:
    xref = pd.DataFrame(
        {
            "customer_id": ["C2", "C1", "C2", "C2", "C3", "C1"],
            "source": ["shop_orders", "pos_sales", "crm", "shop_orders", "web", "pos_sales"],
        }
    )
    ids = pd.Index(["C3", "C1", "C2", "C4"])
    activity = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2"],
            "occurred_at": pd.to_datetime(["2026-01-05", "2026-03-01", "2026-02-02"], utc=True),
        }
    )

    profiles = fact_only_profiles(ids, xref, activity)

    assert list(profiles["customer_id"]) == ["C1", "C2", "C3", "C4"]
    assert profiles["sources"].tolist()[:3] == ["pos_sales", "crm,shop_orders", "web"]
    assert profiles["sources"].isna().tolist() == [False, False, False, True]
    assert list(profiles["source_count"]) == [1, 2, 1, 0]
    assert profiles["first_seen"].iloc[0] == pd.Timestamp("2026-01-05", tz="UTC")
    assert profiles["last_seen"].iloc[0] == pd.Timestamp("2026-03-01", tz="UTC")
    assert profiles["first_seen"].iloc[2:].isna().all()


def test_joined_sources_equal_a_python_join_of_the_sorted_set() -> None:
    rng = np.random.default_rng(5)
    names = ["shop_orders", "pos_sales", "crm", "Web", "loyalty", "surveys", "tickets"]
    xref = pd.DataFrame(
        {
            "customer_id": pd.Series(
                [f"C{n:05d}" for n in rng.integers(0, 3_000, 20_000)], dtype="string"
            ),
            "source": pd.Series(rng.choice(names, 20_000), dtype="string"),
        }
    )
    expected = xref.groupby("customer_id")["source"].agg(lambda s: ",".join(sorted(set(s))))

    joined = joined_sources(xref)

    assert joined.sort_index().to_dict() == expected.to_dict()

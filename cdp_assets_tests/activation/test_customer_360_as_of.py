"""`activation.customer_360` as of a date: customers first seen later are left out, and the
audiences are those of the same analysis date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from cdp_assets.activation.customer_360 import customer_360_sql
from cdp_assets.contracts.golden_profile import GOLDEN_PROFILE_DTYPES
from cdp_assets.warehouse import TableRef, Warehouse, coerce_frame

AS_OF = dt.date(2026, 6, 30)  # cutoff 2026-07-01 00:00 UTC


def _profiles() -> pd.DataFrame:
    rows = {
        "customer_id": ["C1", "C2", "C3", "C4"],
        "first_seen": [
            pd.Timestamp("2025-01-01", tz="UTC"),
            pd.Timestamp("2026-06-30 23:59", tz="UTC"),
            pd.Timestamp("2026-07-01", tz="UTC"),  # at the cutoff: did not exist yet
            pd.NaT,  # nothing dated: kept
        ],
    }
    frame = pd.DataFrame(rows)
    frame["source_count"] = frame["record_count"] = 1
    return coerce_frame(frame, GOLDEN_PROFILE_DTYPES)


def _membership() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "audience": ["vip", "vip", "lapsed"],
            "customer_id": ["C1", "C1", "C2"],
            "entered_at": pd.to_datetime(["2026-06-30", "2026-06-30", "2026-11-20"]),
            "as_of": pd.to_datetime(["2026-06-30", "2026-11-20", "2026-11-20"]),
        }
    ).astype({"audience": "string", "customer_id": "string"})


def test_customers_and_audiences_of_the_analysis_date(tmp_path: Path) -> None:
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with warehouse.transaction() as session:
        session.replace_table(TableRef("core", "customer_profiles"), _profiles())
        session.replace_table(TableRef("activation", "audience_membership"), _membership())
        existing = {"core.customer_profiles", "activation.audience_membership"}
        past = session.query(customer_360_sql(existing, AS_OF.isoformat(), "duckdb"))
        later = session.query(customer_360_sql(existing, "2026-11-20", "duckdb"))
    assert past["customer_id"].tolist() == ["C1", "C2", "C4"]
    assert past.set_index("customer_id")["audiences"].fillna("-").to_dict() == {
        "C1": "vip",
        "C2": "-",  # entered `lapsed` only on the later date
        "C4": "-",
    }
    assert later["customer_id"].tolist() == ["C1", "C2", "C3", "C4"]
    assert later.set_index("customer_id")["audiences"].fillna("-").to_dict() == {
        "C1": "vip",
        "C2": "lapsed",
        "C3": "-",
        "C4": "-",
    }

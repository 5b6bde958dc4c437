"""Golden profiles: survivorship per field group, provenance, names, activity span, typing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from cdp_assets.contracts.golden_profile import FIELD_GROUPS, GOLDEN_PROFILE_DTYPES
from cdp_assets.identity.golden import full_name, golden_profiles
from cdp_assets_tests.identity.helpers import SEEN, typed_records

T = SEEN
DAY = pd.Timedelta(days=1)


def records_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return typed_records(*rows)


def one(profiles: pd.DataFrame, customer_id: str = "c1") -> pd.Series:
    row = profiles[profiles["customer_id"] == customer_id]
    assert len(row) == 1
    return row.iloc[0]


def test_trust_beats_recency() -> None:
    profiles = golden_profiles(
        records_frame(
            {
                "customer_id": "c1",
                "source": "crm",
                "record_id": "a",
                "trust": 5,
                "email": "old@x.com",
                "seen_at": T,
            },
            {
                "customer_id": "c1",
                "source": "shop",
                "record_id": "b",
                "trust": 1,
                "email": "new@x.com",
                "seen_at": T + 100 * DAY,
            },
        )
    )
    row = one(profiles)
    assert row["email"] == "old@x.com"
    assert (row["email_source"], row["email_record_id"]) == ("crm", "a")


def test_recency_breaks_trust_ties() -> None:
    profiles = golden_profiles(
        records_frame(
            {"customer_id": "c1", "record_id": "a", "phone": "+441", "seen_at": T},
            {"customer_id": "c1", "record_id": "b", "phone": "+442", "seen_at": T + DAY},
            {"customer_id": "c1", "record_id": "c", "phone": "+443", "seen_at": None},
        )
    )
    row = one(profiles)
    assert (row["phone"], row["phone_record_id"]) == ("+442", "b")


def test_completeness_breaks_trust_and_recency_ties() -> None:
    profiles = golden_profiles(
        records_frame(
            {"customer_id": "c1", "record_id": "a", "first_name": "Ann"},
            {"customer_id": "c1", "record_id": "b", "first_name": "Anne", "last_name": "Lee"},
            {"customer_id": "c1", "record_id": "c", "last_name": "Leigh"},
        )
    )
    row = one(profiles)
    assert (row["first_name"], row["last_name"], row["name_record_id"]) == ("Anne", "Lee", "b")


def test_source_and_record_id_break_remaining_ties_whatever_the_row_order() -> None:
    rows = [
        {"customer_id": "c1", "source": "shop", "record_id": "2", "city": "Leeds"},
        {"customer_id": "c1", "source": "shop", "record_id": "10", "city": "York"},
        {"customer_id": "c1", "source": "pos", "record_id": "9", "city": "Hull"},
    ]
    for ordered in (rows, rows[::-1], [rows[1], rows[2], rows[0]]):
        row = one(golden_profiles(records_frame(*ordered)))
        assert (row["city"], row["address_source"], row["address_record_id"]) == (
            "Hull",
            "pos",
            "9",
        )


def test_address_is_taken_whole_from_one_record() -> None:
    profiles = golden_profiles(
        records_frame(
            {
                "customer_id": "c1",
                "source": "crm",
                "record_id": "a",
                "trust": 5,
                "street": "1 High St",
                "city": "Leeds",
            },
            {
                "customer_id": "c1",
                "source": "shop",
                "record_id": "b",
                "trust": 1,
                "street": "9 Low Rd",
                "city": "York",
                "region": "Yorkshire",
                "postal_code": "YO1 1AA",
                "country": "GB",
                "seen_at": T + DAY,
            },
        )
    )
    row = one(profiles)
    assert (row["street"], row["city"]) == ("1 High St", "Leeds")
    assert pd.isna(row["region"]) and pd.isna(row["postal_code"]) and pd.isna(row["country"])
    assert (row["address_source"], row["address_record_id"]) == ("crm", "a")


def test_provenance_names_each_groups_winner() -> None:
    profiles = golden_profiles(
        records_frame(
            {
                "customer_id": "c1",
                "source": "crm",
                "record_id": "a",
                "trust": 5,
                "first_name": "Ann",
                "email": "ann@crm.com",
                "email_key": "ann@crm.com",
            },
            {
                "customer_id": "c1",
                "source": "loyalty",
                "record_id": "L7",
                "trust": 3,
                "first_name": "Annie",
                "loyalty_id": "L7",
                "loyalty_tier": "gold",
                "loyalty_points": 120,
                "birth_date": pd.Timestamp("1990-05-04"),
            },
            {
                "customer_id": "c1",
                "source": "shop",
                "record_id": "s1",
                "trust": 1,
                "phone": "+447700900001",
            },
        )
    )
    row = one(profiles)
    assert (row["name_source"], row["name_record_id"], row["first_name"]) == ("crm", "a", "Ann")
    assert (row["email_source"], row["email_record_id"]) == ("crm", "a")
    assert (row["phone_source"], row["phone_record_id"]) == ("shop", "s1")
    assert (row["loyalty_source"], row["loyalty_id"], row["loyalty_points"]) == (
        "loyalty",
        "L7",
        120,
    )
    assert row["loyalty_tier"] == "gold"
    assert row["birth_date"] == pd.Timestamp("1990-05-04")
    assert (row["birth_date_source"], row["birth_date_record_id"]) == ("loyalty", "L7")
    assert pd.isna(row["street"]) and pd.isna(row["address_source"])
    assert pd.isna(row["address_record_id"])


def test_blank_strings_count_as_missing() -> None:
    profiles = golden_profiles(
        records_frame(
            {"customer_id": "c1", "record_id": "a", "trust": 5, "email": "  "},
            {"customer_id": "c1", "record_id": "b", "trust": 1, "email": "b@x.com"},
        )
    )
    assert one(profiles)["email"] == "b@x.com"


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Ann", "Lee", "Ann Lee"),
        ("小明", "王", "王小明"),
        ("秀英", "欧阳", "欧阳秀英"),
        ("Ming", "王", "Ming 王"),
        ("Ann", None, "Ann"),
        (None, "王", "王"),
        (None, None, None),
    ],
)
def test_full_name(first: str | None, last: str | None, expected: str | None) -> None:
    result = full_name(pd.Series([first], dtype="string"), pd.Series([last], dtype="string"))
    assert str(result.dtype) == "string"
    assert (pd.isna(result[0]) and expected is None) or result[0] == expected


def test_han_full_name_in_profile() -> None:
    profiles = golden_profiles(
        records_frame({"customer_id": "c1", "first_name": "小明", "last_name": "王"})
    )
    assert one(profiles)["full_name"] == "王小明"


def test_first_and_last_seen_include_activity() -> None:
    records = records_frame(
        {"customer_id": "c1", "created_at": T, "seen_at": T + 10 * DAY},
        {"customer_id": "c1", "created_at": T + 2 * DAY, "seen_at": T + 3 * DAY},
        {"customer_id": "c2", "created_at": None, "seen_at": T + DAY},
    )
    activity = pd.DataFrame(
        {
            "customer_id": pd.array(["c1", "c1", "c9", "c2"], dtype="string"),
            "occurred_at": pd.to_datetime(
                [T - 5 * DAY, T + 20 * DAY, T - 100 * DAY, None], utc=True
            ).astype("datetime64[us, UTC]"),
        }
    )
    without = golden_profiles(records)
    assert (one(without)["first_seen"], one(without)["last_seen"]) == (T, T + 10 * DAY)
    assert (one(without, "c2")["first_seen"], one(without, "c2")["last_seen"]) == (
        T + DAY,
        T + DAY,
    )
    with_activity = golden_profiles(records, activity)
    assert (one(with_activity)["first_seen"], one(with_activity)["last_seen"]) == (
        T - 5 * DAY,
        T + 20 * DAY,
    )
    assert one(with_activity, "c2")["first_seen"] == T + DAY  # NaT activity is ignored
    assert "c9" not in set(with_activity["customer_id"])  # activity alone makes no profile


def test_one_sorted_row_per_customer_with_source_summary() -> None:
    profiles = golden_profiles(
        records_frame(
            {"customer_id": "c2", "source": "shop"},
            {"customer_id": "c1", "source": "shop"},
            {"customer_id": "c1", "source": "crm"},
            {"customer_id": "c1", "source": "shop"},
            {"customer_id": "c10", "source": "pos"},
        )
    )
    assert list(profiles["customer_id"]) == ["c1", "c10", "c2"]
    assert list(profiles["sources"]) == ["crm,shop", "pos", "shop"]
    assert list(profiles["source_count"]) == [2, 1, 1]
    assert list(profiles["record_count"]) == [3, 1, 1]


def test_dtypes_match_contract() -> None:
    profiles = golden_profiles(
        records_frame({"customer_id": "c1", "email": "a@x.com", "loyalty_points": 5})
    )
    assert {c: str(t) for c, t in profiles.dtypes.items()} == GOLDEN_PROFILE_DTYPES
    assert profiles.index.equals(pd.RangeIndex(1))


def test_empty_input_gives_empty_typed_frame() -> None:
    empty = records_frame({"customer_id": "c1"}).iloc[:0]
    for activity in (None, pd.DataFrame({"customer_id": ["c1"], "occurred_at": [T]})):
        profiles = golden_profiles(empty, activity)
        assert profiles.empty
        assert {c: str(t) for c, t in profiles.dtypes.items()} == GOLDEN_PROFILE_DTYPES


def test_missing_column_and_null_customer_are_clear_errors() -> None:
    records = records_frame({"customer_id": "c1"})
    with pytest.raises(ValueError, match="lack column.*phone"):
        golden_profiles(records.drop(columns="phone"))
    with pytest.raises(ValueError, match="null customer_id"):
        golden_profiles(records.assign(customer_id=pd.array([None], dtype="string")))


def _reference_winner(rows: pd.DataFrame, fields: tuple[str, ...]) -> pd.Series | None:
    """The survivorship rule written as plainly as possible, one customer at a time."""
    candidates = [r for _, r in rows.iterrows() if any(pd.notna(r[f]) for f in fields)]
    if not candidates:
        return None

    def rank(r: pd.Series) -> tuple:
        seen = r["seen_at"].value if pd.notna(r["seen_at"]) else -(2**63)
        filled = sum(pd.notna(r[f]) for f in fields)
        return (-r["trust"], -seen, -filled, r["source"], r["record_id"])

    return min(candidates, key=rank)


def test_matches_a_plain_reference_on_random_records() -> None:
    rng = np.random.default_rng(3)
    n = 400

    def maybe(values: list[Any], p_null: float = 0.4) -> list[Any]:
        return [
            None if rng.random() < p_null else values[rng.integers(len(values))] for _ in range(n)
        ]

    rows = [
        {
            "customer_id": f"c{rng.integers(60)}",
            "source": ["shop", "crm", "pos"][rng.integers(3)],
            "record_id": str(i),
            "trust": int(rng.integers(3)),
            "seen_at": None if rng.random() < 0.1 else T + int(rng.integers(4)) * DAY,
        }
        for i in range(n)
    ]
    for field in ("first_name", "last_name", "street", "city", "region", "postal_code"):
        for row, value in zip(rows, maybe(["a", "b"]), strict=True):
            row[field] = value
    records = records_frame(*rows)
    profiles = golden_profiles(records.sample(frac=1, random_state=1))
    for customer_id, group in records.groupby("customer_id"):
        row = one(profiles, str(customer_id))
        for name in ("name", "address"):
            winner = _reference_winner(group, FIELD_GROUPS[name])
            assert row[f"{name}_record_id"] == winner["record_id"]
            for field in FIELD_GROUPS[name]:
                assert (pd.isna(row[field]) and pd.isna(winner[field])) or row[field] == winner[
                    field
                ]

"""Incremental golden profiles: one input digest per customer finds the profiles to compute
again, and the profiles of some customers are those rows of everyone's profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp_assets.identity.profile_inputs import (
    PROFILE_INPUT_DTYPES,
    ProfileInputs,
    customers_to_replace,
    profile_input_digests,
)
from cdp_assets.identity.profiles import records_with_customers
from cdp_assets_tests.identity.helpers import SEEN, typed_records

DAY = pd.Timedelta(days=1)
VERSION = "code-1"


def _population(seed: int, customers: int = 120) -> ProfileInputs:
    """Random records of `customers` people (1-4 records each, from two sources of different
    trust, fields often missing, ties of seen_at), a tenth known only from facts, activity
    spans and campaign opt-outs."""
    rng = np.random.default_rng(seed)
    rows, xref = [], []
    for n in range(customers):
        customer = f"C{n:05d}"
        if n % 10 == 9:  # known only from facts
            xref.append((customer, "orders", "identifiers", f"o{n}"))
            continue
        for k in range(int(rng.integers(1, 5))):
            source = "shop" if rng.random() < 0.6 else "crm"
            record = f"{customer}-{k}"
            rows.append(
                {
                    "customer_id": customer,
                    "source": source,
                    "record_id": record,
                    "trust": 80 if source == "shop" else 60,
                    "seen_at": SEEN + int(rng.integers(0, 3)) * DAY,
                    "created_at": SEEN - int(rng.integers(0, 400)) * DAY,
                    "first_name": rng.choice(["Ann", "Bo", None]),
                    "last_name": rng.choice(["Lee", "Kim", None]),
                    "email": rng.choice([f"{customer}@x.com", f"{record}@y.com", None]),
                    "phone": rng.choice(["+4420", "+4421", None]),
                    "city": rng.choice(["Leeds", "York", None]),
                    "loyalty_tier": rng.choice(["gold", None]),
                    "email_opt_in": bool(rng.random() < 0.5),
                    "email_opt_in_confirmed_at": SEEN if rng.random() < 0.5 else None,
                    "ads_opt_out": bool(rng.random() < 0.2),
                }
            )
            xref.append((customer, source, "record", record))
    records = typed_records(*rows)
    xref_frame = pd.DataFrame(
        xref, columns=["customer_id", "source", "identity_kind", "source_record_id"]
    ).astype("string")
    ids = xref_frame["customer_id"].drop_duplicates()
    span = pd.DataFrame(
        {
            "customer_id": ids.sample(frac=0.7, random_state=seed),
        }
    )
    span["first_at"] = SEEN - 30 * DAY
    span["last_at"] = SEEN + pd.to_timedelta(rng.integers(0, 90, len(span)), unit="D")
    opt_outs = pd.DataFrame(
        {
            "customer_id": ids.sample(frac=0.1, random_state=seed + 1).to_numpy(),
            "channel": "email",
        }
    )
    opt_outs["occurred_at"] = SEEN + 5 * DAY
    return ProfileInputs(
        records=records_with_customers(records.drop(columns="customer_id"), xref_frame),
        xref=xref_frame,
        span=span.reset_index(drop=True),
        opt_outs=opt_outs,
    )


def _digest(inputs: ProfileInputs, version: str = VERSION) -> pd.Series:
    digests = inputs.digests(version)
    return digests.set_index("customer_id")["input_digest"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_profiles_of_some_customers_are_their_rows_of_everyones_profiles(seed: int) -> None:
    inputs = _population(seed)
    everyone = inputs.profiles().set_index("customer_id")
    some = pd.Index(sorted(everyone.sample(frac=0.3, random_state=seed).index), dtype="string")
    theirs = inputs.of(some).profiles().set_index("customer_id")
    assert len(theirs) == len(some) > 10
    pd.testing.assert_frame_equal(theirs, everyone.loc[some])


def test_digests_do_not_depend_on_row_order() -> None:
    inputs = _population(4)
    shuffled = ProfileInputs(
        records=inputs.records.sample(frac=1.0, random_state=0),
        xref=inputs.xref.sample(frac=1.0, random_state=1),
        span=inputs.span.sample(frac=1.0, random_state=2),
        opt_outs=inputs.opt_outs.sample(frac=1.0, random_state=3),
    )
    pd.testing.assert_series_equal(_digest(inputs), _digest(shuffled))


def test_a_changed_row_of_any_kind_changes_only_its_customers_digest() -> None:
    inputs = _population(5)
    before = _digest(inputs)
    records = inputs.records.copy()
    records.loc[records.index[0], "city"] = "Hull"
    span = inputs.span.copy()
    span.loc[span.index[0], "last_at"] += DAY
    opt_outs = inputs.opt_outs.copy()
    opt_outs.loc[opt_outs.index[0], "occurred_at"] += DAY
    xref = inputs.xref.copy()
    fact_only = xref.index[xref["identity_kind"] == "identifiers"][0]
    xref.loc[fact_only, "source"] = "pos"
    changed = ProfileInputs(records=records, xref=xref, span=span, opt_outs=opt_outs)
    after = _digest(changed)
    expected = {
        records["customer_id"].iloc[0],
        span["customer_id"].iloc[0],
        opt_outs["customer_id"].iloc[0],
        xref.loc[fact_only, "customer_id"],
    }
    assert len(expected) == 4
    assert set(after.index[after != before]) == expected


def test_a_records_node_number_is_not_an_input() -> None:
    inputs = _population(6)
    renumbered = inputs.records.assign(node=inputs.records["node"] + 1000)
    moved = ProfileInputs(renumbered, inputs.xref, inputs.span, inputs.opt_outs)
    pd.testing.assert_series_equal(_digest(inputs), _digest(moved))


def test_other_code_changes_every_digest() -> None:
    inputs = _population(7)
    assert (_digest(inputs, "code-1") != _digest(inputs, "code-2")).all()


def _digests(**by_customer: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"customer_id": list(by_customer), "input_digest": list(by_customer.values())}
    )
    return frame.astype(PROFILE_INPUT_DTYPES)


def test_customers_to_replace_are_the_changed_the_new_and_the_gone() -> None:
    stored = _digests(a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8)
    current = _digests(a=1, b=20, c=3, d=4, e=5, f=6, g=7, i=9)  # b changed, h gone, i new
    replaced = customers_to_replace(stored, current)
    assert replaced is not None and list(replaced) == ["b", "h", "i"]
    assert list(customers_to_replace(stored, stored)) == []


def test_everything_is_computed_without_stored_digests_or_when_most_changed() -> None:
    current = _digests(a=1, b=2, c=3, d=4)
    assert customers_to_replace(None, current) is None
    assert customers_to_replace(_digests(a=1, b=5, c=6, d=7), current) is None
    assert list(customers_to_replace(_digests(a=1, b=2, c=3, d=9), current)) == ["d"]


def test_rows_without_a_customer_are_nobodys_input() -> None:
    rows = pd.DataFrame({"customer_id": ["a", None, "a"], "channel": ["x", "y", "z"]})
    digests = profile_input_digests({"opt_outs": rows.astype("string")}, VERSION)
    assert list(digests["customer_id"]) == ["a"]
    alone = profile_input_digests({"opt_outs": rows.iloc[[0, 2]].astype("string")}, VERSION)
    assert digests["input_digest"].tolist() == alone["input_digest"].tolist()


def test_values_swapped_between_columns_change_the_digest() -> None:
    inputs = _population(8)
    records = inputs.records.copy()
    both = records["first_name"].notna() & records["last_name"].notna()
    both &= records["first_name"] != records["last_name"]
    row = records.index[both][0]
    first, last = records.at[row, "first_name"], records.at[row, "last_name"]
    records.loc[row, ["first_name", "last_name"]] = [last, first]
    swapped = ProfileInputs(records, inputs.xref, inputs.span, inputs.opt_outs)
    before, after = _digest(inputs), _digest(swapped)
    assert set(after.index[after != before]) == {records.at[row, "customer_id"]}


def test_an_unknown_kind_of_input_is_an_error_not_ignored() -> None:
    rows = pd.DataFrame({"customer_id": ["a"], "channel": ["email"]}).astype("string")
    with pytest.raises(ValueError, match="unknown kind.*opt_out"):
        profile_input_digests({"opt_out": rows}, VERSION)
    with pytest.raises(ValueError, match="nothing but a customer_id"):
        profile_input_digests({"opt_outs": rows[["customer_id"]]}, VERSION)

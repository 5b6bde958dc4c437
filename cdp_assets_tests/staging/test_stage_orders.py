"""`stage_source` end to end on orders: quarantine, nulled fields, FX, versions, contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cdp_assets.staging import StagingError, stage_source
from cdp_assets_tests.staging.frames import (
    STAGED_AT,
    T0,
    assert_conserved,
    assert_contracts,
    issues_of,
    make_config,
    raw_frame,
)

ORDERS = {
    "name": "shop_orders",
    "kind": "orders",
    "timezone": "Europe/Berlin",
    "columns": {
        "order_id": "id",
        "email": "mail",
        "ordered_at": "created",
        "amount": "total",
        "currency": "cur",
        "status": "state",
        "channel": "via",
    },
}


def order(
    id_: str | None,
    total: str | None = "10.00",
    created: str | None = "2026-10-01 10:00:00",
    **extra: str | None,
) -> dict[str, str | None]:
    row = {
        "id": id_,
        "total": total,
        "created": created,
        "cur": "USD",
        "state": "completed",
        "mail": f"{id_}@shop-customer.com" if id_ else None,
        "via": "web",
    }
    row.update(extra)
    return row


def stage(rows: list[dict[str, str | None]], source: dict | None = None, **settings: object):
    config = make_config(source or ORDERS, **settings)
    raw = raw_frame(rows)
    return raw, stage_source(raw, config.sources[0], config, STAGED_AT)


def test_clean_orders_are_typed_normalised_and_converted() -> None:
    raw, result = stage(
        [
            order(
                "o1",
                total="12.50",
                cur="eur",
                state="Complete",
                via="POS",
                mail="J.Doe+x@GoogleMail.com",
            ),
            order("o2", total="1,234.50", cur=None, created="2026-10-01T10:00:00Z"),
        ]
    )
    assert_contracts(result, "orders")
    assert_conserved(result, raw)
    staged = result.staged
    assert staged["record_id"].tolist() == ["o1", "o2"]
    assert staged["source"].tolist() == ["shop_orders", "shop_orders"]
    assert staged["currency"].tolist() == ["EUR", "USD"]  # empty currency → base currency
    assert staged["amount"].tolist() == [12.5, 1234.5]
    assert staged["amount_base"].tolist() == pytest.approx([13.75, 1234.5])
    assert staged["status"].tolist() == ["completed", "completed"]
    assert staged["channel"].tolist() == ["store", "web"]
    assert staged["email"].tolist()[0] == "j.doe+x@googlemail.com"
    assert staged["email_key"].tolist()[0] == "jdoe@gmail.com"
    assert staged["ordered_at"].tolist() == [
        pd.Timestamp("2026-10-01 08:00", tz="UTC"),  # Berlin summer time
        pd.Timestamp("2026-10-01 10:00", tz="UTC"),
    ]
    assert staged["_line"].tolist() == [2, 3]
    assert result.quarantine.empty and result.issues.empty


def test_required_field_failures_quarantine_with_rule_reason_and_payload() -> None:
    raw, result = stage(
        [
            order("o1", total="-35.00"),
            order("o2", created="2026-02-30 10:00:00"),
            order(None),
            order("o4", total="abc"),
            order("o5", total="30000"),
            order("o6", created="2027-06-01 10:00:00"),
            order("o7", created="1980-01-01"),
            order("o8", total=None),
            order(
                "o9", created="2026-02-30", total="-1"
            ),  # two problems: first field in order wins
            order("ok"),
        ]
    )
    assert_conserved(result, raw)
    q = result.quarantine
    assert q["record_id"].tolist() == ["o1", "o2", pd.NA, "o4", "o5", "o6", "o7", "o8", "o9"]
    assert q["rule"].tolist() == [
        "negative_amount",
        "invalid_date",
        "missing_required",
        "invalid_number",
        "amount_out_of_range",
        "future_date",
        "date_too_early",
        "missing_required",
        "invalid_date",
    ]
    assert q["reason"].iloc[0] == "amount '-35.00' is negative"
    assert q["reason"].iloc[1] == "ordered_at '2026-02-30 10:00:00' is not a valid date/time"
    assert q["reason"].iloc[2] == "order_id is empty"
    assert (
        q["reason"].iloc[4]
        == "amount '30000' USD (30,000.00 USD) is above the maximum order amount of 25,000 USD"
    )
    assert (q["stage"] == "staging").all()
    assert (q["source"] == "shop_orders").all()
    assert q["file"].tolist()[0] == "batch_1.csv"
    assert q["line"].tolist() == list(range(2, 11))
    assert (q["quarantined_at"] == T0).all()
    payload = json.loads(q["raw_payload"].iloc[0])
    assert payload == {
        "cur": "USD",
        "created": "2026-10-01 10:00:00",
        "id": "o1",
        "mail": "o1@shop-customer.com",
        "state": "completed",
        "total": "-35.00",
        "via": "web",
    }
    assert json.loads(q["raw_payload"].iloc[2])["id"] is None
    assert result.staged["record_id"].tolist() == ["ok"]


def test_optional_field_failures_are_nulled_with_one_issue_each() -> None:
    raw, result = stage(
        [
            order("o1", mail="foo@", state="weird", cur="XYZ"),
            order("o2", mail="bob@mailinator.com", via="carrier pigeon"),
            order("o3", mail="test@shop.com"),
        ]
    )
    assert_conserved(result, raw)
    assert len(result.staged) == 3 and result.quarantine.empty
    assert issues_of(result) == [
        ("o1", "email", "invalid_email", "nulled"),
        ("o1", "currency", "invalid_currency", "nulled"),
        ("o1", "status", "invalid_enum", "nulled"),
        ("o2", "email", "disposable_email", "nulled"),
        ("o2", "channel", "invalid_enum", "nulled"),
        ("o3", "email", "test_email", "nulled"),
    ]
    staged = result.staged.set_index("record_id")
    assert staged.loc["o1", ["email", "email_key", "currency", "status"]].isna().all()
    assert np.isnan(staged.loc["o1", "amount_base"])  # unknown currency: no base amount
    issue = result.issues.iloc[0]
    assert (issue["value"], issue["file"], issue["line"], issue["batch_id"]) == (
        "foo@",
        "batch_1.csv",
        2,
        "b1",
    )
    assert issue["reason"] == "email 'foo@' is not a valid email address"
    assert result.issues.iloc[2]["reason"].startswith(
        "status 'weird' is not one of completed, pending, cancelled"
    )


def test_missing_fx_rate_leaves_amount_base_empty_and_keeps_the_order() -> None:
    raw, result = stage([order("o1", cur="JPY", total="1000")])
    assert result.staged["amount"].tolist() == [1000.0]
    assert np.isnan(result.staged["amount_base"].iloc[0])
    assert issues_of(result) == [("o1", "amount_base", "missing_fx_rate", "nulled")]
    assert result.issues["value"].tolist() == ["JPY"]
    assert result.issues["reason"].iloc[0] == (
        "no FX rate from currency 'JPY' to USD in fx_rates: amount_base left empty"
    )


def test_currency_default_and_base_conversion() -> None:
    source = dict(
        ORDERS,
        columns={k: v for k, v in ORDERS["columns"].items() if k != "currency"},
        defaults={"currency": "GBP"},
    )
    raw, result = stage([order("o1", total="100")], source=source)
    assert result.staged["currency"].tolist() == ["GBP"]
    assert result.staged["amount_base"].tolist() == [125.0]


def test_fx_rates_convert_to_a_non_usd_base() -> None:
    raw, result = stage(
        [order("o1", total="100", cur="USD"), order("o2", total="100", cur="EUR")],
        base_currency="EUR",
        fx_rates={"USD": 0.9},
    )
    assert result.staged["amount_base"].tolist() == [90.0, 100.0]


def test_latest_version_wins_and_older_ones_are_superseded() -> None:
    config = make_config(ORDERS)
    first = raw_frame(
        [order("o1", total="10"), order("o2", total="20")],
        file="day1.csv",
        batch="b1",
        ingested_at=T0,
    )
    second = raw_frame(
        [order("o1", total="11"), order("o3", total="30")],
        file="day2.csv",
        batch="b2",
        ingested_at=T0 + pd.Timedelta(days=1),
    )
    third = raw_frame(
        [order("o2", total="-5")],  # a newer but invalid version
        file="day3.csv",
        batch="b3",
        ingested_at=T0 + pd.Timedelta(days=2),
    )
    raw = pd.concat([third, second, first], ignore_index=True)  # order of rows is irrelevant
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert_conserved(result, raw)
    staged = result.staged.set_index("record_id")
    assert sorted(staged.index) == ["o1", "o2", "o3"]
    assert staged.loc["o1", "amount"] == 11.0
    assert staged.loc["o2", "amount"] == 20.0  # the invalid newer version is quarantined
    assert result.quarantine["record_id"].tolist() == ["o2"]
    assert issues_of(result) == [("o1", "order_id", "superseded_record", "superseded")]
    superseded = result.issues.iloc[0]
    assert (superseded["file"], superseded["line"], superseded["value"]) == ("day1.csv", 2, "o1")
    assert superseded["reason"] == (
        "record 'o1' is superseded by its latest version, in day2.csv line 2 (batch b2)"
    )


def test_unmapped_columns_go_to_attributes_json() -> None:
    raw, result = stage(
        [
            order("o1", coupon="WELCOME10", note='say "hi"\n', zeta=None),
            order("o2", coupon=None, note="", zeta="王"),
            order("o3"),
        ]
    )
    attributes = [json.loads(a) for a in result.staged["attributes"]]
    assert attributes == [{"coupon": "WELCOME10", "note": 'say "hi"\n'}, {"zeta": "王"}, {}]
    assert result.staged["attributes"].iloc[0] == '{"coupon":"WELCOME10","note":"say \\"hi\\"\\n"}'
    assert result.unmapped_columns == ("coupon", "note", "zeta")


def test_output_is_deterministic_and_independent_of_row_order() -> None:
    rows = [
        order(f"o{i % 7}", total=str(i), mail=["a@b.com", "foo@", None][i % 3]) for i in range(30)
    ]
    config = make_config(ORDERS)
    raw = pd.concat(
        [
            raw_frame(rows[:15], file="a.csv", batch="b1", ingested_at=T0),
            raw_frame(rows[15:], file="b.csv", batch="b2", ingested_at=T0 + pd.Timedelta(hours=1)),
        ],
        ignore_index=True,
    )
    first = stage_source(raw, config.sources[0], config, STAGED_AT)
    again = stage_source(raw.copy(), config.sources[0], config, STAGED_AT)
    shuffled = stage_source(
        raw.sample(frac=1, random_state=3), config.sources[0], config, STAGED_AT
    )
    for other in (again, shuffled):
        pd.testing.assert_frame_equal(first.staged, other.staged)
        pd.testing.assert_frame_equal(first.quarantine, other.quarantine)
        pd.testing.assert_frame_equal(first.issues, other.issues)
    assert_conserved(first, raw)


def test_object_columns_and_missing_mapped_columns_are_tolerated() -> None:
    raw = raw_frame([order("o1"), order("o2")])
    raw["state"] = pd.Series(["completed", None], dtype=object)
    raw = raw.drop(columns=["via"])
    config = make_config(ORDERS)
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert result.staged["status"].tolist() == ["completed", pd.NA]
    assert result.staged["channel"].isna().all()
    assert result.missing_columns == ("via",)


def test_unmapped_required_field_is_a_clear_error() -> None:
    source = dict(ORDERS, columns={k: v for k, v in ORDERS["columns"].items() if k != "amount"})
    config = make_config(source)
    with pytest.raises(StagingError, match="required field 'amount' of kind 'orders'"):
        stage_source(raw_frame([order("o1")]), config.sources[0], config, STAGED_AT)


def test_missing_lineage_is_a_clear_error() -> None:
    config = make_config(ORDERS)
    raw = raw_frame([order("o1")]).drop(columns=["_ingested_at"])
    with pytest.raises(StagingError, match="lineage column"):
        stage_source(raw, config.sources[0], config, STAGED_AT)


def test_summary_counts() -> None:
    raw, result = stage(
        [order("o1"), order("o1", total="12"), order("o2", total="-1"), order("o3", mail="foo@")]
    )
    summary = result.summary()
    assert summary["rows_in"] == 4
    assert summary["rows_staged"] == 2
    assert summary["rows_quarantined"] == 1
    assert summary["records_superseded"] == 1
    assert summary["quarantine_by_rule"] == {"negative_amount": 1}
    assert summary["issues_by_rule"] == {"invalid_email": 1, "superseded_record": 1}


def test_future_means_after_the_wall_clock_not_after_the_analysis_date() -> None:
    # Staged on 2026-11-21 00:00 UTC with a past analysis date and the default 24 h tolerance.
    rows = [
        order("before_as_of", created="2026-06-01 10:00:00"),
        order("after_as_of", created="2026-10-01 10:00:00"),
        order("within_tolerance", created="2026-11-21 23:00:00"),  # Berlin: 22:00 UTC
        order("past_tolerance", created="2026-11-22 02:00:00"),  # 01:00 UTC, 25 h ahead
    ]
    raw, result = stage(rows, as_of="2026-06-30")
    assert_conserved(result, raw)
    assert sorted(result.staged["order_id"]) == ["after_as_of", "before_as_of", "within_tolerance"]
    assert result.quarantine["record_id"].tolist() == ["past_tolerance"]
    assert result.quarantine["rule"].tolist() == ["future_date"]
    assert result.quarantine["reason"].iloc[0] == (
        "ordered_at '2026-11-22 02:00:00' is in the future: more than 24 h after the staging time"
    )
    # Staging does not depend on the analysis date.
    _, later = stage(rows, as_of="2026-11-20")
    pd.testing.assert_frame_equal(later.staged, result.staged)
    pd.testing.assert_frame_equal(later.quarantine, result.quarantine)


def test_tolerance_is_read_from_the_quality_config() -> None:
    _, result = stage(
        [order("in_two_hours", created="2026-11-21 03:00:00")],  # 02:00 UTC
        quality={"future_tolerance_hours": 1},
    )
    assert result.quarantine["rule"].tolist() == ["future_date"]
    assert "more than 1 h after the staging time" in result.quarantine["reason"].iloc[0]

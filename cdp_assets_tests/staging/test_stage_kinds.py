"""`stage_source` on the other kinds: derived ids, item keys and rules, scores, tickets,
erasure requests, defaults, and the contract of every kind on an empty frame."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from cdp_assets.contracts.canonical import SOURCE_KINDS, fields_of
from cdp_assets.staging import stage_source
from cdp_assets_tests.staging.frames import (
    STAGED_AT,
    T0,
    assert_conserved,
    assert_contracts,
    issues_of,
    make_config,
    raw_frame,
)


def run(source: dict, rows: list[dict[str, str | None]], **settings: object):
    config = make_config(source, **settings)
    raw = raw_frame(rows)
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert_contracts(result, source["kind"])
    assert_conserved(result, raw)
    return result


EVENTS = {
    "name": "web_events",
    "kind": "events",
    "columns": {"event_type": "type", "occurred_at": "ts", "email": "user_email", "url": "page"},
}


def test_events_without_ids_get_stable_derived_ids() -> None:
    result = run(
        EVENTS,
        [
            {"type": "pageview", "ts": "2026-11-01T10:00:00Z", "page": "/a"},
            {"type": "Add to cart", "ts": "2026-11-01T10:01:00Z", "page": "/b"},
            {"type": "teleport", "ts": "2026-11-01T10:02:00Z", "page": "/c"},
            {"type": "login", "ts": None, "page": "/d"},
        ],
    )
    expected_id = hashlib.sha1(b"web_events:batch_1.csv:2").hexdigest()[:16]
    staged = result.staged
    assert staged["record_id"].tolist()[0] == expected_id
    assert (staged["record_id"] == staged["event_id"]).all()
    assert staged["event_type"].tolist() == ["page_view", "add_to_cart"]
    assert result.derived_record_ids
    q = result.quarantine
    assert q["rule"].tolist() == ["invalid_enum", "missing_required"]
    assert q["reason"].tolist()[1] == "occurred_at is empty"
    assert q["record_id"].notna().all()  # derived ids exist for every row


def test_derived_ids_do_not_depend_on_the_run() -> None:
    rows = [{"type": "login", "ts": "2026-11-01T10:00:00Z"}]
    first = run(EVENTS, rows)
    second = run(EVENTS, rows)
    assert first.staged["record_id"].tolist() == second.staged["record_id"].tolist()


ITEMS = {
    "name": "shop_items",
    "kind": "order_items",
    "columns": {
        "order_id": "order",
        "product_id": "sku",
        "quantity": "qty",
        "unit_price": "price",
        "product_name": "name",
    },
}


def test_order_items_are_keyed_by_order_and_product() -> None:
    result = run(
        ITEMS,
        [
            {"order": "o1", "sku": "p1", "qty": "2", "price": "9.99", "name": "Mug"},
            {"order": "o1", "sku": "p2", "qty": "0", "price": "-1", "name": "Cup"},
            {"order": "o1", "sku": "p1", "qty": "3", "price": "9.99", "name": "Mug"},  # new version
            {"order": "o2", "sku": "p3", "qty": "1.5", "price": "20000", "name": "Sofa"},
            {"order": "o3", "sku": None, "qty": "1", "price": "1", "name": "?"},
        ],
    )
    staged = result.staged.set_index("record_id")
    assert sorted(staged.index) == ["o1|p1", "o1|p2", "o2|p3"]
    assert staged.loc["o1|p1", "quantity"] == 3
    assert issues_of(result) == [  # in raw order (file, line), then field order
        ("o1|p1", "order_id", "superseded_record", "superseded"),
        ("o1|p2", "quantity", "invalid_quantity", "nulled"),
        ("o1|p2", "unit_price", "negative_amount", "nulled"),
        ("o2|p3", "quantity", "invalid_integer", "nulled"),
        ("o2|p3", "unit_price", "amount_out_of_range", "nulled"),
    ]
    assert result.quarantine["rule"].tolist() == ["missing_required"]
    assert result.quarantine["reason"].tolist() == ["product_id is empty"]


def test_survey_scores_out_of_range_are_nulled() -> None:
    source = {
        "name": "nps",
        "kind": "survey_responses",
        "columns": {"response_id": "id", "submitted_at": "at", "nps": "nps", "csat": "csat"},
    }
    result = run(
        source,
        [
            {"id": "r1", "at": "2026-10-01", "nps": "10", "csat": "5"},
            {"id": "r2", "at": "2026-10-01", "nps": "11", "csat": "0"},
            {"id": "r3", "at": "2026-10-01", "nps": "-1", "csat": "6"},
        ],
    )
    assert result.staged["nps"].tolist() == [10, pd.NA, pd.NA]
    assert result.staged["csat"].tolist() == [5, pd.NA, pd.NA]
    assert [i[2] for i in issues_of(result)] == ["nps_out_of_range", "csat_out_of_range"] * 2


def test_tickets_resolved_before_opened_are_nulled() -> None:
    source = {
        "name": "helpdesk",
        "kind": "support_tickets",
        "columns": {
            "ticket_id": "id",
            "opened_at": "opened",
            "resolved_at": "resolved",
            "channel": "channel",
            "status": "status",
        },
    }
    result = run(
        source,
        [
            {
                "id": "t1",
                "opened": "2026-10-02T10:00:00Z",
                "resolved": "2026-10-01T10:00:00Z",
                "channel": "E-Mail",
                "status": "solved",
            },
            {
                "id": "t2",
                "opened": "2026-10-02T10:00:00Z",
                "resolved": "2026-10-03T10:00:00Z",
                "channel": "live chat",
                "status": "closed",
            },
        ],
    )
    assert result.staged["resolved_at"].isna().tolist() == [True, False]
    assert result.staged["channel"].tolist() == ["email", "chat"]
    assert result.staged["status"].tolist() == ["resolved", "closed"]
    assert issues_of(result) == [("t1", "resolved_at", "invalid_date", "nulled")]
    assert result.issues["reason"].iloc[0] == (
        "resolved_at '2026-10-01T10:00:00Z' is before opened_at '2026-10-02T10:00:00Z'"
    )


def test_erasure_requests() -> None:
    source = {
        "name": "erasure",
        "kind": "erasure_requests",
        "columns": {"request_id": "id", "email": "email", "phone": "phone", "requested_at": "at"},
        "default_country": "DE",
    }
    result = run(
        source,
        [
            {
                "id": "e1",
                "email": "Max.Mustermann@Web.de",
                "phone": "030 901820",
                "at": "2026-11-19T08:00:00Z",
            },
        ],
    )
    staged = result.staged
    assert staged["email"].tolist() == ["max.mustermann@web.de"]
    assert staged["phone"].tolist() == ["+4930901820"]


def test_defaults_fill_unmapped_and_empty_fields() -> None:
    source = {
        "name": "pos",
        "kind": "orders",
        "columns": {"order_id": "id", "ordered_at": "at", "amount": "total", "channel": "channel"},
        "defaults": {"channel": "store", "currency": "EUR", "status": "completed"},
    }
    result = run(
        source,
        [
            {"id": "o1", "at": "2026-10-01", "total": "10", "channel": None},
            {"id": "o2", "at": "2026-10-01", "total": "10", "channel": "web"},
        ],
    )
    assert result.staged["channel"].tolist() == ["store", "web"]
    assert result.staged["status"].tolist() == ["completed", "completed"]
    assert result.staged["currency"].tolist() == ["EUR", "EUR"]
    assert result.staged["amount_base"].tolist() == pytest.approx([11.0, 11.0])


def test_source_columns_named_like_lineage_are_read_from_their_raw_name() -> None:
    """A source column `_id` is stored in raw as `src__id` (clear of lineage columns)."""
    source = {
        "name": "pos",
        "kind": "orders",
        "columns": {"order_id": "_id", "ordered_at": "at", "amount": "total"},
        "defaults": {"currency": "USD", "status": "completed"},
    }
    result = run(source, [{"src__id": "o7", "at": "2026-10-01", "total": "12.5", "note": "x"}])
    assert result.staged["order_id"].tolist() == ["o7"]
    assert result.unmapped_columns == ("note",)


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_every_kind_stages_an_empty_raw_frame_to_its_contract(kind: str) -> None:
    source = {"name": "src", "kind": kind, "columns": {f.name: f.name for f in fields_of(kind)}}
    config = make_config(source)
    raw = raw_frame([{f.name: None for f in fields_of(kind)}]).iloc[0:0]
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert_contracts(result, kind)
    assert len(result.staged) == len(result.quarantine) == len(result.issues) == 0


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_every_kind_stages_text_in_every_field_without_error(kind: str) -> None:
    """Junk in every column: nothing crashes, every row is accounted for."""
    source = {"name": "src", "kind": kind, "columns": {f.name: f.name for f in fields_of(kind)}}
    junk = ["x", "", " 1 ", "2026-01-01", "-5", "true", "GB", "王", None]
    rows = [
        {f.name: junk[(i + j) % len(junk)] for j, f in enumerate(fields_of(kind))}
        for i in range(len(junk))
    ]
    config = make_config(source)
    raw = pd.concat(
        [
            raw_frame(rows),
            raw_frame(rows, file="again.csv", batch="b2", ingested_at=T0 + pd.Timedelta(hours=1)),
        ],
        ignore_index=True,
    )
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert_contracts(result, kind)
    assert_conserved(result, raw)


CAMPAIGN_EVENTS = {
    "name": "esp_events",
    "kind": "campaign_events",
    "columns": {
        "event_id": "id",
        "campaign_id": "campaign",
        "event_type": "type",
        "occurred_at": "ts",
        "email": "to",
    },
}
CAMPAIGNS = {
    "analytics": {"audiences": [{"name": "everyone", "rule": "frequency >= 0"}]},
    "exports": {"destinations": [{"name": "newsletter", "channel": "email"}]},
    "campaigns": [
        {
            "name": "spring_sale",
            "audience": "everyone",
            "destinations": ["newsletter"],
            "start": "2026-10-01",
            "end": "2026-10-31",
            "arms": [
                {"name": "offer", "share": 80},
                {"name": "control", "share": 20, "control": True},
            ],
        }
    ],
}


def test_campaign_events_of_unknown_campaigns_are_quarantined_with_the_reason() -> None:
    result = run(
        CAMPAIGN_EVENTS,
        [
            {"id": "e1", "campaign": "spring_sale", "type": "Open", "ts": "2026-10-02T08:00:00Z", "to": "Ann.Lee@Mail.com"},
            {"id": "e2", "campaign": "winter_sale", "type": "click", "ts": "2026-10-02T08:01:00Z", "to": "bo@mail.com"},
            {"id": "e3", "campaign": "spring_sale", "type": "forward", "ts": "2026-10-02T08:02:00Z", "to": "cy@mail.com"},
        ],
        **CAMPAIGNS,
    )  # fmt: skip
    staged = result.staged
    assert staged["event_id"].tolist() == ["e1"]
    assert staged["event_type"].tolist() == ["open"]
    assert staged["email"].tolist() == ["ann.lee@mail.com"]
    rules = dict(zip(result.quarantine["record_id"], result.quarantine["rule"], strict=True))
    assert rules == {"e2": "unknown_campaign", "e3": "invalid_enum"}
    reason = result.quarantine.set_index("record_id").loc["e2", "reason"]
    assert reason == "campaign_id 'winter_sale' is not a campaign of cdp.yaml (spring_sale)"


def test_orders_carry_their_coupon_code() -> None:
    orders = {
        "name": "shop_orders",
        "kind": "orders",
        "columns": {
            "order_id": "id",
            "ordered_at": "ts",
            "amount": "total",
            "coupon_code": "coupon",
        },
    }
    result = run(
        orders, [{"id": "o1", "ts": "2026-10-02T08:00:00Z", "total": "20", "coupon": " AUTUMN10 "}]
    )
    assert result.staged["coupon_code"].tolist() == ["AUTUMN10"]

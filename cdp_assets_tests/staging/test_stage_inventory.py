"""`stage_source` on the inventory kind: stock counts per product and store, no person."""

from __future__ import annotations

import pandas as pd

from cdp_assets.contracts.canonical import pii_columns
from cdp_assets.staging import stage_source
from cdp_assets_tests.staging.frames import (
    STAGED_AT,
    assert_conserved,
    assert_contracts,
    make_config,
    raw_frame,
)

INVENTORY = {
    "name": "stock_levels",
    "kind": "inventory",
    "columns": {
        "product_id": "product",
        "store_id": "store",
        "on_hand_units": "on_hand",
        "counted_at": "as_of",
    },
}


def run(rows: list[dict[str, str | None]]):
    config = make_config(INVENTORY)
    raw = raw_frame(rows, file="inventory/stock_2026-11-20.csv")
    result = stage_source(raw, config.sources[0], config, STAGED_AT)
    assert_contracts(result, "inventory")
    assert_conserved(result, raw)
    return result


def test_stock_counts_stage_typed_with_the_online_warehouse_as_an_empty_store() -> None:
    result = run(
        [
            {"product": "P1", "store": "S01", "on_hand": "12", "as_of": "2026-11-20T22:00:00Z"},
            {"product": "P1", "store": "", "on_hand": "340", "as_of": "2026-11-20T22:00:00Z"},
            {"product": "P2", "store": "S02", "on_hand": "0", "as_of": "2026-11-20T22:00:00Z"},
        ]
    )
    staged = result.staged
    assert staged["product_id"].tolist() == ["P1", "P1", "P2"]
    assert staged["store_id"].isna().tolist() == [False, True, False]
    assert staged["on_hand_units"].tolist() == [12, 340, 0]
    assert (staged["counted_at"] == pd.Timestamp("2026-11-20 22:00", tz="UTC")).all()
    # Counts have no id of their own: derived from file and line, unique per row.
    assert staged["record_id"].is_unique
    assert result.quarantine.empty


def test_negative_or_unreadable_counts_are_quarantined_with_the_reason() -> None:
    result = run(
        [
            {"product": "P1", "store": "S01", "on_hand": "-3", "as_of": "2026-11-20T22:00:00Z"},
            {"product": "P2", "store": "S01", "on_hand": "many", "as_of": "2026-11-20T22:00Z"},
            {"product": "P3", "store": "S01", "on_hand": "7", "as_of": "2026-11-20T22:00:00Z"},
        ]
    )
    assert result.staged["product_id"].tolist() == ["P3"]
    rules = sorted(zip(result.quarantine["rule"], result.quarantine["reason"], strict=True))
    assert rules == [
        ("invalid_integer", "on_hand_units 'many' is not a whole number"),
        ("negative_amount", "on_hand_units '-3' is negative"),
    ]


def test_inventory_holds_no_personal_data() -> None:
    assert pii_columns("inventory") == ()

"""Incremental staging: only raw batches not staged yet are staged, with the same tables as a
from-scratch staging of every batch; nothing new costs nothing; a changed config, changed
staging code or the run tag `cdp/full_restage` stage everything again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.defs.ingestion.raw import build_raw_asset, ingest_into_warehouse
from cdp_assets.defs.ingestion.staging import (
    FULL_RESTAGE_TAG,
    build_staging_asset,
    stage_into_warehouse,
)
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.quality.consent import UNCONFIRMED_OPT_IN
from cdp_assets.staging import chunks as staging_chunks
from cdp_assets.staging import increments
from cdp_assets.staging.increments import FULL, INCREMENTAL, NOTHING_NEW
from cdp_assets.warehouse import TableRef, Warehouse

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
T1 = pd.Timestamp("2026-11-01 02:00", tz="UTC")
T2 = pd.Timestamp("2026-11-02 02:00", tz="UTC")
T3 = pd.Timestamp("2026-11-03 02:00", tz="UTC")

ACCOUNTS = {
    "name": "accounts",
    "kind": "customers",
    "format": "csv",
    "path": "accounts/*.csv",
    "default_country": "GB",
    "columns": {
        "source_record_id": "id",
        "email": "email",
        "phone": "phone",
        "city": "city",
        "updated_at": "updated",
        "email_opt_in": "opt_in",
        "email_opt_in_confirmed_at": "confirmed",
    },
}
ORDERS = {
    "name": "orders",
    "kind": "orders",
    "format": "csv",
    "path": "orders/*.csv",
    "columns": {
        "order_id": "id",
        "customer_ref": "customer",
        "ordered_at": "ts",
        "amount": "total",
        "currency": "currency",
    },
}
ACCOUNTS_HEADER = "id,email,phone,city,updated,opt_in,confirmed\n"
ACCOUNTS_1 = ACCOUNTS_HEADER + (
    "c1,anna.smith@example-shop.com,+44 20 7946 0001,Leeds,2026-01-01T10:00:00Z,true,"
    "2026-01-01T10:00:00Z\n"
    "c2,john.brown@example-shop.com,+44 20 7946 0002,York,2026-01-02T10:00:00Z,true,\n"
    "c3,shared.inbox@example-shop.com,not a phone,Bath,2026-01-03T10:00:00Z,false,\n"
    "c4,shared.inbox@example-shop.com,+44 20 7946 0004,Ely,2026-01-04T10:00:00Z,false,\n"
    ",nobody.here@example-shop.com,+44 20 7946 0009,Hull,2026-01-05T10:00:00Z,false,\n"
    "c5,maria.garcia@example-shop.com,+44 20 7946 0005,Hull,2026-01-05T10:00:00Z,false,\n"
    "c5,maria.garcia@example-shop.com,+44 20 7946 0005,Wells,2026-01-04T10:00:00Z,false,\n"
)
ACCOUNTS_2 = ACCOUNTS_HEADER + (
    # a newer version of c2, now confirmed: its old version and set_false issue go
    "c2,john.brown@example-shop.com,+44 20 7946 0002,Hull,2026-02-01T10:00:00Z,true,"
    "2026-02-01T10:00:00Z\n"
    # c3 moves to its own address and a valid phone: c4 no longer shares its email
    "c3,clara.jones@example-shop.com,+44 20 7946 0003,Bath,2026-02-01T10:00:00Z,false,\n"
    # an older version of c5 than the staged one, and c1 without updated_at: both lose
    "c5,maria.garcia@example-shop.com,+44 20 7946 0005,Derby,2025-12-01T10:00:00Z,false,\n"
    "c1,anna.smith@example-shop.com,+44 20 7946 0001,Leeds Centre,,false,\n"
    # new records: c6 shares c1's email (c1 is not re-staged), c7 has a bad timestamp
    "c6,anna.smith@example-shop.com,+44 20 7946 0006,Leeds,2026-02-02T10:00:00Z,false,\n"
    "c7,peter.white@example-shop.com,+44 20 7946 0007,Ripon,yesterday,false,\n"
    ",nobody.else@example-shop.com,+44 20 7946 0008,Hull,2026-02-03T10:00:00Z,false,\n"
)
ORDERS_HEADER = "id,customer,ts,total,currency\n"
ORDERS_1 = ORDERS_HEADER + (
    "o1,c1,2026-10-01T10:00:00Z,10.00,USD\n"
    "o2,c2,2026-10-02T10:00:00Z,20.00,USD\n"
    "o3,c3,2026-10-03T10:00:00Z,-3.00,USD\n"
    "o4,c4,2026-10-04T10:00:00Z,40.00,EUR\n"
    "o2,c2,2026-10-02T10:00:00Z,22.00,USD\n"
    "o5,c5,2026-10-05T10:00:00Z,50.00,XYZ\n"
)
ORDERS_2 = (
    ORDERS_HEADER
    + (
        "o2,c2,2026-10-02T10:00:00Z,25.00,USD\n"  # a third version of o2
        "o3,c3,2026-10-03T10:00:00Z,3.00,USD\n"  # o3 corrected: staged now, its old row stays quarantined
        "o6,c6,2026-10-06T10:00:00Z,60.00,GBP\n"
        "o7,c7,2031-01-01T10:00:00Z,70.00,USD\n"  # in the future: quarantined
        "o8,c1,not a date,80.00,USD\n"
    )
)


def config_of(tmp_path: Path, **quality: object) -> CDPConfig:
    return parse_config(
        {
            "landing_dir": "landing",
            "base_currency": "USD",
            "fx_rates": {"EUR": 1.1, "GBP": 1.25},
            "quality": quality,
            "sources": [ACCOUNTS, ORDERS],
        },
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


def land(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def ingest(wh: Warehouse, config: CDPConfig, batch: str, at: pd.Timestamp) -> None:
    for source in config.sources:
        ingest_into_warehouse(wh, source, config, batch, at)


def stage_all(wh: Warehouse, config: CDPConfig, **kwargs: object) -> dict[str, str]:
    """Stages every source; the mode each one ran in."""
    modes = {}
    for source in config.sources:
        plan, _, _ = stage_into_warehouse(wh, source, config, NOW, **kwargs)
        modes[source.name] = plan.mode
    return modes


def as_set(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
    return frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)


def snapshot(wh: Warehouse, source: str) -> dict[str, pd.DataFrame]:
    """The staged table, the source's staging quarantine and its issues, as row sets."""
    q = TableRef("ops", "quarantine")
    i = TableRef("ops", "data_quality_issues")
    return {
        "staged": as_set(wh.read_table(TableRef("staging", source))),
        "quarantine": as_set(
            wh.read_table(q, where="source = :s AND stage = 'staging'", params={"s": source})
        ),
        "issues": as_set(wh.read_table(i, where="source = :s", params={"s": source})),
    }


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name, frame in a.items():
        pd.testing.assert_frame_equal(b[name], frame, obj=name)


def two_batches(tmp_path: Path, url: str) -> tuple[Warehouse, CDPConfig]:
    """Batch 1 landed, ingested and staged (full); batch 2 landed and ingested."""
    config = config_of(tmp_path)
    wh = Warehouse(url)
    land(tmp_path, "accounts/a.csv", ACCOUNTS_1)
    land(tmp_path, "orders/a.csv", ORDERS_1)
    ingest(wh, config, "b1", T1)
    assert stage_all(wh, config) == {"accounts": FULL, "orders": FULL}
    land(tmp_path, "accounts/b.csv", ACCOUNTS_2)
    land(tmp_path, "orders/b.csv", ORDERS_2)
    ingest(wh, config, "b2", T2)
    return wh, config


def test_an_increment_gives_the_tables_of_a_full_staging(
    tmp_path: Path, warehouse_url: str
) -> None:
    wh, config = two_batches(tmp_path, warehouse_url)
    assert stage_all(wh, config) == {"accounts": INCREMENTAL, "orders": INCREMENTAL}
    incremental = {s.name: snapshot(wh, s.name) for s in config.sources}

    assert stage_all(wh, config, force_full=True) == {"accounts": FULL, "orders": FULL}
    for source in config.sources:
        assert_same(incremental[source.name], snapshot(wh, source.name))

    accounts = incremental["accounts"]
    staged = accounts["staged"].set_index("record_id")
    assert staged["city"].to_dict() == {
        "c1": "Leeds",
        "c2": "Hull",
        "c3": "Bath",
        "c4": "Ely",
        "c5": "Hull",
        "c6": "Leeds",
        "c7": "Ripon",
    }
    assert bool(staged.loc["c2", "email_opt_in"]) is True
    issues = accounts["issues"]
    flagged = issues.loc[issues["rule"] == "duplicate_identifier", ["record_id", "field"]]
    assert sorted(map(tuple, flagged.to_numpy())) == [("c1", "email"), ("c6", "email")]
    by_rule = issues.groupby("rule")["record_id"].apply(sorted).to_dict()
    assert by_rule["superseded_record"] == ["c1", "c2", "c3", "c5", "c5"]
    assert UNCONFIRMED_OPT_IN not in by_rule  # c2's opt-in is confirmed in its new version
    # every superseded version names its record's final winner
    reasons = issues.loc[issues["rule"] == "superseded_record"].set_index("record_id")["reason"]
    assert reasons.loc["c2"].endswith("in accounts/b.csv line 2 (batch b2)")
    assert set(reasons.loc["c5"]) == {
        "record 'c5' is superseded by its latest version, in accounts/a.csv line 7 (batch b1)"
    }
    assert reasons.loc["c1"].endswith("in accounts/a.csv line 2 (batch b1)")
    assert sorted(accounts["quarantine"]["file"]) == ["accounts/a.csv", "accounts/b.csv"]

    orders = incremental["orders"]
    assert orders["staged"].set_index("record_id")["amount"].to_dict() == {
        "o1": 10.0,
        "o2": 25.0,
        "o3": 3.0,
        "o4": 40.0,
        "o5": 50.0,
        "o6": 60.0,
    }
    assert sorted(orders["quarantine"]["rule"]) == [
        "future_date",
        "invalid_date",
        "negative_amount",
    ]


def test_increments_in_chunks_and_a_third_batch_keep_the_same_answers(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging_chunks, "CHUNK_ROWS", 2)  # new rows staged in several chunks
    wh, config = two_batches(tmp_path, warehouse_url)
    assert stage_all(wh, config) == {"accounts": INCREMENTAL, "orders": INCREMENTAL}
    land(tmp_path, "orders/c.csv", ORDERS_HEADER + "o2,c2,2026-10-02T10:00:00Z,27.00,USD\n")
    ingest(wh, config, "b3", T3)
    assert stage_all(wh, config) == {"accounts": NOTHING_NEW, "orders": INCREMENTAL}
    incremental = {s.name: snapshot(wh, s.name) for s in config.sources}
    stage_all(wh, config, force_full=True)
    for source in config.sources:
        assert_same(incremental[source.name], snapshot(wh, source.name))
    staged = incremental["orders"]["staged"].set_index("record_id")
    assert staged.loc["o2", "amount"] == 27.0
    ledger = wh.read_table(increments.STAGED_BATCHES, where="source = 'orders'")
    assert sorted(ledger["batch_id"]) == ["b1", "b2", "b3"]


def test_nothing_new_changes_nothing_and_reads_no_raw_table(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, config = two_batches(tmp_path, warehouse_url)
    stage_all(wh, config)
    before = {s.name: snapshot(wh, s.name) for s in config.sources}
    land(tmp_path, "orders/a_again.csv", ORDERS_1)  # delivered again under another name
    ingest(wh, config, "b3", T3)  # orders: a ledger batch (a duplicate file), no raw row
    assert stage_all(wh, config) == {"accounts": NOTHING_NEW, "orders": NOTHING_NEW}
    ledger = wh.read_table(increments.STAGED_BATCHES, where="source = 'orders'")
    assert dict(zip(ledger["batch_id"], ledger["rows_in"], strict=True)) == {
        "b1": 6,
        "b2": 5,
        "b3": 0,
    }

    def no_raw_scan(*_: object) -> dict[str, int]:
        raise AssertionError("nothing new must not read the raw table")

    monkeypatch.setattr(increments, "_raw_batches", no_raw_scan)
    source = config.source("orders")
    plan, totals, staged = stage_into_warehouse(wh, source, config, NOW)
    assert (plan.mode, plan.reason, totals, staged) == (
        NOTHING_NEW,
        "every ingested batch (ops.ingested_files) is staged already",
        None,
        6,
    )
    for source in config.sources:
        assert_same(before[source.name], snapshot(wh, source.name))


def test_changed_settings_or_code_stage_everything_again(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, config = two_batches(tmp_path, warehouse_url)
    stage_all(wh, config)
    changed = config_of(tmp_path, duplicate_identifier_limit=3)
    source = changed.source("accounts")
    plan, _, _ = stage_into_warehouse(wh, source, changed, NOW)
    assert (plan.mode, plan.reason) == (
        FULL,
        "the source's staging settings in cdp.yaml changed since the last staging",
    )
    issues = snapshot(wh, "accounts")["issues"]
    assert not (issues["rule"] == "duplicate_identifier").any()  # c1, c6: 2 records ≤ 3
    plan, _, _ = stage_into_warehouse(wh, source, changed, NOW)
    assert plan.mode == NOTHING_NEW
    # settings staging never reads change nothing
    trusted = config_of(tmp_path, duplicate_identifier_limit=3)
    assert increments.config_fingerprint(
        trusted.source("accounts").model_copy(update={"trust": 90}), trusted
    ) == increments.config_fingerprint(source, changed)

    monkeypatch.setattr(increments, "staging_code_version", lambda: "another version")
    plan, _, _ = stage_into_warehouse(wh, source, changed, NOW)
    assert (plan.mode, plan.reason) == (FULL, "the staging code changed since the last staging")


def test_the_asset_says_no_new_batches_and_honours_the_full_restage_tag(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path)
    land(tmp_path, "orders/a.csv", ORDERS_1)
    source = config.source("orders")
    assets = [build_raw_asset(source, config), build_staging_asset(source, config)]
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}

    def staging_metadata(**kwargs: object) -> dict[str, object]:
        result = dg.materialize(assets, resources=resources, **kwargs)
        (event,) = [
            e
            for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["staging", "orders"])
        ]
        meta = event.step_materialization_data.materialization.metadata
        return {k: v.value for k, v in meta.items()}

    first = staging_metadata()
    assert (first["staging"], first["rows_in"], first["rows_staged"]) == (FULL, 6, 4)
    again = staging_metadata()
    assert again["staging"] == NOTHING_NEW
    assert (again["rows_in"], again["rows_staged"], again["dagster/row_count"]) == (0, 4, 4)
    forced = staging_metadata(tags={FULL_RESTAGE_TAG: "true"})
    assert (forced["staging"], forced["rows_in"], forced["rows_staged"]) == (FULL, 6, 4)
    assert forced["staging_reason"] == "full re-stage requested (run tag cdp/full_restage)"


def test_a_new_raw_column_stages_everything_again(tmp_path: Path, warehouse_url: str) -> None:
    """Old rows' `attributes` and quarantine payloads hold every raw column: a batch bringing a
    new one re-stages the source, and the old rows' payloads show it (null)."""
    wh, config = two_batches(tmp_path, warehouse_url)
    stage_all(wh, config)
    land(
        tmp_path,
        "accounts/c.csv",
        ACCOUNTS_HEADER.replace("\n", ",favourite_store\n")
        + "c9,zoe.king@example-shop.com,+44 20 7946 0010,York,2026-03-01T10:00:00Z,false,,S1\n",
    )
    ingest(wh, config, "b3", T3)
    source = config.source("accounts")
    plan, _, _ = stage_into_warehouse(wh, source, config, NOW)
    assert (plan.mode, plan.reason) == (
        FULL,
        "raw.accounts has other columns than at the last staging",
    )
    quarantine = snapshot(wh, "accounts")["quarantine"]
    assert quarantine["raw_payload"].str.contains('"favourite_store": null').all()
    staged = snapshot(wh, "accounts")["staged"].set_index("record_id")
    assert staged.loc["c9", "attributes"] == '{"favourite_store":"S1"}'

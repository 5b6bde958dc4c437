"""The raw and staging assets on a warehouse: file-by-file raw batches and chunked staging."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.contracts.canonical import RAW_LINEAGE_DTYPES
from cdp_assets.defs.ingestion.raw import build_raw_asset
from cdp_assets.defs.ingestion.staging import FULL_RESTAGE_TAG, build_staging_asset
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.staging import chunks as staging_chunks
from cdp_assets.warehouse import TableRef, Warehouse

ACCOUNTS = {
    "name": "shop_accounts",
    "kind": "customers",
    "format": "csv",
    "path": "accounts/*.csv",
    "columns": {"source_record_id": "id", "email": "email", "city": "city"},
}
EVENTS = {
    "name": "web_events",
    "kind": "events",
    "format": "jsonl",
    "path": "web/*.jsonl",
    "columns": {"event_id": "id", "event_type": "type", "occurred_at": "ts"},
}


def make_config(tmp_path: Path) -> CDPConfig:
    return parse_config(
        {
            "landing_dir": "landing",
            "as_of": "2026-11-20",
            "quality": {"duplicate_identifier_limit": 2},
            "sources": [ACCOUNTS, EVENTS],
        },
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def land_deliveries(landing: Path) -> None:
    """Accounts and events over several files: later files re-send records (ids written
    differently), add a column, repeat rows exactly; some accounts share an email."""
    accounts = ["id,email,city"] + [
        f"c{i},{'family@home.com' if i % 5 == 0 else f'c{i}@x.com'},Leeds" for i in range(30)
    ]
    write(landing / "accounts" / "a.csv", "\n".join(accounts) + "\n")
    write(
        landing / "accounts" / "b.csv",
        "id,email,city\n c3 ,c3@x.com,York\nc4\u00a0,c4@x.com,Bath\nc1,c1@x.com,Leeds\n",
    )
    write(landing / "accounts" / "c.csv", "id,tier,email,city\nc3,gold,c3@x.com,Hull\n,,,\n")
    events = [
        json.dumps({"id": f"e{i}", "type": "page_view", "ts": "2026-10-01T10:00:00Z"})
        for i in range(40)
    ]
    write(landing / "web" / "1.jsonl", "\n".join(events) + "\nnot json\n")
    resent = [
        json.dumps({"id": " e2", "type": "login", "ts": "2026-10-02T10:00:00Z", "utm": "x"}),
        events[5],  # an exact duplicate of a row of the first file
    ]
    write(landing / "web" / "2.jsonl", "\n".join(resent) + "\n")


def assets_of(config: CDPConfig, layers: tuple[str, ...] = ("raw", "staging")) -> list:
    builders = {"raw": build_raw_asset, "staging": build_staging_asset}
    return [builders[layer](source, config) for source in config.sources for layer in layers]


def materialize(assets: list, url: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, resources={"warehouse": WarehouseResource(url=url)}, raise_on_error=raise_on_error
    )


def tables(url: str) -> dict[str, pd.DataFrame]:
    """Staging tables and this layer's ops rows, sorted (row order is not part of a table)."""
    wh = Warehouse(url)
    refs = [TableRef("staging", s) for s in ("shop_accounts", "web_events")]
    refs += [TableRef("ops", "quarantine"), TableRef("ops", "data_quality_issues")]
    out = {}
    for ref in refs:
        frame = wh.read_table(ref)
        out[str(ref)] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def staging_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    materializations = (
        e.event_specific_data.materialization for e in result.get_asset_materialization_events()
    )
    return {
        m.asset_key.to_user_string(): dict(m.metadata)
        for m in materializations
        if m.asset_key.path[0] == "staging"
    }


def check_results(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], tuple]:
    return {
        (e.asset_key.to_user_string(), e.check_name): (e.passed, dict(e.metadata))
        for e in (
            event.event_specific_data
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
        )
        if e.asset_key.path[0] == "staging"
    }


def test_staging_in_chunks_matches_staging_in_one_piece(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path)
    land_deliveries(tmp_path / "landing")
    whole = materialize(assets_of(config), warehouse_url)
    before = tables(warehouse_url)
    monkeypatch.setattr(staging_chunks, "CHUNK_ROWS", 4)
    # Nothing new landed: staging everything again takes the run tag (staging is incremental).
    chunked = dg.materialize(
        assets_of(config, ("staging",)),
        resources={"warehouse": WarehouseResource(url=warehouse_url)},
        tags={FULL_RESTAGE_TAG: "true"},
    )
    after = tables(warehouse_url)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)

    def but_the_reason(metadata: dict[str, dict]) -> dict[str, dict]:
        return {
            k: {n: v for n, v in m.items() if n != "staging_reason"} for k, m in metadata.items()
        }

    assert but_the_reason(staging_metadata(chunked)) == but_the_reason(staging_metadata(whole))
    assert check_results(chunked) == check_results(whole)
    assert all(passed for passed, _ in check_results(chunked).values())
    # the known answers: latest versions win, shared emails are flagged across chunks
    accounts = after["staging.shop_accounts"].set_index("record_id")
    assert len(accounts) == 30 and accounts.loc["c3", "city"] == "Hull"
    assert accounts.loc["c4", "city"] == "Bath"
    issues = after["ops.data_quality_issues"]
    assert sorted(issues.loc[issues["rule"] == "duplicate_identifier", "record_id"]) == [
        "c0",
        "c10",
        "c15",
        "c20",
        "c25",
        "c5",
    ]
    assert sorted(issues.loc[issues["action"] == "superseded", "record_id"]) == [
        "c3",
        "c3",
        "c4",
        "e2",
    ]
    events = after["staging.web_events"].set_index("record_id")
    assert len(events) == 40 and events.loc["e2", "event_type"] == "login"


def test_raw_batch_is_loaded_file_by_file_with_the_columns_of_one_append(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = make_config(tmp_path)
    land_deliveries(tmp_path / "landing")
    materialize(assets_of(config, ("raw",)), warehouse_url)
    wh = Warehouse(warehouse_url)
    with wh.transaction() as session:
        assert session.columns(TableRef("raw", "web_events")) == [
            *("id", "type", "ts", "utm"),
            *RAW_LINEAGE_DTYPES,
        ]
        assert session.columns(TableRef("raw", "shop_accounts")) == [
            *("id", "email", "city", "tier"),
            *RAW_LINEAGE_DTYPES,
        ]
    ledger = wh.read_table(TableRef("ops", "ingested_files")).set_index("file")
    assert ledger.loc["web/2.jsonl", ["rows_loaded", "exact_duplicates"]].tolist() == [1, 1]
    assert ledger.loc["web/1.jsonl", ["rows_loaded", "rows_quarantined"]].tolist() == [40, 1]
    assert wh.row_count(TableRef("raw", "web_events")) == 41
    # a later batch adds a column after the lineage ones, as an append always did
    write(tmp_path / "landing" / "web" / "3.jsonl", '{"id": "e99", "ref": "r"}\n')
    materialize(assets_of(config, ("raw",))[1:], warehouse_url)
    with wh.transaction() as session:
        assert session.columns(TableRef("raw", "web_events"))[-1] == "ref"


def test_a_file_that_cannot_be_read_rolls_back_the_files_before_it(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = make_config(tmp_path)
    landing = tmp_path / "landing"
    write(landing / "accounts" / "a.csv", "id,email,city\nc1,c1@x.com,Leeds\n")
    write(landing / "accounts" / "b.csv", "id,mail,city\nc2,c2@x.com,York\n")  # no `email`
    result = materialize(assets_of(config, ("raw",))[:1], warehouse_url, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert (
        "column 'email' not found in file accounts/b.csv"
        in failure.event_specific_data.error.message
    )
    wh = Warehouse(warehouse_url)
    assert not wh.table_exists(TableRef("raw", "shop_accounts"))
    assert wh.row_count(TableRef("ops", "ingested_files")) == 0


def raw_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    materializations = (
        e.event_specific_data.materialization for e in result.get_asset_materialization_events()
    )
    return {
        m.asset_key.to_user_string(): dict(m.metadata)
        for m in materializations
        if m.asset_key.path[0] == "raw"
    }


def test_a_path_matching_no_file_warns_naming_the_key(tmp_path: Path, warehouse_url: str) -> None:
    """A misspelt `path` used to load 0 rows from 0 files every night without a word."""
    config = make_config(tmp_path)
    write(tmp_path / "landing" / "web" / "1.jsonl", '{"id": "e1", "type": "login", "ts": "x"}\n')
    result = materialize(assets_of(config, ("raw",)), warehouse_url)
    meta = raw_metadata(result)
    warning = meta["raw/shop_accounts"]["warning"].value
    assert warning == (
        f"sources[0].path: 'accounts/*.csv' matches no file under {tmp_path / 'landing'} "
        "(source shop_accounts)"
    )
    assert "warning" not in meta["raw/web_events"]

    # Files ingested once and then moved out of the landing folder are no mistake.
    write(tmp_path / "landing" / "accounts" / "a.csv", "id,email,city\nc1,c1@x.com,Leeds\n")
    materialize(assets_of(config, ("raw",)), warehouse_url)
    (tmp_path / "landing" / "accounts" / "a.csv").unlink()
    meta = raw_metadata(materialize(assets_of(config, ("raw",)), warehouse_url))
    assert "warning" not in meta["raw/shop_accounts"]


def test_a_missing_landing_folder_warns_naming_the_key(tmp_path: Path, warehouse_url: str) -> None:
    config = make_config(tmp_path)
    meta = raw_metadata(materialize(assets_of(config, ("raw",)), warehouse_url))
    assert meta["raw/web_events"]["warning"].value == (
        f"landing_dir: folder {tmp_path / 'landing'} does not exist (source web_events reads no "
        "file)"
    )


def test_a_mapping_to_a_column_no_ingested_file_has_fails_staging_and_keeps_the_table(
    tmp_path: Path, warehouse_url: str
) -> None:
    """`email: mail` written after the files were ingested (no file has `mail`) used to stage
    successfully with every email empty: all of the source's emails gone, every check
    passing."""
    config = make_config(tmp_path)
    land_deliveries(tmp_path / "landing")
    materialize(assets_of(config), warehouse_url)
    before = tables(warehouse_url)["staging.shop_accounts"]
    assert before["email"].notna().any()

    remapped = parse_config(
        {
            "landing_dir": "landing",
            "as_of": "2026-11-20",
            "quality": {"duplicate_identifier_limit": 2},
            "sources": [ACCOUNTS | {"columns": ACCOUNTS["columns"] | {"email": "mail"}}, EVENTS],
        },
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )
    result = materialize(assets_of(remapped, ("staging",))[:1], warehouse_url, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert (
        "sources[0].columns.email: column 'mail' is in no file of raw.shop_accounts (source "
        "shop_accounts); staging would leave email empty in every row" in message
    )
    assert "(raw.shop_accounts has: id, email, city, tier)" in message
    after = tables(warehouse_url)["staging.shop_accounts"]
    pd.testing.assert_frame_equal(after, before)

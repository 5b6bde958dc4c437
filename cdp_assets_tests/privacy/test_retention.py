"""Retention: aged staged rows go with their raw rows, issues and old quarantine rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.contracts.canonical import (
    ISSUE_DTYPES,
    QUARANTINE_DTYPES,
    RAW_LINEAGE_DTYPES,
    staging_contract,
)
from cdp_assets.defs.privacy import retention as retention_defs
from cdp_assets.defs.privacy.retention import (
    RETENTION_ENFORCED,
    RETENTION_LOG,
    build_retention_asset,
)
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.defs.spec_defaults import with_asset_defaults
from cdp_assets.privacy.retention import apply_retention, retention_cutoff
from cdp_assets.warehouse import TableRef, Warehouse, coerce_frame, dispose_engines
from cdp_assets.warehouse.versions import read_versions

TODAY = dt.date(2026, 11, 20)
CUTOFF = pd.Timestamp("2026-10-21 00:00", tz="UTC")  # 30 days before TODAY, 00:00 UTC
ORDERS_COLUMNS = {"order_id": "id", "ordered_at": "ts", "amount": "total"}


def source(name: str, kind: str = "orders", **extra: Any) -> dict[str, Any]:
    columns = (
        ORDERS_COLUMNS
        if kind == "orders"
        else {"event_id": "id", "event_type": "type", "occurred_at": "ts"}
    )
    return {
        "name": name,
        "kind": kind,
        "format": "csv",
        "path": f"{name}/*.csv",
        "columns": columns,
        **extra,
    }


def make_config(tmp_path: Path) -> CDPConfig:
    """shop_orders keeps 30 days, web_events 7 (but has no tables), pos_orders forever."""
    return parse_config(
        {
            "landing_dir": "landing",
            "as_of": TODAY.isoformat(),
            "sources": [
                source("shop_orders", retention_days=30),
                source("web_events", kind="events", retention_days=7),
                source("pos_orders"),
            ],
        },
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


def ts(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text, tz="UTC")


def staged(src: str, rows: list[tuple[str, str | None, str, int, str]]) -> pd.DataFrame:
    """(record_id, ordered_at, file, line, batch) as staging rows of an orders source."""
    frame = pd.DataFrame(
        [
            {
                "source": src,
                "record_id": rid,
                "order_id": rid,
                "ordered_at": ts(at),
                "amount": 10.0,
                "amount_base": 10.0,
                "_file": file,
                "_line": line,
                "_batch_id": batch,
                "_ingested_at": ts("2026-11-20 06:00"),
            }
            for rid, at, file, line, batch in rows
        ]
    )
    return coerce_frame(frame, staging_contract("orders"))


def raw(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """(id, file, line, batch) as raw rows."""
    frame = pd.DataFrame(
        [
            {
                "id": rid,
                "ts": "2026-01-01",
                "total": "10",
                "_file": file,
                "_line": line,
                "_batch_id": batch,
                "_ingested_at": ts("2026-11-20 06:00"),
                "_row_hash": i,
            }
            for i, (rid, file, line, batch) in enumerate(rows)
        ]
    )
    dtypes = {"id": "string", "ts": "string", "total": "string", **RAW_LINEAGE_DTYPES}
    return coerce_frame(frame, dtypes)


def quarantine(rows: list[tuple[str, str, int, str | None]]) -> pd.DataFrame:
    """(source, stage, line, quarantined_at) as ops.quarantine rows of file a.csv, batch b1."""
    frame = pd.DataFrame(
        [
            {
                "source": src,
                "stage": stage,
                "file": "a.csv",
                "line": line,
                "batch_id": "b1",
                "record_id": None,
                "raw_payload": "{}",
                "rule": "bad_amount",
                "reason": "amount 'x' is not a number",
                "quarantined_at": ts(at),
            }
            for src, stage, line, at in rows
        ]
    )
    return coerce_frame(frame, QUARANTINE_DTYPES)


def issues(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """(source, record_id, line, action) as ops.data_quality_issues rows of a.csv, batch b1."""
    frame = pd.DataFrame(
        [
            {
                "source": src,
                "record_id": rid,
                "file": "a.csv",
                "line": line,
                "batch_id": "b1",
                "field": "order_id" if action == "superseded" else "currency",
                "value": rid,
                "rule": "superseded_record" if action == "superseded" else "unknown_currency",
                "action": action,
                "reason": "...",
            }
            for src, rid, line, action in rows
        ]
    )
    return coerce_frame(frame, ISSUE_DTYPES)


def build_warehouse(url: str) -> Warehouse:
    """shop_orders: o1 (a second before the cutoff) and o3 (January, with a superseded older
    version on line 7) age; o2 (at the cutoff), o4 (no time) and o5 stay. Raw line 2 exists in
    an older batch too, which stays. Raw line 8 is behind an old staging quarantine row, line 9
    behind a recent one. pos_orders has no retention: its January order stays."""
    warehouse = Warehouse(url)
    with warehouse.transaction() as session:
        session.replace_table(
            TableRef("staging", "shop_orders"),
            staged(
                "shop_orders",
                [
                    ("o1", "2026-10-20 23:59:59", "a.csv", 2, "b1"),
                    ("o2", "2026-10-21 00:00:00", "a.csv", 3, "b1"),
                    ("o3", "2026-01-01 12:00", "a.csv", 4, "b1"),
                    ("o4", None, "a.csv", 5, "b1"),
                    ("o5", "2026-11-19 08:00", "a.csv", 6, "b1"),
                ],
            ),
        )
        session.replace_table(
            TableRef("raw", "shop_orders"),
            raw(
                [
                    ("o1", "a.csv", 2, "b0"),
                    ("o1", "a.csv", 2, "b1"),
                    ("o2", "a.csv", 3, "b1"),
                    ("o3", "a.csv", 4, "b1"),
                    ("o4", "a.csv", 5, "b1"),
                    ("o5", "a.csv", 6, "b1"),
                    ("o3", "a.csv", 7, "b1"),
                    ("bad", "a.csv", 8, "b1"),
                    ("bad", "a.csv", 9, "b1"),
                ]
            ),
        )
        session.replace_table(
            TableRef("staging", "pos_orders"),
            staged("pos_orders", [("p1", "2026-01-01 12:00", "p.csv", 2, "b1")]),
        )
        session.replace_table(TableRef("raw", "pos_orders"), raw([("p1", "p.csv", 2, "b1")]))
        session.replace_table(
            TableRef("ops", "quarantine"),
            quarantine(
                [
                    ("shop_orders", "staging", 8, "2026-09-01 06:00"),
                    ("shop_orders", "staging", 9, "2026-11-01 06:00"),
                    ("shop_orders", "ingest", 10, "2026-10-01 06:00"),
                    ("shop_orders", "ingest", 11, None),
                    ("pos_orders", "ingest", 3, "2026-01-01 06:00"),
                ]
            ),
        )
        session.replace_table(
            TableRef("ops", "data_quality_issues"),
            issues(
                [
                    ("shop_orders", "o1", 2, "nulled"),
                    ("shop_orders", "o3", 7, "superseded"),
                    ("shop_orders", "o2", 3, "nulled"),
                    ("pos_orders", "o1", 2, "nulled"),
                ]
            ),
        )
    return warehouse


def deleted_counts(result: pd.DataFrame) -> dict[tuple[str, str], int]:
    return {(r.source, r.table): int(r.rows_deleted) for r in result.itertuples(index=False)}


def lineage(warehouse: Warehouse, ref: TableRef) -> set[tuple[str, int, str]]:
    frame = warehouse.read_table(ref, columns=["_file", "_line", "_batch_id"])
    return {(f, int(n), b) for f, n, b in frame.itertuples(index=False)}


def test_cutoff_is_the_start_of_the_day_in_utc() -> None:
    assert retention_cutoff(30, TODAY) == CUTOFF.to_pydatetime()
    assert retention_cutoff(1, dt.date(2026, 3, 1)) == dt.datetime(2026, 2, 28, tzinfo=dt.UTC)


def test_retention_deletes_exactly_the_aged_rows(warehouse_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    warehouse = build_warehouse(warehouse_url)
    with warehouse.transaction() as session:
        result = apply_retention(session, config, TODAY)

    assert list(result.columns) == ["source", "table", "retention_days", "cutoff", "rows_deleted"]
    assert deleted_counts(result) == {
        ("shop_orders", "raw.shop_orders"): 4,
        ("shop_orders", "staging.shop_orders"): 2,
        ("shop_orders", "ops.data_quality_issues"): 2,
        ("shop_orders", "ops.quarantine"): 2,
        ("web_events", "raw.web_events"): 0,
        ("web_events", "staging.web_events"): 0,
        ("web_events", "ops.data_quality_issues"): 0,
        ("web_events", "ops.quarantine"): 0,
    }
    shop = result[result["source"] == "shop_orders"]
    assert set(shop["cutoff"]) == {CUTOFF}
    assert set(shop["retention_days"]) == {30}
    assert set(result.loc[result["source"] == "web_events", "cutoff"]) == {
        pd.Timestamp("2026-11-13", tz="UTC")
    }

    staged_left = warehouse.read_table(TableRef("staging", "shop_orders"))
    assert sorted(staged_left["record_id"]) == ["o2", "o4", "o5"]  # at the cutoff, no time, new
    assert lineage(warehouse, TableRef("raw", "shop_orders")) == {
        ("a.csv", 2, "b0"),  # same file and line, another batch
        ("a.csv", 3, "b1"),
        ("a.csv", 5, "b1"),
        ("a.csv", 6, "b1"),
        ("a.csv", 9, "b1"),  # behind a recent quarantine row
    }
    left_issues = warehouse.read_table(TableRef("ops", "data_quality_issues"))
    assert sorted(zip(left_issues["source"], left_issues["record_id"], strict=True)) == [
        ("pos_orders", "o1"),
        ("shop_orders", "o2"),
    ]
    left_quarantine = warehouse.read_table(TableRef("ops", "quarantine"))
    assert sorted(zip(left_quarantine["source"], left_quarantine["line"], strict=True)) == [
        ("pos_orders", 3),
        ("shop_orders", 9),
        ("shop_orders", 11),  # no quarantine time: kept
    ]
    # The source without retention is untouched.
    assert warehouse.row_count(TableRef("staging", "pos_orders")) == 1
    assert warehouse.row_count(TableRef("raw", "pos_orders")) == 1


def test_retention_is_idempotent(warehouse_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    warehouse = build_warehouse(warehouse_url)
    with warehouse.transaction() as session:
        first = apply_retention(session, config, TODAY)
    snapshot = {
        str(ref): warehouse.row_count(ref)
        for ref in (
            TableRef("staging", "shop_orders"),
            TableRef("raw", "shop_orders"),
            TableRef("ops", "quarantine"),
            TableRef("ops", "data_quality_issues"),
        )
    }
    with warehouse.transaction() as session:
        second = apply_retention(session, config, TODAY)
    assert int(first["rows_deleted"].sum()) == 10
    assert int(second["rows_deleted"].sum()) == 0
    assert len(second) == len(first)
    assert {ref: warehouse.row_count(TableRef(*ref.split("."))) for ref in snapshot} == snapshot


def test_retention_on_an_empty_warehouse_skips_missing_tables(
    warehouse_url: str, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    warehouse = Warehouse(warehouse_url)
    with warehouse.transaction() as session:
        result = apply_retention(session, config, TODAY)
    assert len(result) == 8
    assert int(result["rows_deleted"].sum()) == 0


def test_no_retention_configured_gives_an_empty_result_and_no_asset(tmp_path: Path) -> None:
    config = parse_config(
        {"landing_dir": "landing", "sources": [source("pos_orders")]},
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    try:
        with warehouse.transaction() as session:
            result = apply_retention(session, config, TODAY)
        assert result.empty
        assert list(result.columns) == [
            "source",
            "table",
            "retention_days",
            "cutoff",
            "rows_deleted",
        ]
        assert build_retention_asset(config) is None
    finally:
        dispose_engines()


def test_retention_asset_deletes_logs_and_checks(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    build_warehouse(url)
    built = build_retention_asset(config)
    assert built is not None
    asset = with_asset_defaults(built, "duckdb")  # as the assembled Definitions hold it
    spec = asset.specs_by_key[dg.AssetKey(["ops", "retention_log"])]
    assert spec.group_name == "privacy"
    assert spec.tags["cdp/layer"] == "ops"
    assert {"python", "duckdb"} <= set(spec.kinds)
    assert {d.asset_key for d in spec.deps} == {
        dg.AssetKey(["raw", "shop_orders"]),
        dg.AssetKey(["staging", "shop_orders"]),
        dg.AssetKey(["raw", "web_events"]),
        dg.AssetKey(["staging", "web_events"]),
    }
    assert asset.op.pool == "warehouse"
    try:
        resources = {"warehouse": WarehouseResource(url=url)}
        first = dg.materialize([asset], resources=resources)
        second = dg.materialize([asset], resources=resources)

        (materialization,) = first.asset_materializations_for_node(asset.op.name)
        meta = materialization.metadata
        assert meta["rows_deleted_total"].value == 10
        logged = meta["dagster/row_count"].value  # one row per table that lost rows
        assert "| shop_orders | raw.shop_orders | 4 |" in meta["rows_deleted"].value
        assert "| shop_orders | orders | ordered_at | 30 | 2026-10-21 |" in meta["policy"].value
        (check,) = first.get_asset_check_evaluations()
        assert check.check_name == RETENTION_ENFORCED
        assert check.passed
        assert check.metadata["aged_rows_shop_orders"].value == 0

        (again,) = second.asset_materializations_for_node(asset.op.name)
        assert again.metadata["rows_deleted_total"].value == 0
        assert again.metadata["dagster/row_count"].value == logged  # nothing new to log

        log = Warehouse(url).read_table(RETENTION_LOG)
        assert len(log) == logged
        assert set(log["run_id"]) == {first.run_id}
        assert {"run_at", "cutoff", "rows_deleted", "table", "source"} <= set(log.columns)
        assert (log["rows_deleted"] > 0).all() and log["rows_deleted"].sum() == 10
        assert log.loc[log["table"] == "raw.shop_orders", "rows_deleted"].tolist() == [4]
    finally:
        dispose_engines()


def test_retention_check_fails_when_aged_rows_remain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check counts what is in the warehouse after the run, not what was deleted: with
    the deletion skipped, it fails and names the aged rows per source."""
    config = make_config(tmp_path)
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    build_warehouse(url)
    monkeypatch.setattr(
        retention_defs,
        "apply_retention",
        lambda session, config, today: apply_retention(session, config, dt.date(2000, 1, 1)),
    )
    asset = build_retention_asset(config)
    assert asset is not None
    try:
        result = dg.materialize([asset], resources={"warehouse": WarehouseResource(url=url)})
        (check,) = result.get_asset_check_evaluations()
        assert not check.passed
        assert check.metadata["aged_rows_shop_orders"].value == 2
        assert check.metadata["aged_rows_web_events"].value == 0
    finally:
        dispose_engines()


@pytest.mark.parametrize("days", [1, 365])
def test_a_shorter_period_deletes_more(days: int, tmp_path: Path) -> None:
    config = parse_config(
        {
            "landing_dir": "landing",
            "sources": [source("shop_orders", retention_days=days)],
        },
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    warehouse = build_warehouse(url)
    try:
        with warehouse.transaction() as session:
            apply_retention(session, config, TODAY)
        left = sorted(warehouse.read_table(TableRef("staging", "shop_orders"))["record_id"])
        # 1 day: the cutoff is 2026-11-19 00:00, so o5 (08:00 that day) stays.
        assert left == (["o4", "o5"] if days == 1 else ["o1", "o2", "o3", "o4", "o5"])
    finally:
        dispose_engines()


def test_retention_gives_new_versions_to_the_tables_it_deleted_from(
    warehouse_url: str, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    warehouse = build_warehouse(warehouse_url)
    tables = ["raw.shop_orders", "staging.shop_orders", "raw.web_events", "staging.web_events"]
    names = [f"table:{t}" for t in tables]

    def versions() -> dict[str, str]:
        with warehouse.transaction() as session:
            return read_versions(session, names)

    before = versions()
    with warehouse.transaction() as session:
        apply_retention(session, config, TODAY)
    after = versions()
    changed = {n for n in names if before.get(n) != after.get(n)}
    # shop_orders lost aged rows; web_events had none past its period (see above).
    assert changed == {"table:raw.shop_orders", "table:staging.shop_orders"}

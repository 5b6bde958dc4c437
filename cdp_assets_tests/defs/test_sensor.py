from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.config import load_config, parse_config, warehouse_url
from cdp_assets.contracts.canonical import LEDGER_DTYPES
from cdp_assets.defs.ingestion.sensors import build_landing_sensor
from cdp_assets.ingest.landing import landing_state, new_arrivals, run_key
from cdp_assets.ingest.ledger import LEDGER_TABLE, content_hash
from cdp_assets.warehouse import Warehouse, dispose_engines


def make_config(tmp_path: Path):
    return parse_config(
        {
            "landing_dir": "landing",
            "sources": [
                {
                    "name": "shop_orders",
                    "kind": "orders",
                    "format": "csv",
                    "path": "orders/*.csv",
                    "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
                },
                {
                    "name": "web_events",
                    "kind": "events",
                    "format": "jsonl",
                    "path": "web/*.jsonl",
                    "columns": {"event_id": "id", "event_type": "type", "occurred_at": "ts"},
                },
                {
                    "name": "crm",
                    "kind": "customers",
                    "format": "sql",
                    "url": "sqlite:///x.db",
                    "table": "contacts",
                    "columns": {"source_record_id": "id"},
                },
            ],
        },
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_new_arrivals_compares_file_identity() -> None:
    previous = {"a": {"x.csv": "10:1"}, "b": {"y.csv": "5:1"}}
    current = {"a": {"x.csv": "10:1", "z.csv": "3:2"}, "b": {"y.csv": "6:9"}, "c": {}}
    assert new_arrivals(previous, current) == {"a": {"z.csv": "3:2"}, "b": {"y.csv": "6:9"}}
    assert new_arrivals(current, current) == {}


def test_run_key_depends_on_files_and_identities_only() -> None:
    files = {"orders/1.csv": "10:1", "orders/2.csv": "20:2"}
    assert run_key("shop_orders", files) == run_key("shop_orders", dict(reversed(files.items())))
    assert run_key("shop_orders", files) != run_key(
        "shop_orders", {**files, "orders/2.csv": "21:3"}
    )
    assert run_key("shop_orders", files).startswith("shop_orders:")


def test_sensor_requests_one_run_per_source_with_new_files(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    landing = tmp_path / "landing"
    write(landing / "orders" / "2026-01.csv", "id,ts,total\n1,2026-01-01,5\n")
    write(landing / "web" / "2026-01-01.jsonl", '{"id": 1}\n')
    write(landing / "orders" / "notes.txt", "not matched by the glob")
    job = dg.define_asset_job("ingest_sources")
    sensor = build_landing_sensor(config, job)

    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert sorted(r.tags["cdp/source"] for r in first.run_requests) == [
            "shop_orders",
            "web_events",
        ]
        orders_request = next(
            r for r in first.run_requests if r.tags["cdp/source"] == "shop_orders"
        )
        assert [k.to_user_string() for k in orders_request.asset_selection] == [
            "raw/shop_orders",
            "staging/shop_orders",
        ]
        cursor = json.loads(first.cursor)
        assert set(cursor) == {"shop_orders", "web_events"}  # sql sources are not watched
        assert list(cursor["shop_orders"]) == ["orders/2026-01.csv"]

        # Same landing folder, cursor returned: nothing to do.
        second = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)
        )
        assert second.run_requests == [] and second.skip_message

        # A new orders file lands: one run for shop_orders only, keyed by the new file.
        new_file = landing / "orders" / "2026-02.csv"
        write(new_file, "id,ts,total\n2,2026-02-01,7\n")
        third = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)
        )
        assert [r.tags["cdp/source"] for r in third.run_requests] == ["shop_orders"]
        stat = os.stat(new_file)
        assert third.run_requests[0].run_key == run_key(
            "shop_orders", {"orders/2026-02.csv": f"{stat.st_size}:{stat.st_mtime_ns}"}
        )


def test_landing_state_is_empty_without_files(tmp_path: Path) -> None:
    assert landing_state(make_config(tmp_path)) == {"shop_orders": {}, "web_events": {}}


def _ledger_rows(config, rows: list[tuple[str, str, str]]) -> None:
    """Writes ops.ingested_files with (source, file, content_hash) rows."""
    frame = pd.DataFrame(
        {
            column: pd.Series([None] * len(rows), dtype=dtype)
            for column, dtype in LEDGER_DTYPES.items()
        }
    )
    frame["source"] = pd.Series([r[0] for r in rows], dtype="string")
    frame["file"] = pd.Series([r[1] for r in rows], dtype="string")
    frame["content_hash"] = pd.Series([r[2] for r in rows], dtype="string")
    frame["status"] = "ingested"
    warehouse = Warehouse(warehouse_url(config))
    warehouse.replace_table(LEDGER_TABLE, frame)


def test_first_look_skips_files_the_ledger_lists_with_the_same_bytes(tmp_path: Path) -> None:
    """A sensor with no cursor (first tick on a new instance, e.g. `make ui` after `make demo`)
    starts from the ledger: files loaded with the same bytes are not loaded again; a file
    whose bytes changed since, or that the ledger does not list, is."""
    config = make_config(tmp_path)
    landing = tmp_path / "landing"
    loaded, changed = landing / "orders" / "2026-01.csv", landing / "orders" / "2026-02.csv"
    write(loaded, "id,ts,total\n1,2026-01-01,5\n")
    write(changed, "id,ts,total\n2,2026-02-01,7\n")
    write(landing / "web" / "2026-01-01.jsonl", '{"id": 1}\n')
    _ledger_rows(
        config,
        [
            ("shop_orders", "orders/2026-01.csv", content_hash(loaded)),
            ("shop_orders", "orders/2026-02.csv", "sha256-of-an-earlier-version"),
        ],
    )
    dispose_engines()
    sensor = build_landing_sensor(config, dg.define_asset_job("ingest_sources"))
    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    requested = {r.tags["cdp/source"]: r for r in first.run_requests}
    assert set(requested) == {"shop_orders", "web_events"}
    stat = os.stat(changed)
    assert requested["shop_orders"].run_key == run_key(
        "shop_orders", {"orders/2026-02.csv": f"{stat.st_size}:{stat.st_mtime_ns}"}
    )
    # The cursor holds the whole landing state: the loaded file is not requested later either.
    assert set(json.loads(first.cursor)["shop_orders"]) == {
        "orders/2026-01.csv",
        "orders/2026-02.csv",
    }


def test_first_look_waits_while_the_warehouse_cannot_be_read(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write(tmp_path / "landing" / "orders" / "2026-01.csv", "id,ts,total\n1,2026-01-01,5\n")
    _ledger_rows(config, [])
    sensor = build_landing_sensor(config, dg.define_asset_job("ingest_sources"))
    # A writer holds the DuckDB file open (here in this process: a read-only open fails the same way).
    holder = Warehouse(warehouse_url(config)).engine.connect()
    try:
        with dg.instance_for_test() as instance:
            result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    finally:
        holder.close()
        dispose_engines()
    assert result.run_requests == [] and result.cursor is None
    assert "busy" in (result.skip_message or "")


def test_first_look_on_an_unreachable_warehouse_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a warehouse that does not answer, the sensor skipped every tick saying 'the
    warehouse is busy', for ever: the skip now names the warehouse and the driver's reason."""
    monkeypatch.setenv("CDP_WAREHOUSE_URL", "postgresql+psycopg://cdp:s3cret@127.0.0.1:1/cdp")
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    file = tmp_path / "cdp.yaml"
    file.write_text(
        "landing_dir: landing\nsources:\n  - {name: shop_orders, kind: orders, format: csv, "
        "path: orders/*.csv, columns: {order_id: id, ordered_at: ts, amount: total}}\n",
        encoding="utf-8",
    )
    config = load_config(file)
    write(tmp_path / "landing" / "orders" / "2026-01.csv", "id,ts,total\n1,2026-01-01,5\n")
    sensor = build_landing_sensor(config, dg.define_asset_job("ingest_sources"))
    with dg.instance_for_test() as instance:
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    message = result.skip_message or ""
    assert result.run_requests == [] and result.cursor is None
    assert "the warehouse postgresql+psycopg://cdp:***@127.0.0.1:1/cdp cannot be read" in message
    assert "Connection refused" in message and "s3cret" not in message

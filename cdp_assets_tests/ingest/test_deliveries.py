"""The same files delivered twice, and a batch landed in reverse order, end in the same tables
(raw, staging, quarantine), through the real raw and staging steps."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from cdp_assets.config import parse_config
from cdp_assets.defs.ingestion.raw import build_raw_asset
from cdp_assets.defs.ingestion.staging import build_staging_asset
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.warehouse import TableRef, Warehouse

SOURCE = {
    "name": "accounts",
    "kind": "customers",
    "format": "csv",
    "path": "accounts/*.csv",
    "columns": {"source_record_id": "id", "email": "email", "city": "city"},
}
FILES = {
    "a.csv": "id,email,city\nc1,c1@x.com,Leeds\nc2,c2@x.com,York\nbroken\n",
    "b.csv": "id,email,city\nc2,c2@x.com,Hull\nc3,c3@x.com,Bath\nc1,c1@x.com,Leeds\n",
    "c.csv": "id,email,city\nc4,c4@x.com,Ely\nc3,c3@x.com,Bath\n",
}
VOLATILE = {"_batch_id", "_ingested_at", "batch_id", "quarantined_at", "ingested_at", "modified_at"}


def run(tmp_path: Path, url: str) -> None:
    config = parse_config(
        {"landing_dir": "landing", "as_of": "2026-11-20", "sources": [SOURCE]},
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )
    source = config.sources[0]
    assets = [build_raw_asset(source, config), build_staging_asset(source, config)]
    dg.materialize(assets, resources={"warehouse": WarehouseResource(url=url)})


def land(tmp_path: Path, names: list[str], suffix: str = "") -> None:
    folder = tmp_path / "landing" / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        path = folder / name.replace(".csv", f"{suffix}.csv")
        path.write_text(FILES[name])
        os.utime(path, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))


def tables(url: str) -> dict[str, pd.DataFrame]:
    wh = Warehouse(url)
    out = {}
    for ref in (
        TableRef("raw", "accounts"),
        TableRef("staging", "accounts"),
        TableRef("ops", "quarantine"),
    ):
        frame = wh.read_table(ref)
        frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
        out[str(ref)] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def test_the_same_files_delivered_twice_change_nothing(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    land(tmp_path, list(FILES))
    run(tmp_path, url)
    before = tables(url)
    assert len(before["raw.accounts"]) == 5  # 7 good rows, 2 exact duplicates; 1 quarantined
    land(tmp_path, list(FILES))  # the same bytes again (new mtimes)
    land(tmp_path, list(FILES), suffix="_resent")  # and under other names
    run(tmp_path, url)
    after = tables(url)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    led = Warehouse(url).read_table(TableRef("ops", "ingested_files"))
    assert sorted(led.loc[led["status"] == "duplicate_file", "file"]) == [
        f"accounts/{n.replace('.csv', '_resent.csv')}" for n in sorted(FILES)
    ]


def test_a_batch_landed_in_reverse_order_gives_the_same_tables(tmp_path: Path) -> None:
    forward, backward = tmp_path / "forward", tmp_path / "backward"
    land(forward, list(FILES))
    land(backward, list(reversed(FILES)))  # written last-first, mtimes reversed
    run(forward, f"duckdb:///{forward / 'w.duckdb'}")
    run(backward, f"duckdb:///{backward / 'w.duckdb'}")
    a, b = tables(f"duckdb:///{forward / 'w.duckdb'}"), tables(f"duckdb:///{backward / 'w.duckdb'}")
    for name, frame in a.items():
        pd.testing.assert_frame_equal(b[name], frame, obj=name)
    staged = a["staging.accounts"].set_index("record_id")["city"].to_dict()
    assert staged == {"c1": "Leeds", "c2": "Hull", "c3": "Bath", "c4": "Ely"}
    shutil.rmtree(tmp_path / "forward" / "landing")

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from cdp_assets.contracts.canonical import QUARANTINE_DTYPES
from cdp_assets.warehouse import (
    TableRef,
    Warehouse,
    WarehouseError,
    coerce_frame,
    release_duckdb_cache,
)

REF = TableRef("wh_test", "quarantine")


def frame(n: int, offset: int = 0) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "source": [f"s{i % 2}" for i in range(offset, offset + n)],
            "stage": ["ingest"] * n,
            "file": ['orders, "march".csv'] * n,
            "line": list(range(offset + 2, offset + n + 2)),
            "batch_id": ["b1"] * n,
            "record_id": [None] * n,
            "raw_payload": ['{"name": "王小明", "note": "a|b\\nc"}'] * n,
            "rule": ["malformed_line"] * n,
            "reason": ["expected 3 fields, found 4"] * n,
            "quarantined_at": pd.Timestamp("2026-11-20T08:30:00Z"),
        }
    )
    return coerce_frame(df, QUARANTINE_DTYPES)


def test_replace_append_and_read_round_trip(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    assert wh.row_count(REF) == 0
    wh.replace_table(REF, frame(3))
    wh.replace_table(REF, frame(5))  # replaces, does not add
    assert wh.row_count(REF) == 5
    with wh.transaction() as session:
        session.append(REF, frame(2, offset=5).assign(extra=pd.Series(["x", None], dtype="string")))
        assert session.columns(REF)[-1] == "extra"
    back = wh.read_table(REF, dtypes=QUARANTINE_DTYPES).sort_values("line").reset_index(drop=True)
    assert len(back) == 7
    assert back["line"].tolist() == list(range(2, 9))
    assert back.loc[0, "raw_payload"] == '{"name": "王小明", "note": "a|b\\nc"}'
    assert back.loc[0, "file"] == 'orders, "march".csv'
    assert pd.isna(back.loc[0, "record_id"])
    assert back.loc[0, "quarantined_at"] == pd.Timestamp("2026-11-20T08:30:00Z")
    assert {c: str(t) for c, t in back.dtypes.items()} == {
        c: str(pd.api.types.pandas_dtype(t)) for c, t in QUARANTINE_DTYPES.items()
    }


def test_failed_transaction_changes_nothing(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(REF, frame(4))
    with pytest.raises(RuntimeError, match="boom"), wh.transaction() as session:
        session.replace_table(REF, frame(1))
        session.append(TableRef("wh_test", "other"), frame(2))
        raise RuntimeError("boom")
    assert wh.row_count(REF) == 4
    assert not wh.table_exists(TableRef("wh_test", "other"))


def test_delete_where_and_parameterised_query(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(REF, frame(6))
    with wh.transaction() as session:
        session.delete_where(REF, "source = :s", {"s": "s0"})
    counts = wh.query(
        f"SELECT source, COUNT(*) AS n FROM {REF.sql} WHERE line > :l GROUP BY source", {"l": 0}
    )
    assert counts.to_dict("records") == [{"source": "s1", "n": 3}]


def test_missing_table_reads_as_empty_contract_or_errors(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    empty = wh.read_table(TableRef("wh_test", "absent"), dtypes=QUARANTINE_DTYPES)
    assert list(empty.columns) == list(QUARANTINE_DTYPES) and empty.empty
    with pytest.raises(WarehouseError, match="wh_test.absent does not exist"):
        wh.read_table(TableRef("wh_test", "absent"))


def test_identifiers_are_validated() -> None:
    with pytest.raises(WarehouseError, match="invalid table name"):
        TableRef("raw", "orders; DROP TABLE x")


def test_duckdb_warehouse_folder_is_created_on_first_use(tmp_path) -> None:
    path = tmp_path / "not" / "yet" / "cdp.duckdb"
    wh = Warehouse(f"duckdb:///{path}")
    with wh.transaction() as session:
        session.replace_table(REF, frame(3))
    assert path.exists()
    assert wh.row_count(REF) == 3


def test_read_batches_streams_typed_record_batches(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(REF, frame(7))
    with wh.transaction() as session:
        schema = session.arrow_schema(REF)
        batches = list(session.read_batches(REF, batch_rows=3))
    assert schema.field("line").type == pa.int64()
    assert schema.field("quarantined_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("record_id").type == pa.string()
    assert sum(b.num_rows for b in batches) == 7 and max(b.num_rows for b in batches) <= 3
    assert all(b.schema.equals(schema) for b in batches)  # an all-null column is still text
    back = pa.Table.from_batches(batches).to_pandas().sort_values("line")
    assert back["line"].tolist() == list(range(2, 9))
    assert back["raw_payload"].iloc[0] == '{"name": "王小明", "note": "a|b\\nc"}'
    assert back["quarantined_at"].iloc[0] == pd.Timestamp("2026-11-20T08:30:00Z")


def test_replacement_written_in_chunks_swaps_in_at_the_end_or_not_at_all(
    warehouse_url: str,
) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(REF, frame(4))
    with pytest.raises(RuntimeError, match="boom"), wh.transaction() as session:
        replacement = session.replacement(REF)
        replacement.append(frame(2))
        replacement.append(frame(3, offset=2))
        raise RuntimeError("boom")
    assert wh.row_count(REF) == 4
    with wh.transaction() as session:
        replacement = session.replacement(REF)
        replacement.append(frame(0))  # an empty first chunk fixes the columns all the same
        replacement.append(frame(2))
        replacement.append(frame(3, offset=2))
        assert session.row_count(REF) == 4  # the old table until the swap
        assert replacement.finish() == 5
    back = wh.read_table(REF, dtypes=QUARANTINE_DTYPES)
    assert sorted(back["line"]) == list(range(2, 7))
    assert not wh.table_exists(TableRef("wh_test", "_new_quarantine"))


def test_order_columns_rebuilds_the_table_in_the_given_order(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(REF, frame(3))
    with wh.transaction() as session:
        session.append(REF, frame(1, offset=3).assign(extra=pd.Series(["x"], dtype="string")))
        order = ["extra", *QUARANTINE_DTYPES]
        session.order_columns(REF, order)
        assert session.columns(REF) == order
    back = wh.read_table(REF).sort_values("line")
    assert list(back.columns) == order and back["extra"].isna().tolist() == [True] * 3 + [False]


def test_a_read_only_warehouse_reads_but_cannot_write(warehouse_url: str) -> None:
    from cdp_assets.warehouse import dispose_engines

    Warehouse(warehouse_url).replace_table(REF, frame(3))
    dispose_engines()  # DuckDB: one process opens a file either read-only or for writing
    reader = Warehouse(warehouse_url, read_only=True)
    assert reader.row_count(REF) == 3
    with pytest.raises(Exception, match="(?i)read.only"):
        reader.replace_table(REF, frame(1))
    with pytest.raises(Exception, match="(?i)read.only"), reader.transaction() as session:
        session.append(REF, frame(1))
    dispose_engines()
    assert Warehouse(warehouse_url).row_count(REF) == 3


def _duckdb_buffer_bytes(wh: Warehouse) -> int:
    return int(wh.query("SELECT SUM(memory_usage_bytes) AS b FROM duckdb_memory()")["b"].iloc[0])


def test_releasing_the_duckdb_cache_frees_earlier_reads_and_keeps_the_data(tmp_path) -> None:
    url = f"duckdb:///{tmp_path / 'cache.duckdb'}"
    wh = Warehouse(url)
    rows = 200_000
    payloads = pd.Series([f"{i * 7_919 % 1_000_003:x}-{i}" for i in range(rows)], dtype="string")
    wh.replace_table(REF, frame(rows).assign(raw_payload=payloads))  # little to compress
    wh.engine.dispose()  # start from a pool that holds only what the read below caches
    before = wh.read_table(REF, dtypes=QUARANTINE_DTYPES)
    cached = _duckdb_buffer_bytes(wh)
    assert cached > 1_000_000  # the read's blocks stay in DuckDB's buffer pool

    assert release_duckdb_cache(url, above_bytes=cached + 1) == 0  # under the limit: kept
    assert _duckdb_buffer_bytes(wh) == cached

    assert release_duckdb_cache(url, above_bytes=1_000_000) == cached
    assert _duckdb_buffer_bytes(Warehouse(url)) < cached / 4  # a new pool: metadata only
    after = Warehouse(url).read_table(REF, dtypes=QUARANTINE_DTYPES)
    pd.testing.assert_frame_equal(after, before)


def test_releasing_the_duckdb_cache_leaves_other_warehouses_alone(warehouse_url: str) -> None:
    Warehouse(warehouse_url).replace_table(REF, frame(3))
    if not warehouse_url.startswith("duckdb"):
        assert release_duckdb_cache(warehouse_url, above_bytes=0) == 0
    assert release_duckdb_cache("duckdb:////nowhere/never-opened.duckdb", above_bytes=0) == 0
    assert Warehouse(warehouse_url).row_count(REF) == 3

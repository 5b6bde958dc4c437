"""Staging in chunks: record keys, chunk assignment, and the same outcome as one piece."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cdp_assets.staging import stage_source
from cdp_assets.staging.chunks import (
    RawChunks,
    StagingTotals,
    check_chunk,
    chunk_count,
    chunks_of_keys,
    record_keys,
)
from cdp_assets.staging.stage import StagingResult, shared_identifier_issues
from cdp_assets_tests.staging.frames import STAGED_AT, T0, make_config, raw_frame

ORDERS = {
    "name": "shop_orders",
    "kind": "orders",
    "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total", "email": "mail"},
}
CUSTOMERS = {
    "name": "crm",
    "kind": "customers",
    "columns": {"source_record_id": "cid", "email": "email", "phone": "tel"},
    "default_country": "GB",
}
ITEMS = {
    "name": "items",
    "kind": "order_items",
    "columns": {"order_id": "oid", "product_id": "sku", "quantity": "qty", "unit_price": "p"},
}
SURVEYS = {  # no id mapped: ids derive from file and line
    "name": "surveys",
    "kind": "survey_responses",
    "columns": {"submitted_at": "ts", "nps": "nps"},
}


def order(oid: str | None, amount: str, ts: str = "2026-10-01T10:00:00Z") -> dict[str, str | None]:
    return {"id": oid, "ts": ts, "total": amount, "mail": "a@shop.com"}


def orders_raw() -> pd.DataFrame:
    """Three deliveries: later ones re-send some orders (ids written differently), with one
    row without id and one with a bad amount."""
    day1 = [order(f"o{i}", "10") for i in range(1, 21)] + [order(None, "5")]
    day2 = [order(" o3 ", "30"), order("o7\u00a0", "70"), order("o9", "-1")]
    day3 = [order("o3", "300"), order("\u00a0o21", "21")]
    return pd.concat(
        [
            raw_frame(day1, file="day1.csv", batch="b1"),
            raw_frame(day2, file="day2.csv", batch="b2", ingested_at=T0 + pd.Timedelta(hours=1)),
            raw_frame(day3, file="day3.csv", batch="b3", ingested_at=T0 + pd.Timedelta(hours=2)),
        ],
        ignore_index=True,
    )


def batches_of(raw: pd.DataFrame, rows: int = 4) -> tuple[list[pa.RecordBatch], pa.Schema]:
    table = pa.Table.from_pandas(raw, preserve_index=False)
    return table.to_batches(max_chunksize=rows), table.schema


def stage_in_chunks(
    raw: pd.DataFrame, source_dict: dict, count: int, tmp_path: Path, **settings: object
) -> list[StagingResult]:
    config = make_config(source_dict, **settings)
    source = config.sources[0]
    batches, schema = batches_of(raw)
    chunks = RawChunks.split(batches, schema, source, count, tmp_path)
    assert (chunks.count, chunks.rows) == (count, len(raw))
    results = []
    for i, frame in enumerate(chunks.frames()):
        result = stage_source(frame, source, config, STAGED_AT, shared_identifiers=count == 1)
        check_chunk(source, result.staged["record_id"], i, count)
        results.append(result)
    return results


def stage_whole(raw: pd.DataFrame, source_dict: dict, **settings: object) -> StagingResult:
    config = make_config(source_dict, **settings)
    return stage_source(raw, config.sources[0], config, STAGED_AT)


def as_set(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order, for comparing row sets."""
    return frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)


def test_chunk_count() -> None:
    assert [chunk_count(n, 10) for n in (0, 1, 10, 11, 25)] == [1, 1, 1, 2, 3]


def test_record_keys_are_the_record_ids_staging_computes() -> None:
    raw = raw_frame(
        [order(v, "1") for v in (" o1", "o1 ", "\u00a0o1", "Zoë", "Zoe\u0308", "  ", None)]
    )
    source = make_config(ORDERS).sources[0]
    keys = record_keys(raw, source)
    assert keys.tolist()[:5] == ["o1", "o1", "o1", "Zoë", "Zoë"]
    assert keys.iloc[5:].isna().all()

    items = raw_frame([{"oid": " o1", "sku": "p1 ", "qty": "1", "p": "2"}])
    assert record_keys(items, make_config(ITEMS).sources[0]).tolist() == ["o1|p1"]
    surveys = raw_frame([{"ts": "2026-10-01", "nps": "9"}], file="s.csv", first_line=7)
    assert record_keys(surveys, make_config(SURVEYS).sources[0]).tolist() == ["s.csv:7"]


def test_chunks_of_keys_are_stable_in_range_and_null_safe() -> None:
    keys = pd.Series([f"id{i}" for i in range(1000)] + [None], dtype="string")
    chunks = chunks_of_keys(keys, 7)
    assert chunks.min() == 0 and chunks.max() == 6
    assert chunks[-1] == 0  # null key
    assert np.array_equal(chunks, chunks_of_keys(keys.copy(), 7))
    assert np.bincount(chunks[:-1]).min() > 100  # spread over every chunk
    assert not chunks_of_keys(keys, 1).any()
    # text held as several Arrow chunks hashes the same
    chunked = pd.Series(
        pd.arrays.ArrowStringArray(
            pa.chunked_array([pa.array(keys[:500].array), pa.array(keys[500:].array)])
        )
    )
    assert np.array_equal(chunks_of_keys(chunked, 7), chunks)


def test_supersession_across_chunks_matches_one_piece(tmp_path: Path) -> None:
    raw = orders_raw()
    whole = stage_whole(raw, ORDERS)
    parts = stage_in_chunks(raw, ORDERS, 4, tmp_path)
    assert sum(len(p.staged) for p in parts) == len(whole.staged) == 21
    staged = pd.concat([p.staged for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(as_set(staged), as_set(whole.staged))
    issues = pd.concat([p.issues for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(as_set(issues), as_set(whole.issues))
    # the known answer: the latest version of each order wins, wherever its versions are
    amounts = dict(zip(staged["record_id"], staged["amount"], strict=True))
    assert (amounts["o3"], amounts["o7"], amounts["o9"], amounts["o21"]) == (
        300.0,
        70.0,
        10.0,
        21.0,
    )
    superseded = issues[issues["action"] == "superseded"]
    assert sorted(superseded["record_id"]) == ["o3", "o3", "o7"]


def test_shared_identifiers_count_across_chunks(tmp_path: Path) -> None:
    rows = [
        {"cid": f"c{i}", "email": "family@home.com" if i % 4 == 0 else f"c{i}@x.com", "tel": None}
        for i in range(24)
    ]
    rows += [{"cid": "c0", "email": "c0@new.com", "tel": None}]  # supersedes c0: not shared
    raw = raw_frame(rows)
    limit = {"quality": {"duplicate_identifier_limit": 2}}
    whole = stage_whole(raw, CUSTOMERS, **limit)
    parts = stage_in_chunks(raw, CUSTOMERS, 3, tmp_path, **limit)
    assert all(p.identifier_rows is not None for p in parts)
    assert not any((p.issues["rule"] == "duplicate_identifier").any() for p in parts)
    shared = shared_identifier_issues(
        pd.concat([p.identifier_rows for p in parts], ignore_index=True), "crm", 2
    )
    expected = whole.issues[whole.issues["rule"] == "duplicate_identifier"]
    assert sorted(shared["record_id"]) == ["c12", "c16", "c20", "c4", "c8"]
    assert shared["reason"].iloc[0] == (
        "email key 'family@home.com' is shared by 5 records of this source (more than 2)"
    )
    pd.testing.assert_frame_equal(as_set(shared), as_set(expected))
    others = pd.concat([p.issues for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(
        as_set(pd.concat([others, shared], ignore_index=True)), as_set(whole.issues)
    )


def test_totals_merge_chunks_in_recency_order(tmp_path: Path) -> None:
    raw = orders_raw()
    whole = stage_whole(raw, ORDERS)
    totals = StagingTotals()
    for part in stage_in_chunks(raw, ORDERS, 3, tmp_path):
        totals.add(part)
    one = StagingTotals()
    one.add(whole)
    assert (totals.rows_in, totals.rows_staged, totals.superseded, totals.issues) == (
        one.rows_in,
        one.rows_staged,
        one.superseded,
        one.issues,
    )
    assert totals.superseded == whole.superseded == 3
    pd.testing.assert_frame_equal(totals.quarantine, whole.quarantine)
    pd.testing.assert_frame_equal(totals.preview, whole.staged.head(10))
    pd.testing.assert_series_equal(
        totals.issue_counts, whole.issues.groupby(["field", "rule", "action"]).size()
    )


def test_check_chunk_refuses_a_record_in_another_chunk() -> None:
    source = make_config(ORDERS).sources[0]
    ids = pd.Series([f"o{i}" for i in range(50)], dtype="string")
    chunks = chunks_of_keys(ids, 5)
    check_chunk(source, ids[chunks == 2], 2, 5)
    with pytest.raises(RuntimeError, match="hashes to another chunk"):
        check_chunk(source, ids, 2, 5)
    derived = make_config(SURVEYS).sources[0]
    check_chunk(derived, ids, 2, 5)  # derived ids split by file and line: nothing to check


def test_derived_ids_split_by_file_and_line(tmp_path: Path) -> None:
    day1 = [{"ts": "2026-10-01T10:00:00Z", "nps": str(i % 11)} for i in range(12)]
    resent = [{"ts": "2026-10-02T10:00:00Z", "nps": "10"} for _ in range(3)]  # same file name
    raw = pd.concat(
        [
            raw_frame(day1, file="s.csv", batch="b1"),
            raw_frame(resent, file="s.csv", batch="b2", ingested_at=T0 + pd.Timedelta(hours=1)),
        ],
        ignore_index=True,
    )
    whole = stage_whole(raw, SURVEYS)
    parts = stage_in_chunks(raw, SURVEYS, 4, tmp_path)
    assert whole.superseded == sum(p.superseded for p in parts) == 3
    staged = pd.concat([p.staged for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(as_set(staged), as_set(whole.staged))


def test_one_chunk_is_read_into_memory_and_empty_tables_keep_their_columns(
    tmp_path: Path,
) -> None:
    raw = orders_raw()
    source = make_config(ORDERS).sources[0]
    batches, schema = batches_of(raw)
    chunks = RawChunks.split(batches, schema, source, 1, tmp_path)
    (frame,) = list(chunks.frames())
    assert len(frame) == len(raw) and not list(tmp_path.iterdir())
    empty = RawChunks.split([], schema, source, 3, tmp_path)
    (frame,) = list(empty.frames())
    assert list(frame.columns) == list(raw.columns) and frame.empty

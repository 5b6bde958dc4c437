"""Ingestion batches: ledger, duplicate files, exact duplicates, conservation, errors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdp_assets.contracts.canonical import LEDGER_DTYPES, QUARANTINE_DTYPES, RAW_LINEAGE_DTYPES
from cdp_assets.ingest import (
    IngestBatch,
    SourceReadError,
    content_hash,
    discover_files,
    frame_content_hash,
    ingest_source,
    row_hashes,
)
from cdp_assets.ingest.row_hash import SortedHashSet
from cdp_assets_tests.ingest.helpers import csv_source, make_config, write

BATCH = "b1"
AT = pd.Timestamp("2026-01-02T03:04:05Z")
EMPTY_LEDGER = pd.DataFrame({c: pd.Series(dtype=d) for c, d in LEDGER_DTYPES.items()})


def config_with(tmp_path: Path, *sources):
    return make_config(tmp_path, *(sources or (csv_source(),)))


def ingest(config, ledger=EMPTY_LEDGER, known=None, batch_id=BATCH, at=AT) -> IngestBatch:
    return ingest_source(
        config.sources[0],
        config,
        ledger=ledger,
        known_row_hashes=np.array([], dtype="int64") if known is None else known,
        batch_id=batch_id,
        ingested_at=at,
    )


def accounts(tmp_path: Path, name: str, content: str) -> Path:
    return write(tmp_path / "landing" / "shop_accounts" / name, content)


def assert_conserved(batch: IngestBatch) -> None:
    ledger = batch.ledger
    assert (
        ledger["rows_read"]
        == ledger["rows_loaded"] + ledger["rows_quarantined"] + ledger["exact_duplicates"]
    ).all()
    assert int(ledger["rows_loaded"].sum()) == len(batch.rows)
    assert int(ledger["rows_quarantined"].sum()) == len(batch.quarantine)


def test_batch_rows_lineage_quarantine_and_ledger(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    accounts(tmp_path, "2026-01-01.csv", "id,email\n1,a@x.com\n2,b@x.com,oops\n3,c@x.com\n")
    batch = ingest(config)
    assert list(batch.rows.columns) == ["id", "email", *RAW_LINEAGE_DTYPES]
    assert batch.rows.dtypes.astype(str).to_dict() == {
        "id": "string",
        "email": "string",
        **{c: str(pd.Series(dtype=d).dtype) for c, d in RAW_LINEAGE_DTYPES.items()},
    }
    assert batch.rows[["id", "_file", "_line", "_batch_id"]].values.tolist() == [
        ["1", "shop_accounts/2026-01-01.csv", 2, BATCH],
        ["3", "shop_accounts/2026-01-01.csv", 4, BATCH],
    ]
    assert (batch.rows["_ingested_at"] == AT).all()

    assert list(batch.quarantine.columns) == list(QUARANTINE_DTYPES)
    q = batch.quarantine.iloc[0]
    assert (q["source"], q["stage"], q["file"], q["line"], q["batch_id"], q["rule"]) == (
        "shop_accounts",
        "ingest",
        "shop_accounts/2026-01-01.csv",
        3,
        BATCH,
        "malformed_line",
    )
    assert q["raw_payload"] == "2,b@x.com,oops"
    assert q["reason"] == "expected 2 fields, found 3"
    assert pd.isna(q["record_id"]) and q["quarantined_at"] == AT

    assert list(batch.ledger.columns) == list(LEDGER_DTYPES)
    row = batch.ledger.iloc[0]
    path = tmp_path / "landing" / "shop_accounts" / "2026-01-01.csv"
    assert row["content_hash"] == content_hash(path)
    assert (row["status"], row["encoding"], row["size_bytes"]) == (
        "ingested",
        "utf-8",
        path.stat().st_size,
    )
    assert (
        row["rows_read"],
        row["rows_loaded"],
        row["rows_quarantined"],
        row["exact_duplicates"],
    ) == (3, 2, 1, 0)
    assert batch.counts == {
        "files_ingested": 1,
        "duplicate_files": 0,
        "rows_read": 3,
        "rows_loaded": 2,
        "rows_quarantined": 1,
        "exact_duplicates": 0,
        "rows_suppressed": 0,
    }
    assert_conserved(batch)


def test_missing_mapped_column_error_names_key_file_and_source(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {
            "name": "web_events",
            "kind": "events",
            "format": "jsonl",
            "path": "web/*.jsonl",
            "columns": {"event_id": "id", "event_type": "type", "occurred_at": "ts"},
        },
        {
            "name": "pos",
            "kind": "orders",
            "format": "csv",
            "path": "pos/*.csv",
            "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
        },
        {
            "name": "loyalty",
            "kind": "customers",
            "format": "csv",
            "path": "loyalty/*.csv",
            "columns": {"source_record_id": "id"},
        },
        csv_source(columns={"source_record_id": "id", "email": "mail"}),
    )
    accounts(tmp_path, "2026-01-01.csv", "id,mail\n1,a@x.com\n")
    accounts(tmp_path, "2026-01-02.csv", "id,email\n1,a@x.com\n")
    source = config.sources[3]
    with pytest.raises(SourceReadError) as err:
        ingest_source(
            source,
            config,
            ledger=EMPTY_LEDGER,
            known_row_hashes=set(),
            batch_id=BATCH,
            ingested_at=AT,
        )
    assert str(err.value) == (
        "sources[3].columns.email: column 'mail' not found in file "
        "shop_accounts/2026-01-02.csv (source shop_accounts)"
    )


def test_jsonl_mapped_key_may_be_absent_from_a_file_but_not_from_every_file(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path,
        {
            "name": "web_events",
            "kind": "events",
            "format": "jsonl",
            "path": "web/*.jsonl",
            "columns": {"event_id": "id", "event_type": "type", "occurred_at": "ts"},
        },
    )
    web = tmp_path / "landing" / "web"
    write(web / "a.jsonl", '{"id": 1, "type": "x"}\n')
    with pytest.raises(
        SourceReadError,
        match=r"^sources\[0\]\.columns\.occurred_at: column 'ts' "
        r"not found in any new file \(web/a\.jsonl\) \(source web_events\)$",
    ):
        ingest(config)

    # Keys are omitted when null: `ts` in one file of the batch is enough, the rest are null.
    write(web / "b.jsonl", '{"id": 2, "ts": "t"}\n')
    first = ingest(config)
    assert first.rows[["id", "type", "ts"]].astype(object).where(
        first.rows[["id", "type", "ts"]].notna(), None
    ).values.tolist() == [["1", "x", None], ["2", None, "t"]]

    # A later file without `ts` is fine once raw.web_events has the column.
    write(web / "c.jsonl", '{"id": 3, "type": "y"}\n')
    later = ingest_source(
        config.sources[0],
        config,
        ledger=first.ledger,
        known_row_hashes=first.rows["_row_hash"].to_numpy(),
        batch_id=BATCH,
        ingested_at=AT,
        known_columns=list(first.rows.columns),
    )
    assert later.rows["id"].tolist() == ["3"] and "ts" not in later.rows.columns


def test_already_ingested_file_is_skipped_and_changed_file_is_read(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    path = accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n")
    first = ingest(config)
    second = ingest(config, ledger=first.ledger, known=first.rows["_row_hash"].to_numpy())
    assert len(second.rows) == 0 and len(second.ledger) == 0 and len(second.quarantine) == 0

    path.write_text("id,email\n1,a@x.com\n2,b@x.com\n")  # same name, new content
    third = ingest(config, ledger=first.ledger, known=first.rows["_row_hash"].to_numpy())
    assert third.rows["id"].tolist() == ["2"]
    assert third.ledger[
        ["file", "status", "rows_read", "rows_loaded", "exact_duplicates"]
    ].values.tolist() == [["shop_accounts/a.csv", "ingested", 2, 1, 1]]
    assert_conserved(third)


def test_duplicate_delivery_under_another_name(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    content = "id,email\n1,a@x.com\n"
    accounts(tmp_path, "2026-01-01.csv", content)
    first = ingest(config)
    accounts(tmp_path, "2026-01-01-resent.csv", content)
    accounts(tmp_path, "2026-01-02.csv", "id,email\n2,b@x.com\n")
    accounts(tmp_path, "2026-01-03-copy.csv", "id,email\n2,b@x.com\n")  # twice in one batch
    second = ingest(config, ledger=first.ledger, known=first.rows["_row_hash"].to_numpy())
    got = second.ledger[["file", "status", "duplicate_of", "rows_read"]].astype(object)
    assert got.where(got.notna(), None).values.tolist() == [
        [
            "shop_accounts/2026-01-01-resent.csv",
            "duplicate_file",
            "shop_accounts/2026-01-01.csv",
            0,
        ],
        ["shop_accounts/2026-01-02.csv", "ingested", None, 1],
        ["shop_accounts/2026-01-03-copy.csv", "duplicate_file", "shop_accounts/2026-01-02.csv", 0],
    ]
    assert second.rows["_file"].tolist() == ["shop_accounts/2026-01-02.csv"]
    assert (second.files_ingested, second.duplicate_files) == (1, 2)
    # The duplicate is in the ledger now: not reported again.
    ledger = pd.concat([first.ledger, second.ledger], ignore_index=True)
    third = ingest(config, ledger=ledger)
    assert len(third.ledger) == 0


def test_exact_duplicate_rows_are_dropped_and_counted_per_file(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n1,a@x.com\n2,b@x.com\n")
    accounts(tmp_path, "b.csv", "email,id\nb@x.com,2\nc@x.com,3,extra\nd@x.com,4\n")
    known = row_hashes(
        pd.DataFrame({"id": ["4"], "email": ["d@x.com"]}, dtype="string"), ["id", "email"]
    )
    batch = ingest(config, known=set(known.tolist()))
    assert batch.rows[["id", "_file", "_line"]].values.tolist() == [
        ["1", "shop_accounts/a.csv", 2],
        ["2", "shop_accounts/a.csv", 4],
    ]
    assert batch.ledger[
        ["rows_read", "rows_loaded", "rows_quarantined", "exact_duplicates"]
    ].values.tolist() == [
        [3, 2, 0, 1],
        [3, 0, 1, 2],
    ]
    assert batch.exact_duplicates == 3
    assert_conserved(batch)


def test_row_hashes_are_stable_and_ignore_column_order_and_missing_values() -> None:
    a = pd.DataFrame({"id": ["1", "2", None], "email": ["a@x.com", "", "c"]}, dtype="string")
    b = pd.DataFrame(
        {"email": ["a@x.com", "", "c"], "id": ["1", "2", None], "x": [None] * 3}, dtype="string"
    )
    ha = row_hashes(a, ["id", "email"])
    assert ha.dtype == np.int64
    assert ha.tolist() == row_hashes(b, ["email", "id", "x"]).tolist()
    assert len(set(ha.tolist())) == 3
    # Fixed algorithm: the value for a known row never changes across runs or versions.
    assert ha[0] == row_hashes(a.iloc[[0]], ["id", "email"])[0]
    assert ha[0] == -7995654936052262631
    swapped = pd.DataFrame({"id": ["a@x.com"], "email": ["1"]}, dtype="string")
    assert row_hashes(swapped, ["id", "email"])[0] != ha[0]
    long = pd.DataFrame({"v": ["x" * 17, "x" * 16 + "y", "x" * 16]}, dtype="string")
    assert len(set(row_hashes(long, ["v"]).tolist())) == 3


def test_batches_are_deterministic(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n2,b,c\n")
    accounts(tmp_path, "b.csv", "id,email\n3,c@x.com\n")
    first, second = ingest(config), ingest(config)
    pd.testing.assert_frame_equal(first.rows, second.rows)
    pd.testing.assert_frame_equal(first.quarantine, second.quarantine)
    pd.testing.assert_frame_equal(first.ledger, second.ledger)


def test_union_of_columns_and_lineage_name_collisions(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    accounts(tmp_path, "a.csv", "id,email,_line\n1,a@x.com,7\n")
    accounts(tmp_path, "b.csv", "id,email,tier\n2,b@x.com,gold\n")
    batch = ingest(config)
    assert list(batch.rows.columns) == ["id", "email", "src__line", "tier", *RAW_LINEAGE_DTYPES]
    values = batch.rows[["id", "src__line", "tier", "_line"]].astype(object)
    assert values.where(values.notna(), None).values.tolist() == [
        ["1", "7", None, 2],
        ["2", None, "gold", 2],
    ]


def test_discover_files_sorted_files_only(tmp_path: Path) -> None:
    config = make_config(tmp_path, csv_source(path="shop_accounts/**/*.csv"))
    landing = tmp_path / "landing"
    accounts(tmp_path, "b.csv", "x")
    accounts(tmp_path, "2026/a.csv", "x")
    accounts(tmp_path, ".partial.csv", "x")
    (landing / "shop_accounts" / "dir.csv").mkdir()
    found = [p.relative_to(landing).as_posix() for p in discover_files(landing, config.sources[0])]
    assert found == ["shop_accounts/2026/a.csv", "shop_accounts/b.csv"]
    assert discover_files(tmp_path / "missing", config.sources[0]) == []


def test_sql_snapshot_ingested_once(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE contacts (id TEXT, email TEXT)")
        conn.executemany(
            "INSERT INTO contacts VALUES (?, ?)", [("c1", "a@x.com"), ("c2", "b@x.com")]
        )
    config = make_config(
        tmp_path,
        {
            "name": "crm",
            "kind": "customers",
            "format": "sql",
            "url": f"sqlite:///{db}",
            "table": "contacts",
            "columns": {"source_record_id": "id"},
        },
    )
    first = ingest(config)
    assert first.rows[["id", "_file", "_line"]].values.tolist() == [
        ["c1", "sql:crm", 1],
        ["c2", "sql:crm", 2],
    ]
    assert first.ledger[["file", "status", "rows_loaded"]].values.tolist() == [
        ["sql:crm", "ingested", 2]
    ]
    assert pd.isna(first.ledger.loc[0, "size_bytes"])
    again = ingest(config, ledger=first.ledger, known=first.rows["_row_hash"].to_numpy())
    assert len(again.rows) == 0 and len(again.ledger) == 0

    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO contacts VALUES ('c3', 'c@x.com')")
    third = ingest(config, ledger=first.ledger, known=first.rows["_row_hash"].to_numpy())
    assert third.rows["id"].tolist() == ["c3"]
    assert third.ledger[["rows_read", "rows_loaded", "exact_duplicates"]].values.tolist() == [
        [3, 1, 2]
    ]


def test_frame_content_hash_ignores_row_and_column_order() -> None:
    a = pd.DataFrame({"id": ["1", "2"], "email": ["a", None]}, dtype="string")
    b = pd.DataFrame({"email": [None, "a"], "id": ["2", "1"]}, dtype="string")
    assert frame_content_hash(a) == frame_content_hash(b)
    assert frame_content_hash(a) != frame_content_hash(a.iloc[:1])
    assert len(frame_content_hash(a)) == 64


def test_modified_at_is_the_file_mtime(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    path = accounts(tmp_path, "a.csv", "id,email\n1,a\n")
    os.utime(path, ns=(1_767_225_600_000_000_000, 1_767_225_600_000_000_000))
    batch = ingest(config)
    assert batch.ledger.loc[0, "modified_at"] == pd.Timestamp("2026-01-01T00:00:00Z")
    assert str(batch.ledger["modified_at"].dtype) == "datetime64[us, UTC]"


def test_sql_column_named_like_lineage_is_mapped_and_renamed(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE contacts ("_id" TEXT, email TEXT)')
        conn.execute("INSERT INTO contacts VALUES ('c1', 'a@x.com')")
    config = make_config(
        tmp_path,
        {
            "name": "crm",
            "kind": "customers",
            "format": "sql",
            "url": f"sqlite:///{db}",
            "query": "SELECT * FROM contacts",
            "columns": {"source_record_id": "_id"},
        },
    )
    batch = ingest(config)
    assert batch.rows[["src__id", "email", "_line"]].values.tolist() == [["c1", "a@x.com", 1]]


def test_nothing_landed_gives_an_empty_typed_batch(tmp_path: Path) -> None:
    batch = ingest(config_with(tmp_path))
    assert len(batch.rows) == len(batch.quarantine) == len(batch.ledger) == 0
    assert list(batch.rows.columns) == list(RAW_LINEAGE_DTYPES)
    assert batch.rows.dtypes.astype(str).tolist() == [
        str(pd.Series(dtype=d).dtype) for d in RAW_LINEAGE_DTYPES.values()
    ]
    assert list(batch.ledger.columns) == list(LEDGER_DTYPES)
    assert batch.counts["rows_read"] == 0


def test_files_go_to_the_sink_one_at_a_time_with_the_columns_seen_so_far(
    tmp_path: Path,
) -> None:
    config = config_with(tmp_path)
    accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n2,b@x.com\n")
    accounts(tmp_path, "b.csv", "id,email,tier\n2,b@x.com,\n3,c@x.com,gold\n3,c@x.com,gold\n")
    accounts(tmp_path, "c.csv", "note,id,email\n,1,a@x.com\n")  # only an exact duplicate
    parts: list[pd.DataFrame] = []
    streamed = ingest_source(
        config.sources[0],
        config,
        ledger=EMPTY_LEDGER,
        known_row_hashes=np.array([], dtype="int64"),
        batch_id=BATCH,
        ingested_at=AT,
        sink=parts.append,
    )
    collected = ingest(config)
    assert [list(p.columns) for p in parts] == [
        ["id", "email", *RAW_LINEAGE_DTYPES],
        ["id", "email", "tier", *RAW_LINEAGE_DTYPES],
    ]
    assert streamed.columns == collected.columns == ["id", "email", "tier", "note"]
    assert streamed.rows.empty and list(streamed.rows.columns) == list(collected.rows.columns)
    # the duplicate of a.csv's row in b.csv and the repeated row within b.csv are dropped
    assert collected.rows[["id", "_file"]].values.tolist() == [
        ["1", "shop_accounts/a.csv"],
        ["2", "shop_accounts/a.csv"],
        ["3", "shop_accounts/b.csv"],
    ]
    together = pd.concat(parts, ignore_index=True)
    together = together.reindex(columns=collected.rows.columns).astype(collected.rows.dtypes)
    pd.testing.assert_frame_equal(together, collected.rows)
    pd.testing.assert_frame_equal(streamed.ledger, collected.ledger)
    assert streamed.ledger["exact_duplicates"].tolist() == [0, 2, 1]
    assert streamed.counts == collected.counts


def test_sorted_hash_set_membership() -> None:
    seen = SortedHashSet(np.array([5, -3, 5, 2**62], dtype=np.int64))
    assert seen.contains(np.array([5, 4, -3, 2**62, 0])).tolist() == [
        True,
        False,
        True,
        True,
        False,
    ]
    rng = np.random.default_rng(7)
    expected = {5, -3, 2**62}
    for _ in range(50):
        values = rng.integers(-500, 500, rng.integers(0, 60))
        found = seen.contains(values)
        assert found.tolist() == [int(v) in expected for v in values]
        seen.add(values)
        expected |= {int(v) for v in values}
    assert not SortedHashSet().contains(np.array([1, 2])).any()


class _Unreadable:
    """Known row hashes that fail whoever reads them."""

    def __array__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        raise AssertionError("the known row hashes were read")

    def __iter__(self):  # noqa: ANN204
        raise AssertionError("the known row hashes were read")


def test_a_night_with_no_new_file_does_not_read_the_known_row_hashes(tmp_path: Path) -> None:
    """The raw table's row hashes (6.7 million for a large brand's web events) matter only to
    tell exact duplicates among new rows: with no new file they are not converted at all."""
    config = config_with(tmp_path)
    accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n")
    first = ingest(config)
    unreadable = _Unreadable()
    nothing = ingest(config, ledger=first.ledger, known=unreadable)
    assert len(nothing.rows) == 0 and len(nothing.ledger) == 0
    accounts(tmp_path, "b.csv", "id,email\n2,b@x.com\n")
    with pytest.raises(AssertionError, match="the known row hashes were read"):
        ingest(config, ledger=first.ledger, known=unreadable)


@pytest.mark.parametrize(
    "known",
    [
        pd.array([5, None, -3, 5], dtype="Int64"),
        np.array([5, -3, 5], dtype=np.int64),
        np.array([5, None, -3], dtype=object),
        {5, -3},
    ],
)
def test_known_row_hashes_of_any_form_are_the_same_set(tmp_path: Path, known) -> None:
    from cdp_assets.ingest.batch import _known_hashes

    assert np.unique(_known_hashes(known)).tolist() == [-3, 5]
    # An exact duplicate of a known row is told apart whatever form the hashes came in.
    config = config_with(tmp_path)
    accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n")
    first = ingest(config)
    again = first.rows["_row_hash"].astype("Int64").to_numpy(dtype=object)
    accounts(tmp_path, "b.csv", "id,email\n1,a@x.com\n2,b@x.com\n")
    second = ingest(config, ledger=first.ledger, known=again)
    assert second.rows["id"].tolist() == ["2"]


def _set_mtime(path: Path, at: pd.Timestamp) -> None:
    os.utime(path, ns=(at.value, at.value))


def _counting_content_hash(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patches the batch's content hash to record the files it reads."""
    import cdp_assets.ingest.batch as batch_module

    read: list[str] = []

    def counted(path: Path) -> str:
        read.append(path.name)
        return content_hash(path)

    monkeypatch.setattr(batch_module, "content_hash", counted)
    return read


def test_a_settled_file_with_its_ingested_size_and_time_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large brand lands gigabytes of web events: hashing them all every night to find
    nothing new took most of a nothing-new night's raw step."""
    config = config_with(tmp_path)
    settled = accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n")
    _set_mtime(settled, AT - pd.Timedelta(days=1))
    first = ingest(config)
    read = _counting_content_hash(monkeypatch)

    again = ingest(config, ledger=first.ledger, batch_id="b2", at=AT + pd.Timedelta(days=1))

    assert read == []
    assert len(again.rows) == 0 and len(again.ledger) == 0


def test_a_settled_file_rewritten_with_the_same_size_is_read_again(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    path = accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n")
    _set_mtime(path, AT - pd.Timedelta(days=1))
    first = ingest(config)

    path.write_text("id,email\n1,b@x.com\n")  # same size, new bytes, a new modification time
    _set_mtime(path, AT + pd.Timedelta(hours=1))
    again = ingest(config, ledger=first.ledger, batch_id="b2", at=AT + pd.Timedelta(days=1))

    assert again.rows["email"].tolist() == ["b@x.com"]
    assert again.ledger["content_hash"].tolist() == [content_hash(path)]


def test_a_file_modified_within_a_second_of_its_ingestion_is_hashed_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written in the same tick of the file system's clock as the ledger recorded, a rewrite
    could keep the recorded size and time: such a file is never trusted by its stat."""
    config = config_with(tmp_path)
    racy = accounts(tmp_path, "racy.csv", "id,email\n1,a@x.com\n")
    settled = accounts(tmp_path, "settled.csv", "id,email\n2,b@x.com\n")
    _set_mtime(racy, AT - pd.Timedelta(milliseconds=500))
    _set_mtime(settled, AT - pd.Timedelta(seconds=2))
    first = ingest(config)
    read = _counting_content_hash(monkeypatch)

    again = ingest(config, ledger=first.ledger, batch_id="b2", at=AT + pd.Timedelta(days=1))

    assert read == ["racy.csv"]
    assert len(again.rows) == 0


def test_the_latest_ledger_row_of_a_file_decides_what_its_stat_says(tmp_path: Path) -> None:
    """A file ingested twice is known by its latest row only: new bytes put back under the
    size and time of the first ingestion are read, not vouched for by that older row."""
    config = config_with(tmp_path)
    path = accounts(tmp_path, "a.csv", "id,email\n1,a@x.com\n")
    early = AT - pd.Timedelta(days=2)
    _set_mtime(path, early)
    first = ingest(config)
    path.write_text("id,email\n1,a@x.com\n2,b@x.com\n")
    _set_mtime(path, AT - pd.Timedelta(days=1))
    known = first.rows["_row_hash"].to_numpy()
    second = ingest(config, ledger=first.ledger, known=known, batch_id="b2", at=AT)
    ledger = pd.concat([first.ledger, second.ledger], ignore_index=True)
    known = np.concatenate([known, second.rows["_row_hash"].to_numpy()])

    path.write_text("id,email\n3,c@x.com\n")  # new bytes, the first file's size and time
    _set_mtime(path, early)
    third = ingest(config, ledger=ledger, known=known, batch_id="b3", at=AT + pd.Timedelta(days=1))

    assert second.rows["id"].tolist() == ["2"]
    assert third.rows["id"].tolist() == ["3"]

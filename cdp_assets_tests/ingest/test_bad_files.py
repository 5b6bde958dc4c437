"""No bad file stops a source (#12): each malformed input ends quarantined with a rule and a
reason, the rest of the batch loaded, the file in the ledger — through the real raw step."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.defs.ingestion.raw import build_raw_asset
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.ingest import batch as batch_module
from cdp_assets.ingest.limits import MAX_LINE_BYTES, MAX_PAYLOAD_CHARS
from cdp_assets.quality.catalog import RULES
from cdp_assets.warehouse import TableRef, Warehouse

ACCOUNTS = {
    "name": "accounts",
    "kind": "customers",
    "format": "csv",
    "path": "accounts/*.csv",
    "columns": {"source_record_id": "id", "email": "email"},
}
EVENTS = {
    "name": "events",
    "kind": "events",
    "format": "jsonl",
    "path": "events/*.jsonl",
    "columns": {"event_id": "id", "event_type": "type"},
}


def config_of(tmp_path: Path, source: dict) -> CDPConfig:
    return parse_config(
        {"landing_dir": "landing", "sources": [source]},
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


def land(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_raw(config: CDPConfig, url: str) -> None:
    """One run of the raw step; it must succeed and its conservation check pass."""
    result = dg.materialize(
        [build_raw_asset(config.sources[0], config)],
        resources={"warehouse": WarehouseResource(url=url)},
    )
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.metadata


def raw_rows(url: str, source: str) -> list[dict]:
    frame = Warehouse(url).read_table(TableRef("raw", source))
    frame = frame.drop(columns=["_batch_id", "_ingested_at", "_row_hash"])
    frame = frame.sort_values(["_file", "_line"]).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def quarantined(url: str) -> list[tuple]:
    q = Warehouse(url).read_table(TableRef("ops", "quarantine"))
    q = q.sort_values(["file", "line"])
    # Every rule named is in the catalogue the UI and the quality summary explain rules from.
    assert set(q["rule"]) <= set(RULES), set(q["rule"]) - set(RULES)
    return list(zip(q["file"], q["line"], q["rule"], q["reason"], q["raw_payload"], strict=True))


def ledger(url: str) -> pd.DataFrame:
    return Warehouse(url).read_table(TableRef("ops", "ingested_files")).sort_values("file")


def test_bare_carriage_return_in_an_unquoted_field_quarantines_its_line(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b"id,email\n1,a\rb@x.com\n2,c@x.com\n")
    land(tmp_path, "accounts/b.csv", b"id,email\n3,d@x.com\n")
    run_raw(config, warehouse_url)
    assert [(r["_file"], r["id"]) for r in raw_rows(warehouse_url, "accounts")] == [
        ("accounts/a.csv", "2"),
        ("accounts/b.csv", "3"),
    ]
    [(file, line, rule, reason, payload)] = quarantined(warehouse_url)
    assert (file, line, rule, payload) == ("accounts/a.csv", 2, "malformed_line", "1,a\rb@x.com")
    assert "bare carriage return" in reason
    run_raw(config, warehouse_url)  # the next run moves on: nothing new, nothing failing
    assert len(ledger(warehouse_url)) == 2
    assert len(quarantined(warehouse_url)) == 1


def test_lines_over_the_limit_are_quarantined_with_a_cut_payload(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    over_csv_limit = "x" * 150_000  # over `csv`'s default field limit, with a bare CR
    too_long = "z" * (MAX_LINE_BYTES + 1)
    content = f"id,email\n1,{over_csv_limit}\ry\n2,{too_long}\n3,c@x.com\n"
    land(tmp_path, "accounts/a.csv", content.encode())
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "accounts")] == ["3"]
    rows = quarantined(warehouse_url)
    assert [(line, rule) for _, line, rule, _, _ in rows] == [
        (2, "malformed_line"),
        (3, "malformed_line"),
    ]
    _, _, _, reason, payload = rows[1]
    assert reason == f"line longer than {MAX_LINE_BYTES:,} bytes ({MAX_LINE_BYTES + 3:,})"
    assert payload.startswith("2,zzz") and payload.endswith(
        f"[cut: {MAX_LINE_BYTES + 3:,} bytes in all]"
    )
    assert len(payload) < MAX_PAYLOAD_CHARS + 100


def test_jsonl_line_over_the_limit_is_quarantined(tmp_path: Path, warehouse_url: str) -> None:
    config = config_of(tmp_path, EVENTS)
    huge = json.dumps({"id": "e1", "type": "view", "note": "n" * MAX_LINE_BYTES})
    land(tmp_path, "events/a.jsonl", (huge + '\n{"id": "e2", "type": "view"}\n').encode())
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "events")] == ["e2"]
    [(_, line, _, reason, _)] = quarantined(warehouse_url)
    assert line == 1 and reason.startswith(f"line longer than {MAX_LINE_BYTES:,} bytes")


def test_header_names_equal_but_for_case_get_distinct_raw_columns(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b"id,email,Email\n1,a@x.com,A@X.COM\n")
    run_raw(config, warehouse_url)
    [row] = raw_rows(warehouse_url, "accounts")
    assert (row["id"], row["email"], row["Email_2"]) == ("1", "a@x.com", "A@X.COM")


def test_jsonl_keys_equal_but_for_case_and_the_empty_key(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, EVENTS)
    line = {"id": "e1", "type": "view", "Type": "VIEW", "": "nameless"}
    land(tmp_path, "events/a.jsonl", (json.dumps(line) + "\n").encode())
    run_raw(config, warehouse_url)
    [row] = raw_rows(warehouse_url, "events")
    assert (row["type"], row["Type_2"], row["column_4"]) == ("view", "VIEW", "nameless")


def test_a_later_file_whose_header_only_changes_case_fills_the_same_columns(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b"id,email,City\n1,a@x.com,Leeds\n")
    run_raw(config, warehouse_url)
    land(tmp_path, "accounts/b.csv", b"ID,EMAIL,city\n2,b@x.com,York\n")
    run_raw(config, warehouse_url)
    rows = raw_rows(warehouse_url, "accounts")
    assert [(r["id"], r["email"], r["City"]) for r in rows] == [
        ("1", "a@x.com", "Leeds"),
        ("2", "b@x.com", "York"),
    ]
    assert list(Warehouse(warehouse_url).read_table(TableRef("raw", "accounts")).columns)[:3] == [
        "id",
        "email",
        "City",
    ]


def test_a_nul_byte_in_a_header_is_shown_not_cut(tmp_path: Path, warehouse_url: str) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b"id,email,no\x00te,no\n1,a@x.com,first,second\n")
    run_raw(config, warehouse_url)
    [row] = raw_rows(warehouse_url, "accounts")
    assert (row["no\ufffdte"], row["no"]) == ("first", "second")


def test_jsonl_keys_beyond_the_limit_quarantine_the_rows_that_bring_them(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cdp_assets.ingest.jsonl_reader.MAX_SOURCE_COLUMNS", 5)
    config = config_of(tmp_path, EVENTS)
    lines = [{"id": f"e{i}", "type": "view", f"k{i}": "v"} for i in range(6)]
    lines.append({"id": "e6", "type": "view"})  # mapped keys only: always read
    land(tmp_path, "events/a.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode())
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "events")] == ["e0", "e1", "e2", "e6"]
    rows = quarantined(warehouse_url)
    assert [line for _, line, _, _, _ in rows] == [4, 5, 6]
    assert rows[0][3] == (
        "key 'k3' is beyond the 5 distinct keys a file may have "
        "(the source's mapped keys are always read)"
    )
    table = Warehouse(warehouse_url).read_table(TableRef("raw", "events"))
    assert [c for c in table.columns if not c.startswith("_")] == ["id", "type", "k0", "k1", "k2"]


def test_columns_beyond_the_source_limit_quarantine_rows_that_fill_them(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_module, "MAX_SOURCE_COLUMNS", 3)
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b"id,email,city\n1,a@x.com,Leeds\n")
    run_raw(config, warehouse_url)
    land(tmp_path, "accounts/b.csv", b"id,email,tier\n2,b@x.com,gold\n3,c@x.com,\n")
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "accounts")] == ["1", "3"]
    [(file, line, rule, reason, payload)] = quarantined(warehouse_url)
    assert (file, line, rule) == ("accounts/b.csv", 2, "too_many_columns")
    assert reason.startswith("column 'tier' is beyond the 3 source columns")
    assert json.loads(payload) == {"id": "2", "email": "b@x.com", "tier": "gold"}


def test_one_latin1_line_in_a_utf8_file_is_quarantined_and_valid_text_kept(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    content = "id,email\n1,zoë@x.com\n".encode() + "2,zoë@y.com\n".encode("latin-1")
    land(tmp_path, "accounts/a.csv", content + "3,chloé@x.com\n".encode())
    run_raw(config, warehouse_url)
    rows = raw_rows(warehouse_url, "accounts")
    assert [(r["id"], r["email"]) for r in rows] == [("1", "zoë@x.com"), ("3", "chloé@x.com")]
    [(_, line, rule, reason, payload)] = quarantined(warehouse_url)
    assert (line, rule, payload) == (3, "malformed_line", "2,zoë@y.com")
    assert reason.startswith("not valid utf-8: bytes b'\\xeb' at byte 5 of the line")
    assert ledger(warehouse_url)["encoding"].tolist() == ["utf-8"]


def test_a_symlink_out_of_the_landing_folder_is_not_followed(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("id,email\n9,secret@x.com\n")
    land(tmp_path, "accounts/a.csv", b"id,email\n1,a@x.com\n")
    inside = land(tmp_path, "accounts/inner/real.csv", b"id,email\n2,b@x.com\n")
    os.symlink(secret, tmp_path / "landing" / "accounts" / "b.csv")
    os.symlink(inside, tmp_path / "landing" / "accounts" / "c.csv")  # inside: read
    run_raw(config, warehouse_url)
    assert [(r["_file"], r["id"]) for r in raw_rows(warehouse_url, "accounts")] == [
        ("accounts/a.csv", "1"),
        ("accounts/c.csv", "2"),
    ]
    [(file, line, rule, reason, payload)] = quarantined(warehouse_url)
    assert (file, line, rule) == ("accounts/b.csv", 1, "unreadable_file")
    assert "outside the landing folder: not read" in reason
    assert "secret@x.com" not in payload
    run_raw(config, warehouse_url)
    assert len(quarantined(warehouse_url)) == 1  # recorded: not quarantined again


def test_a_file_with_an_unreadable_header_is_quarantined_whole(
    tmp_path: Path, warehouse_url: str
) -> None:
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b'"id,email\n1,a@x.com\n')
    land(tmp_path, "accounts/b.csv", b"id,email\n2,b@x.com\n")
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "accounts")] == ["2"]
    [(file, line, rule, reason, payload)] = quarantined(warehouse_url)
    assert (file, line, rule) == ("accounts/a.csv", 1, "unreadable_file")
    assert "cannot read the header" in reason
    assert payload == '"id,email\n1,a@x.com\n'
    led = ledger(warehouse_url)
    assert led[["file", "rows_read", "rows_quarantined"]].values.tolist() == [
        ["accounts/a.csv", 1, 1],
        ["accounts/b.csv", 1, 0],
    ]


def test_a_latin1_line_among_utf8_umlauts_is_shown_as_western_text(
    tmp_path: Path, warehouse_url: str
) -> None:
    """The guess of the bad line's encoding used to look at the file's valid UTF-8 lines too
    (read as cp1252 they are mojibake): it said cp1250 and showed 'peña' as 'peńa'."""
    config = config_of(tmp_path, ACCOUNTS)
    good = "id,email\n1,müller@x.com\n2,jürgen@x.com\n".encode()
    land(tmp_path, "accounts/a.csv", good + "3,peña@y.com\n".encode("latin-1"))
    run_raw(config, warehouse_url)
    [(_, line, rule, reason, payload)] = quarantined(warehouse_url)
    assert (line, rule, payload) == (4, "malformed_line", "3,peña@y.com")
    assert "read as cp1252" in reason


def test_a_bomless_file_read_with_encoding_utf16_is_one_unreadable_file(
    tmp_path: Path, warehouse_url: str
) -> None:
    """`encoding: utf-16` on a file without a byte-order mark failed the step with a bare
    'UnicodeError: UTF-16 stream does not start with BOM', naming no source, file or key,
    and stopped the source's other files."""
    config = config_of(tmp_path, ACCOUNTS | {"encoding": "utf-16"})
    land(tmp_path, "accounts/a.csv", "id,email\n1,a@x.com\n".encode("utf-16"))
    land(tmp_path, "accounts/b.csv", b"id,email\n2,b@x.com\n")
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "accounts")] == ["1"]
    [(file, _, rule, reason, _)] = quarantined(warehouse_url)
    assert (file, rule) == ("accounts/b.csv", "unreadable_file")
    assert "as utf-16 (check `encoding` in cdp.yaml)" in reason


def test_a_file_quarantined_whole_is_read_again_with_the_run_tag(
    tmp_path: Path, warehouse_url: str
) -> None:
    """After a wrong `encoding` was corrected, the file it made unreadable stayed unread for
    ever: the ledger holds its bytes, and the same bytes under another name are a duplicate.
    The run tag cdp/reread_unreadable_files=true reads it again, once."""
    from cdp_assets.defs.ingestion.raw import REREAD_UNREADABLE_TAG

    land(tmp_path, "accounts/a.csv", b"id,email\n1,a@x.com\n2,b@x.com\n")
    run_raw(config_of(tmp_path, ACCOUNTS | {"encoding": "utf-16"}), warehouse_url)
    assert [q[2] for q in quarantined(warehouse_url)] == ["unreadable_file"]

    fixed = config_of(tmp_path, ACCOUNTS)
    run_raw(fixed, warehouse_url)  # without the tag: the ledger says it was read
    assert not Warehouse(warehouse_url).table_exists(TableRef("raw", "accounts"))

    for _ in range(2):  # the second run finds nothing left to read again
        result = dg.materialize(
            [build_raw_asset(fixed.sources[0], fixed)],
            resources={"warehouse": WarehouseResource(url=warehouse_url)},
            tags={REREAD_UNREADABLE_TAG: "true"},
        )
        [check] = result.get_asset_check_evaluations()
        assert check.passed, check.metadata
    assert [r["id"] for r in raw_rows(warehouse_url, "accounts")] == ["1", "2"]
    assert quarantined(warehouse_url) == []
    files = ledger(warehouse_url)
    assert files[["file", "rows_read", "rows_loaded", "rows_quarantined"]].values.tolist() == [
        ["accounts/a.csv", 2, 2, 0]
    ]


def test_a_nul_character_in_a_value_quarantines_its_row_on_both_engines(
    tmp_path: Path, warehouse_url: str
) -> None:
    """A NUL inside a field loaded on DuckDB and, on PostgreSQL, failed the whole raw step
    ('invalid byte sequence for encoding "UTF8": 0x00' from COPY), so the source never moved
    on. The row is now quarantined on both; NULs in other payloads are shown as U+FFFD."""
    config = config_of(tmp_path, ACCOUNTS)
    land(tmp_path, "accounts/a.csv", b"id,email\n1,a@x.com\n2,b\x00@x.com\n3,c@x.com,extra\x00\n")
    run_raw(config, warehouse_url)
    assert [r["id"] for r in raw_rows(warehouse_url, "accounts")] == ["1"]
    entries = quarantined(warehouse_url)
    assert [(line, rule) for _, line, rule, _, _ in entries] == [
        (3, "malformed_line"),
        (4, "malformed_line"),
    ]
    assert entries[0][3] == (
        "a NUL character (\\u0000) in column 'email': not text, no warehouse column may hold it"
    )
    assert json.loads(entries[0][4]) == {"id": "2", "email": "b\x00@x.com"}
    assert entries[1][4] == "3,c@x.com,extra\ufffd"

"""Readers: every column as text, physical line numbers of good and malformed records."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from cdp_assets.config import source_url
from cdp_assets.ingest import (
    SourceReadError,
    csv_reader,
    jsonl_reader,
    read_source_file,
    read_sql_source,
)
from cdp_assets.ingest import encoding as encoding_module
from cdp_assets.ingest.encoding import guess_legacy_encoding
from cdp_assets_tests.ingest.helpers import csv_source, make_config, write


def read_csv_text(tmp_path: Path, content: str | bytes, **overrides):
    config = make_config(tmp_path, csv_source(**overrides))
    path = write(tmp_path / "landing" / "shop_accounts" / "a.csv", content)
    return read_source_file(path, config.sources[0], display_name="shop_accounts/a.csv")


def records(result) -> list[dict]:
    rows = result.rows.astype(object).where(result.rows.notna(), None)
    return rows.to_dict("records")


def malformed(result) -> list[tuple[int, str, str]]:
    m = result.malformed
    return list(
        zip(m["_line"].tolist(), m["raw_payload"].tolist(), m["reason"].tolist(), strict=True)
    )


# -- CSV --------------------------------------------------------------------------------------


def test_csv_quoted_commas_multiline_values_and_a_malformed_line(tmp_path: Path) -> None:
    content = (
        "id,email,name\n"
        '1,a@x.com,"Smith, John"\n'
        "2,b@x.com,Bob,extra\n"
        '3,c@x.com,"two\nlines"\n'
        '4,d@x.com,"say ""hi"""\n'
        "5,,\n"
    )
    result = read_csv_text(tmp_path, content)
    assert result.columns == ["id", "email", "name"]
    assert result.encoding == "utf-8"
    assert records(result) == [
        {"id": "1", "email": "a@x.com", "name": "Smith, John", "_line": 2},
        {"id": "3", "email": "c@x.com", "name": "two\nlines", "_line": 4},
        {"id": "4", "email": "d@x.com", "name": 'say "hi"', "_line": 6},
        {"id": "5", "email": None, "name": None, "_line": 7},
    ]
    assert malformed(result) == [(3, "2,b@x.com,Bob,extra", "expected 3 fields, found 4")]
    assert str(result.rows["id"].dtype) == "string"
    assert result.rows["_line"].dtype == "int64"
    assert list(result.malformed.columns) == ["_line", "raw_payload", "reason"]


def test_csv_broken_quote_spoils_only_its_own_line(tmp_path: Path) -> None:
    content = 'id,email,name\n1,a,"unclosed\n2,b,ok\n3,c,"fine"\n4,d,"x"y\n5,e,O"Brien\n'
    result = read_csv_text(tmp_path, content)
    assert [(r["id"], r["name"], r["_line"]) for r in records(result)] == [
        ("2", "ok", 3),
        ("3", "fine", 4),
        ("5", 'O"Brien', 6),
    ]
    lines = [(line, payload) for line, payload, _ in malformed(result)]
    assert lines == [(2, '1,a,"unclosed'), (5, '4,d,"x"y')]
    assert all(reason.startswith("broken quoting") for _, _, reason in malformed(result))


def test_csv_unterminated_quote_at_end_of_file(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, 'id,email,name\n1,a,b\n2,b,"never closed\nmore text\n')
    assert [r["_line"] for r in records(result)] == [2]
    assert malformed(result)[0][:2] == (3, '2,b,"never closed')
    assert "unterminated" in malformed(result)[0][2]
    assert malformed(result)[1] == (4, "more text", "expected 3 fields, found 1")


def test_csv_blank_lines_are_skipped_but_counted_in_line_numbers(tmp_path: Path) -> None:
    content = "\nid,email\r\n\r\n1,a@x.com\r\n   \r\n2,b@x.com\r\n\r\n"
    result = read_csv_text(tmp_path, content)
    assert [(r["id"], r["email"], r["_line"]) for r in records(result)] == [
        ("1", "a@x.com", 4),
        ("2", "b@x.com", 6),
    ]
    assert len(result.malformed) == 0


def test_csv_empty_and_header_only_files_have_no_rows(tmp_path: Path) -> None:
    empty = read_csv_text(tmp_path, "")
    assert len(empty.rows) == 0 and len(empty.malformed) == 0 and empty.columns == []
    header_only = read_csv_text(tmp_path, "id,email\n")
    assert header_only.columns == ["id", "email"]
    assert list(header_only.rows.columns) == ["id", "email", "_line"]
    assert len(header_only.rows) == 0


def test_csv_latin1_file_is_detected_and_read_correctly(tmp_path: Path) -> None:
    content = "id,email,first_name,last_name\n1,e@x.com,Éloïse,Müller\n2,f@x.com,François,Gärtner\n"
    result = read_csv_text(tmp_path, content.encode("latin-1"))
    assert result.encoding in ("cp1252", "latin-1")
    assert [(r["first_name"], r["last_name"]) for r in records(result)] == [
        ("Éloïse", "Müller"),
        ("François", "Gärtner"),
    ]


def test_csv_non_utf8_bytes_late_in_a_large_file_restart_with_detection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encoding_module, "BLOCK_SIZE", 64)
    lines = ["id,email,name"] + [f"{i},u{i}@x.com,plain" for i in range(50)] + ["50,z@x.com,Zoë"]
    result = read_csv_text(tmp_path, ("\n".join(lines) + "\n").encode("cp1252"))
    assert result.encoding == "cp1252"
    assert records(result)[-1] == {"id": "50", "email": "z@x.com", "name": "Zoë", "_line": 52}
    assert len(result.rows) == 51


def test_cyrillic_legacy_encoding_is_not_taken_for_western() -> None:
    text = "id,name,city\n1,Иван Петров,Москва\n2,Ольга Смирнова,Санкт-Петербург\n"
    guessed = guess_legacy_encoding(text.encode("cp1251"))
    assert text.encode("cp1251").decode(guessed) == text


def test_csv_line_not_in_the_configured_encoding_is_quarantined_alone(tmp_path: Path) -> None:
    content = "id,email\n1,a@x.com\n2,Müller@x.com\n3,c@x.com\n".encode("latin-1")
    result = read_csv_text(tmp_path, content, encoding="utf-8")
    assert [r["id"] for r in records(result)] == ["1", "3"]
    [(line, payload, reason)] = malformed(result)
    assert (line, payload) == (3, "2,Müller@x.com")
    assert reason.startswith("not valid utf-8: bytes b'\\xfc' at byte 4 of the line")


def test_csv_configured_latin1_encoding(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "id,email\n1,Müller\n".encode("latin-1"), encoding="latin-1")
    assert records(result)[0]["email"] == "Müller"
    assert result.encoding == "latin-1"


def test_csv_semicolon_delimiter_is_sniffed(tmp_path: Path) -> None:
    content = 'id;email;amount\n1;a@x.com;3,50\n2;b@x.com;"4;5"\n'
    result = read_csv_text(tmp_path, content)
    assert result.columns == ["id", "email", "amount"]
    assert [r["amount"] for r in records(result)] == ["3,50", "4;5"]


def test_csv_tab_and_pipe_delimiters(tmp_path: Path) -> None:
    assert read_csv_text(tmp_path, "id\temail\n1\ta\n").columns == ["id", "email"]
    assert read_csv_text(tmp_path, "id|email\n1|a\n").columns == ["id", "email"]
    configured = read_csv_text(tmp_path, "id|email,x\n1|a,b\n", delimiter="|")
    assert records(configured) == [{"id": "1", "email,x": "a,b", "_line": 2}]


def test_csv_utf8_bom_is_not_part_of_the_header(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "\ufeffid,email\n1,Zoë\n".encode())
    assert result.columns == ["id", "email"]
    assert result.encoding == "utf-8-sig"
    assert records(result) == [{"id": "1", "email": "Zoë", "_line": 2}]


def test_csv_utf16_with_bom(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "id,email\n1,Zoë\n".encode("utf-16"))
    assert result.encoding == "utf-16"
    assert records(result) == [{"id": "1", "email": "Zoë", "_line": 2}]


def test_csv_values_stay_text(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "id,email\n007,NA\n1e3, null \n")
    assert [(r["id"], r["email"]) for r in records(result)] == [("007", "NA"), ("1e3", " null ")]


def test_csv_custom_quotechar(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "id,email\n1,'a,b'\n", quotechar="'")
    assert records(result) == [{"id": "1", "email": "a,b", "_line": 2}]


def test_csv_bare_carriage_return_falls_back_to_csv_module(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, b'id,email\n1,"a\rb"\n2,c\n')
    assert [(r["id"], r["email"], r["_line"]) for r in records(result)] == [
        ("1", "a\rb", 2),
        ("2", "c", 3),
    ]


def test_csv_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "id,email,email,\n1,a,b,c\n")
    assert result.columns == ["id", "email", "email_2", "column_4"]


def _messy_csv(
    seed: int, rows: int = 400, terminator: str = "\n", quoting: int = csv.QUOTE_MINIMAL
) -> tuple[str, list[tuple[int, list[str]]], list[int]]:
    """A CSV with quoted commas, quoted newlines, blank and malformed lines, and the expected
    (line, values) of good records and lines of malformed ones."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=terminator, quoting=quoting)
    writer.writerow(["id", "email", "note"])
    line = 2
    good: list[tuple[int, list[str]]] = []
    bad: list[int] = []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.05:
            buffer.write(terminator)
            line += 1
            continue
        if roll < 0.12:
            buffer.write(f"{i},only-two-fields{terminator}")
            bad.append(line)
            line += 1
            continue
        note = rng.choice(["plain", "with, comma", 'with "quotes"', "two\nlines", "x\n\ny", ""])
        values = [str(i), f"u{i}@x.com", note]
        before = buffer.tell()
        writer.writerow(values)
        good.append((line, values))
        line += buffer.getvalue()[before:].count("\n")
    return buffer.getvalue(), good, bad


@pytest.mark.parametrize("block_size", [None, 7, 64, 1000])
@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
@pytest.mark.parametrize("dense_quotes", [1, 1_000_000])  # both ways of counting delimiters
def test_csv_line_numbers_match_a_reference_at_any_block_size(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block_size: int | None,
    terminator: str,
    quoting: int,
    dense_quotes: int,
) -> None:
    monkeypatch.setattr(csv_reader, "DENSE_QUOTES", dense_quotes)
    if block_size is not None:
        monkeypatch.setattr(encoding_module, "BLOCK_SIZE", block_size)
    content, good, bad = _messy_csv(seed=3, terminator=terminator, quoting=quoting)
    result = read_csv_text(tmp_path, content)
    got = [(r["_line"], [r["id"], r["email"], r["note"] or ""]) for r in records(result)]
    assert got == good
    assert result.malformed["_line"].tolist() == bad


# -- JSONL ------------------------------------------------------------------------------------


def jsonl_config(tmp_path: Path):
    return make_config(
        tmp_path,
        {
            "name": "web_events",
            "kind": "events",
            "format": "jsonl",
            "path": "web/*.jsonl",
            "columns": {"event_id": "id", "event_type": "type", "occurred_at": "ts"},
        },
    )


def test_jsonl_values_as_text_nested_as_json_and_bad_lines(tmp_path: Path) -> None:
    config = jsonl_config(tmp_path)
    content = (
        '{"id": "e1", "type": "page_view", "n": 3, "price": 19.9, "ok": true, '
        '"ctx": {"a": [1, "x"]}, "none": null}\n'
        "\n"
        "[1, 2]\n"
        '{"id": "e2", "name": "Zoë", "ok": false}\n'
        "{broken\n"
        "   \n"
        '{"id": "e3"}'
    )
    path = write(tmp_path / "landing" / "web" / "a.jsonl", content)
    result = read_source_file(path, config.sources[0], display_name="web/a.jsonl")
    assert result.columns == ["id", "type", "n", "price", "ok", "ctx", "none", "name"]
    rows = records(result)
    assert rows[0] == {
        "id": "e1",
        "type": "page_view",
        "n": "3",
        "price": "19.9",
        "ok": "true",
        "ctx": '{"a":[1,"x"]}',
        "none": None,
        "name": None,
        "_line": 1,
    }
    assert (rows[1]["id"], rows[1]["name"], rows[1]["ok"], rows[1]["_line"]) == (
        "e2",
        "Zoë",
        "false",
        4,
    )
    assert (rows[2]["id"], rows[2]["_line"]) == ("e3", 7)
    assert malformed(result)[0] == (3, "[1, 2]", "not a JSON object (found an array)")
    assert malformed(result)[1][:2] == (5, "{broken")
    assert malformed(result)[1][2].startswith("invalid JSON")


def test_jsonl_python_fallback_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = jsonl_config(tmp_path)
    content = (
        '{"id": "e1", "n": 3, "big": 12345678901234567890, "price": 19.9, "ok": true, '
        '"ctx": {"a": [1, "x", null], "b": "é"}, "none": null, "dup": 1, "dup": 2}\n'
        "\n"
        "[1]\n"
        '{"id": "e2", "late": false, "empty": ""}\r\n'
        "{oops\n"
    )
    path = write(tmp_path / "landing" / "web" / "a.jsonl", content)
    fast = read_source_file(path, config.sources[0], display_name="web/a.jsonl")

    def refuse(*args, **kwargs):
        raise duckdb.InvalidInputException("refused")

    monkeypatch.setattr(jsonl_reader, "_duckdb_block", refuse)
    slow = read_source_file(path, config.sources[0], display_name="web/a.jsonl")
    pd.testing.assert_frame_equal(fast.rows, slow.rows)
    pd.testing.assert_frame_equal(fast.malformed, slow.malformed)
    assert fast.columns == slow.columns
    assert records(fast)[0]["dup"] == "1" and records(fast)[0]["big"] == "12345678901234567890"


def test_jsonl_blocks_keep_key_order_and_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl_reader, "BLOCK_SIZE", 50)
    config = jsonl_config(tmp_path)
    lines = [json.dumps({"id": f"e{i}", "k": i}) for i in range(20)]
    lines[15] = json.dumps({"id": "e15", "late": "yes"})
    path = write(tmp_path / "landing" / "web" / "a.jsonl", "\n".join(lines) + "\n")
    result = read_source_file(path, config.sources[0], display_name="web/a.jsonl")
    assert result.columns == ["id", "k", "late"]
    assert result.rows["_line"].tolist() == list(range(1, 21))
    assert result.rows["late"].isna().sum() == 19
    assert result.rows.loc[15, "late"] == "yes"


# -- Parquet ----------------------------------------------------------------------------------


def test_parquet_round_trip_as_text(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {
            "name": "pos_sales",
            "kind": "orders",
            "format": "parquet",
            "path": "pos/*.parquet",
            "columns": {"order_id": "id", "ordered_at": "ts", "amount": "amount"},
        },
    )
    table = pa.table(
        {
            "id": pa.array(["o1", "o2", None]),
            "ts": pa.array(
                [dt.datetime(2026, 1, 2, 3, 4, 5), dt.datetime(2026, 1, 2, 3, 4, 5, 250000), None],
                pa.timestamp("us"),
            ),
            "ts_utc": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5)] * 3, pa.timestamp("ms", "UTC")),
            "day": pa.array([dt.date(2026, 1, 2)] * 3),
            "amount": pa.array([19.9, 5.0, None]),
            "qty": pa.array([1, 2, None], pa.int64()),
            "flag": pa.array([True, False, None]),
            "tags": pa.array([["a"], [], None], pa.list_(pa.string())),
        }
    )
    path = tmp_path / "landing" / "pos" / "a.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    result = read_source_file(path, config.sources[0], display_name="pos/a.parquet")
    assert result.columns == list(table.column_names)
    assert result.encoding is None
    rows = records(result)
    assert rows[0] == {
        "id": "o1",
        "ts": "2026-01-02T03:04:05",
        "ts_utc": "2026-01-02T03:04:05Z",
        "day": "2026-01-02",
        "amount": "19.9",
        "qty": "1",
        "flag": "true",
        "tags": '["a"]',
        "_line": 1,
    }
    assert rows[1]["ts"] == "2026-01-02T03:04:05.250000"
    assert rows[2]["id"] is None and rows[2]["ts"] is None and rows[2]["_line"] == 3


# -- SQL --------------------------------------------------------------------------------------


def sqlite_source(tmp_path: Path, **overrides):
    db = tmp_path / "landing" / "crm.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE contacts (id TEXT, email TEXT, points INTEGER, score REAL, mixed)"
        )
        conn.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?)",
            [
                ("c1", "a@x.com", 10, 1.5, "x"),
                ("c2", None, None, None, 3),
                ("c3", "Zoë@x.com", 0, 2.0, None),
            ],
        )
    source = {
        "name": "crm",
        "kind": "customers",
        "format": "sql",
        "url": "sqlite:///{landing_dir}/crm.db",
        "table": "contacts",
        "columns": {"source_record_id": "id", "email": "email"},
    }
    source.update(overrides)
    return make_config(tmp_path, source)


def test_sql_table_via_sqlite(tmp_path: Path) -> None:
    config = sqlite_source(tmp_path)
    result = read_sql_source(source_url(config, "crm"), config.sources[0])
    assert result.columns == ["id", "email", "points", "score", "mixed"]
    assert records(result) == [
        {"id": "c1", "email": "a@x.com", "points": "10", "score": "1.5", "mixed": "x", "_line": 1},
        {"id": "c2", "email": None, "points": None, "score": None, "mixed": "3", "_line": 2},
        {
            "id": "c3",
            "email": "Zoë@x.com",
            "points": "0",
            "score": "2.0",
            "mixed": None,
            "_line": 3,
        },
    ]


def test_sql_query_via_sqlite(tmp_path: Path) -> None:
    config = sqlite_source(
        tmp_path, table=None, query="SELECT id, email FROM contacts WHERE points > 0 ORDER BY id"
    )
    result = read_sql_source(source_url(config, "crm"), config.sources[0])
    assert records(result) == [{"id": "c1", "email": "a@x.com", "_line": 1}]


def test_sql_errors_name_the_source(tmp_path: Path) -> None:
    config = sqlite_source(tmp_path, table="no_such_table")
    with pytest.raises(SourceReadError, match=r"^sources\[0\]: source crm: cannot read table"):
        read_sql_source(source_url(config, "crm"), config.sources[0])


def test_readers_return_pandas_string_columns(tmp_path: Path) -> None:
    result = read_csv_text(tmp_path, "id,email\n1,a\n")
    assert isinstance(result.rows, pd.DataFrame)
    assert result.rows["email"].dtype == pd.StringDtype("pyarrow")


def test_sql_errors_never_show_the_password_of_a_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver error that quotes the connection string (as some ODBC drivers do) is shown
    with the credentials masked."""
    url = "postgresql+psycopg://crm:S3cr%2Ft@127.0.0.1:5432/crm"

    class QuotingEngine:
        def connect(self) -> None:
            raise sa.exc.OperationalError("connect", {}, Exception(f"cannot reach {url} (S3cr/t)"))

        def dispose(self) -> None:
            return None

    monkeypatch.setattr(sa, "create_engine", lambda _url: QuotingEngine())
    config = sqlite_source(tmp_path)
    with pytest.raises(SourceReadError) as error:
        read_sql_source(url, config.sources[0])
    message = str(error.value)
    assert "cannot read table contacts" in message
    assert "S3cr" not in message and "127.0.0.1" in message


def test_a_sqlite_url_naming_no_file_is_an_error_and_creates_none(tmp_path: Path) -> None:
    """A misspelt SQLite path used to create an empty database file in the landing folder and
    fail with 'no such table: contacts'."""
    config = sqlite_source(tmp_path, url="sqlite:///{landing_dir}/crm_typo.db")
    missing = tmp_path / "landing" / "crm_typo.db"
    with pytest.raises(
        SourceReadError,
        match=r"^sources\[0\]\.url: source crm: SQLite database file .*crm_typo\.db does not exist",
    ):
        read_sql_source(source_url(config, "crm"), config.sources[0])
    assert not missing.exists()

"""Readers of every source format, returning every source column as text.

`read_source_file` reads csv / jsonl / parquet files; `read_sql_source` reads a table or query
through SQLAlchemy. Both return a `ReadResult`: the good rows (source columns as pandas
"string", plus `_line`), the malformed lines (`_line`, `raw_payload`, `reason`), the encoding
used and the columns in file order. A file that cannot be read at all raises
`SourceReadError` naming the source's key path, the source, the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from cdp_assets.config import SourceConfig
from cdp_assets.config.secrets import mask_secrets
from cdp_assets.config.sqlite_urls import sqlite_database_file
from cdp_assets.ingest.csv_reader import CsvScanner, resolve_delimiter, unique_names
from cdp_assets.ingest.encoding import (
    DecodeFailure,
    bom_encoding,
    guess_legacy_encoding,
    has_utf8_text,
    normalise_encoding,
    not_utf8_lines,
    sample_bytes,
)
from cdp_assets.ingest.errors import SourceReadError, UnreadableFile, where
from cdp_assets.ingest.jsonl_reader import read_jsonl
from cdp_assets.ingest.limits import MAX_PAYLOAD_CHARS
from cdp_assets.ingest.naming import raw_names
from cdp_assets.ingest.text_values import arrow_text, python_values_text

STRING = pd.StringDtype("pyarrow")
LINE_COLUMN = "_line"
MALFORMED_COLUMNS = ("_line", "raw_payload", "reason")
_PARQUET_BATCH = 65_536
_SQL_BATCH = 50_000


@dataclass
class ReadResult:
    rows: pd.DataFrame  # source columns (pandas "string", missing → NA) + `_line` (int64);
    # a source column whose name starts with '_' is named `src_<name>` (see naming.raw_names)
    malformed: pd.DataFrame  # `_line` (int64), `raw_payload`, `reason` (string), and `rule`
    # (string) when not every entry is a malformed line (a file quarantined whole)
    encoding: str | None  # the encoding used (files), None for parquet and sql
    columns: list[str]  # the header / union of keys, in file order (names as in the source)

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.malformed)


def empty_malformed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_line": pd.Series([], dtype="int64"),
            "raw_payload": pd.Series([], dtype=STRING),
            "reason": pd.Series([], dtype=STRING),
        }
    )


def file_quarantined(line: int, payload: str, reason: str, rule: str) -> ReadResult:
    """The ReadResult of a file nothing of which can be read: one malformed entry standing for
    the whole file (its `rule` column names why), no rows."""
    malformed = _malformed([line], [payload], [reason])
    malformed["rule"] = pd.Series([rule], dtype=STRING)
    return ReadResult(arrow_rows([], [], pa.array([], pa.int64())), malformed, None, [])


def file_start(path: Path) -> str:
    """The first bytes of a file as text, for the payload of a file quarantined whole."""
    with open(path, "rb") as f:
        head = f.read(MAX_PAYLOAD_CHARS)
    return head.decode("utf-8", errors="replace")


def _malformed(lines: list[int], payloads: list[str], reasons: list[str]) -> pd.DataFrame:
    if not lines:
        return empty_malformed()
    frame = pd.DataFrame(
        {
            "_line": pd.Series(lines, dtype="int64"),
            "raw_payload": pd.Series(payloads, dtype=STRING),
            "reason": pd.Series(reasons, dtype=STRING),
        }
    )
    return frame.sort_values("_line", kind="stable", ignore_index=True)


def _to_string_series(array: pa.Array | pa.ChunkedArray) -> pd.Series:
    """A pandas "string" (pyarrow) series over the Arrow chunks, without copying the text."""
    if isinstance(array, pa.ChunkedArray) and array.num_chunks == 0:
        array = pa.array([], pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(array), dtype=STRING)


def arrow_rows(
    columns: list[str], arrays: list[pa.Array | pa.ChunkedArray], lines: pa.Array | pa.ChunkedArray
) -> pd.DataFrame:
    """A rows frame from text columns (all the same length) and line numbers; source columns
    are named as in raw tables (`raw_names`: `_x` becomes `src__x`)."""
    names = raw_names(columns)
    data: dict[str, pd.Series] = {
        names[name]: _to_string_series(array) for name, array in zip(columns, arrays, strict=True)
    }
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks() if lines.num_chunks else pa.array([], pa.int64())
    line_values = lines.to_numpy(zero_copy_only=False).astype("int64", copy=False)
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(line_values)))
    frame[LINE_COLUMN] = line_values
    return frame


def _file_encoding(path: Path, source: SourceConfig, display_name: str) -> tuple[str, bool]:
    """(encoding to try first, whether it was configured or told by a BOM)."""
    if source.encoding:
        try:
            normalise_encoding(source.encoding)
        except LookupError:
            raise SourceReadError(
                f"{source.key_path}.encoding: unknown encoding {source.encoding!r} "
                f"(reading {display_name})"
            ) from None
        return source.encoding, True
    told = bom_encoding(path)
    return (told, True) if told else ("utf-8", False)


def _with_encoding(path: Path, source: SourceConfig, display_name: str, read):  # noqa: ANN001
    """Runs `read(encoding, lenient, shown_as)` (see `utf8_blocks`).

    A configured (or BOM-told) encoding is read leniently: a line it cannot decode is
    quarantined, the rest of the file is read. Else the file is read as UTF-8; when some bytes
    are not UTF-8, a file that also holds valid non-ASCII UTF-8 text is read again as UTF-8
    leniently (valid lines kept exactly, the others quarantined, shown in the guessed legacy
    encoding); a file with no UTF-8 text is read in the guessed legacy encoding (cp1252 or
    Latin-1 for Western text).
    """
    encoding, told = _file_encoding(path, source, display_name)
    try:
        if told:
            return read(encoding, True, "latin-1"), encoding
        return read(encoding, False, None), encoding
    except DecodeFailure as failure:
        if told:  # not ASCII-compatible (UTF-16/32): lines cannot be told apart
            raise UnreadableFile(
                f"{where(source, display_name, failure.line)}: cannot decode bytes "
                f"{failure.bad!r} as {encoding} (check `encoding` in cdp.yaml)",
                failure.line,
            ) from None
        legacy = guess_legacy_encoding(not_utf8_lines(sample_bytes(path, failure.offset)))
    if has_utf8_text(path):
        return read("utf-8", True, legacy), "utf-8"
    return read(legacy, True, "latin-1"), legacy


def _read_csv(path: Path, source: SourceConfig, display_name: str) -> ReadResult:
    delimiter = resolve_delimiter(source, display_name)

    def read(encoding: str, lenient: bool, shown_as: str | None):  # noqa: ANN202
        return CsvScanner(source, display_name, delimiter).read(path, encoding, lenient, shown_as)

    out, encoding = _with_encoding(path, source, display_name, read)
    header = out.header
    if out.tables:
        table = pa.concat_tables(out.tables)
        arrays = [table.column(f"f{i}") for i in range(len(header))]
        rows = arrow_rows(header, arrays, table.column(LINE_COLUMN))
    else:
        rows = arrow_rows(
            header, [pa.array([], pa.string())] * len(header), pa.array([], pa.int64())
        )
    malformed = _malformed(out.bad_lines, out.bad_payloads, out.bad_reasons)
    return ReadResult(rows, malformed, encoding, list(header))


def _read_jsonl(path: Path, source: SourceConfig, display_name: str) -> ReadResult:
    def read(encoding: str, lenient: bool, shown_as: str | None):  # noqa: ANN202
        return read_jsonl(
            path,
            encoding,
            lenient=lenient,
            shown_as=shown_as,
            keep=frozenset(source.columns.values()),
        )

    out, encoding = _with_encoding(path, source, display_name, read)
    columns = out.columns
    arrays: list[pa.ChunkedArray] = []
    for name in columns:
        chunks = [
            t.column(name).combine_chunks()
            if name in t.column_names
            else pa.nulls(len(lines), pa.string())
            for t, lines in zip(out.tables, out.line_numbers, strict=True)
        ]
        arrays.append(pa.chunked_array(chunks, type=pa.string()))
    lines = pa.chunked_array(out.line_numbers, type=pa.int64())
    rows = arrow_rows(columns, arrays, lines)
    malformed = _malformed(out.bad_lines, out.bad_payloads, out.bad_reasons)
    return ReadResult(rows, malformed, encoding, list(columns))


def _read_parquet(path: Path, source: SourceConfig, display_name: str) -> ReadResult:
    try:
        parquet = pq.ParquetFile(path)
        columns = list(parquet.schema_arrow.names)
        pieces: list[list[pa.Array]] = [[] for _ in columns]
        count = 0
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            for i in range(len(columns)):
                pieces[i].append(arrow_text(batch.column(i)))
            count += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise UnreadableFile(f"{where(source, display_name)}: cannot read parquet: {exc}") from None
    if len(set(columns)) != len(columns):
        columns = unique_names(columns)  # `a, a` → `a, a_2`, as in a CSV header
    arrays = [pa.chunked_array(p, type=pa.string()) for p in pieces]
    lines = pa.array(range(1, count + 1), type=pa.int64())
    return ReadResult(arrow_rows(columns, arrays, lines), empty_malformed(), None, columns)


def read_source_file(path: Path, source: SourceConfig, *, display_name: str) -> ReadResult:
    """Reads one landed file of a csv / jsonl / parquet source (see the module docstring).

    `display_name` is the file as the data team knows it (relative to the landing folder); it
    names the file in errors.
    """
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    reader = readers.get(source.format)
    if reader is None:
        raise SourceReadError(
            f"{where(source, display_name)}: format {source.format!r} is not a file format"
        )
    try:
        return reader(path, source, display_name)
    except OSError as exc:
        raise SourceReadError(f"{where(source, display_name)}: cannot read: {exc}") from None


def _sql_statement(source: SourceConfig) -> sa.Executable:
    if source.query:
        return sa.text(source.query)
    assert source.table is not None
    schema, _, name = source.table.rpartition(".")
    return sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))


def _missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist: connecting would create an empty
    database there (in the landing folder, say) and report "no such table" instead."""
    database = sqlite_database_file(url)
    if database is None:
        return None
    path = Path(database).resolve()
    return None if path.exists() else path


def read_sql_source(url: str, source: SourceConfig) -> ReadResult:
    """Reads the table or query of a sql source; `_line` is the row number (from 1) in the
    order the database returns rows (give the query an ORDER BY for a stable order)."""
    what = f"table {source.table}" if source.table else "its query"
    missing = _missing_sqlite_file(url)
    if missing is not None:
        key = "url_env" if source.url_env else "url"
        raise SourceReadError(
            f"{source.key_path}.{key}: source {source.name}: SQLite database file {missing} "
            "does not exist"
        )
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise SourceReadError(
            f"{source.key_path}: source {source.name}: invalid SQLAlchemy URL: "
            + mask_secrets(str(exc), url)
        ) from None
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(_sql_statement(source))
            columns = [str(c) for c in result.keys()]  # noqa: SIM118 - a Result, not a dict
            pieces: list[list[pa.Array]] = [[] for _ in columns]
            count = 0
            for part in result.partitions(_SQL_BATCH):
                for i, values in enumerate(zip(*part, strict=True)):
                    pieces[i].append(python_values_text(values))
                count += len(part)
    except sa.exc.SQLAlchemyError as exc:
        detail = mask_secrets(str(getattr(exc, "orig", None) or exc).splitlines()[0], url)
        raise SourceReadError(
            f"{source.key_path}: source {source.name}: cannot read {what}: {detail}"
        ) from None
    finally:
        engine.dispose()
    if len(set(columns)) != len(columns):
        raise SourceReadError(
            f"{source.key_path}: source {source.name}: repeated column names {columns} "
            "(alias them in the query)"
        )
    arrays = [pa.chunked_array(p, type=pa.string()) for p in pieces]
    lines = pa.array(range(1, count + 1), type=pa.int64())
    return ReadResult(arrow_rows(columns, arrays, lines), empty_malformed(), None, columns)

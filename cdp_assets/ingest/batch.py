"""One ingestion batch of a source: the new rows for `raw.<source>`, the malformed lines for
`ops.quarantine` and the ledger rows for `ops.ingested_files`.

Every row read is loaded, quarantined (a malformed line) or dropped as an exact duplicate of a
row already in the raw table or earlier in the batch; the ledger counts each per file and
`rows_read = rows_loaded + rows_quarantined + exact_duplicates` holds for every file. Files are
read and processed one at a time (only their row hashes are kept), so that a caller writing
each file's rows as they come holds one file in memory.

No file stops the batch: a file nothing of which can be read (no readable header, a corrupt
parquet file, a symbolic link out of the landing folder) is quarantined whole, as one entry
(rule `unreadable_file`), and recorded in the ledger so the next run moves on. Columns are
named by `naming.raw_names` against the columns the source already has (case ignored), and a
source holds at most `MAX_SOURCE_COLUMNS` source columns: a row with a value in a column
beyond them is quarantined (rule `too_many_columns`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig, landing_dir, source_url
from cdp_assets.contracts.canonical import LEDGER_DTYPES, QUARANTINE_DTYPES, RAW_LINEAGE_DTYPES
from cdp_assets.ingest.errors import SourceReadError, UnreadableFile
from cdp_assets.ingest.landing import outside_landing
from cdp_assets.ingest.ledger import (
    STATUS_DUPLICATE,
    STATUS_INGESTED,
    LedgerIndex,
    content_hash,
    discover_files,
    relative_name,
)
from cdp_assets.ingest.limits import MAX_SOURCE_COLUMNS, shown_payload
from cdp_assets.ingest.naming import fold, raw_column_name, raw_names
from cdp_assets.ingest.readers import (
    STRING,
    ReadResult,
    file_quarantined,
    file_start,
    read_source_file,
    read_sql_source,
)
from cdp_assets.ingest.row_hash import SortedHashSet, frame_content_hash, row_hashes

QUARANTINE_RULE = "malformed_line"
UNREADABLE_RULE = "unreadable_file"
COLUMNS_RULE = "too_many_columns"
RowsSink = Callable[[pd.DataFrame], None]


class Suppressor(Protocol):
    """Tells which rows and malformed lines belong to erased people (see privacy)."""

    def rows(self, frame: pd.DataFrame) -> np.ndarray: ...

    def payloads(self, payloads: pd.Series) -> np.ndarray: ...


@dataclass
class IngestBatch:
    rows: pd.DataFrame  # source columns (string) + RAW_LINEAGE_DTYPES columns (empty: see sink)
    quarantine: pd.DataFrame  # QUARANTINE_DTYPES
    ledger: pd.DataFrame  # LEDGER_DTYPES, one row per file considered
    files_ingested: int = 0
    duplicate_files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    exact_duplicates: int = 0
    rows_suppressed: int = 0
    columns: list[str] = field(default_factory=list)  # raw source columns, first seen first
    # sql sources: the content hash of the snapshot the source gives now (read, or trusted)
    sql_content_hash: str | None = None
    # files quarantined whole by an earlier batch and read again by this one (run tag)
    files_read_again: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "files_ingested": self.files_ingested,
            "duplicate_files": self.duplicate_files,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "exact_duplicates": self.exact_duplicates,
            "rows_suppressed": self.rows_suppressed,
        }


@dataclass
class _FileRead:
    file: str
    digest: str
    size: int | None
    modified_at: pd.Timestamp | None
    result: ReadResult
    columns: list[str] = field(default_factory=list)  # raw column names, in file order
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def check_mapped_columns(source: SourceConfig, columns: list[str], where: str) -> None:
    """Raises SourceReadError when a mapped source column is not among `columns`, one line per
    missing field: `sources[3].columns.email: column 'mail' not found in file x.csv (source s)`.
    """
    if not columns:  # an empty file: nothing to map, nothing read
        return
    # Case is ignored: raw tables hold `EMAIL` in the mapped column `email` (naming.raw_names).
    present = {fold(c) for c in columns} | {fold(raw_column_name(c)) for c in columns}
    problems = [
        f"{source.key_path}.columns.{field_name}: column '{column}' not found in {where} "
        f"(source {source.name})"
        for field_name, column in source.columns.items()
        if fold(column) not in present and fold(raw_column_name(column)) not in present
    ]
    if problems:
        raise SourceReadError("\n".join(problems))


def _known_hashes(known: np.ndarray | set[int] | Iterable[int] | None) -> np.ndarray:
    """The known row hashes as int64 (missing ones left out; `SortedHashSet` sorts and
    de-duplicates them). Converted by numpy, not value by value: 6.7 million hashes of a
    1,000,000-person brand's web events took 9 s through `Series.map(int)`."""
    if known is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(known, set | frozenset):
        values = [int(v) for v in known if v is not None and not pd.isna(v)]
        return np.array(values, dtype=np.int64)
    series = pd.Series(np.asarray(known) if not isinstance(known, pd.Series) else known)
    return series.dropna().to_numpy(dtype=np.int64)


def _utc(ts: pd.Timestamp | dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.as_unit("us")


def _typed(data: dict[str, object], dtypes: dict[str, str], n: int) -> pd.DataFrame:
    columns = {}
    for name, dtype in dtypes.items():
        value = data.get(name, pd.NA)
        if dtype.startswith("datetime64"):
            series = pd.Series(value, index=range(n)) if np.ndim(value) == 0 else pd.Series(value)
            columns[name] = pd.to_datetime(series, utc=True).astype(dtype)
        elif np.ndim(value) == 0:
            columns[name] = pd.Series([value] * n, dtype=dtype)
        else:
            columns[name] = pd.Series(value, dtype=dtype)
    return pd.DataFrame(columns, index=pd.RangeIndex(n))


def _stat(path: Path) -> tuple[int, pd.Timestamp]:
    stat = path.stat()
    modified = pd.Timestamp(stat.st_mtime_ns, unit="ns", tz="UTC").floor("us")
    return stat.st_size, modified


def sql_ledger_name(source: SourceConfig) -> str:
    """The ledger's name for the snapshots of a sql source."""
    return f"sql:{source.name}"


@dataclass
class _SqlSnapshot:
    trusted: str | None = None  # in: a content hash the source is known to still give
    content_hash: str | None = None  # out: the hash of the snapshot the source gives now


def _new_files(
    source: SourceConfig,
    config: CDPConfig,
    index: LedgerIndex,
    duplicates: list[dict[str, object]],
    sql: _SqlSnapshot | None = None,
) -> Iterator[_FileRead]:
    """Reads the new files (or the new sql snapshot) one at a time, in path order; a file whose
    bytes were ingested before under another name goes to `duplicates` instead. `sql` (sql
    sources) receives the snapshot's content hash; a snapshot whose `sql.trusted` hash the
    ledger holds is not read."""
    if source.format == "sql":
        name = sql_ledger_name(source)
        sql = _SqlSnapshot() if sql is None else sql
        if sql.trusted is not None and index.seen(name, sql.trusted):
            sql.content_hash = sql.trusted
            return
        result = read_sql_source(source_url(config, source.name), source)
        digest = frame_content_hash(result.rows.drop(columns="_line"))
        sql.content_hash = digest
        if index.original_of(digest) is None and not index.seen(name, digest):
            check_mapped_columns(source, result.columns, f"the result of {name}")
            index.record(name, digest)
            yield _FileRead(name, digest, None, None, result)
        return
    landing = landing_dir(config)
    for path in discover_files(landing, source):
        name = relative_name(landing, path)
        if outside_landing(landing, path):
            refused = _refused_link(landing, path, name, source)
            if not index.seen(name, refused.digest):
                index.pairs.add((name, refused.digest))
                yield refused
            continue
        size, modified = _stat(path)
        digest = index.known_digest(name, size, modified) or content_hash(path)
        if index.seen(name, digest):
            continue
        original = index.original_of(digest)
        if original is not None:
            duplicates.append(
                {
                    "file": name,
                    "content_hash": digest,
                    "size_bytes": size,
                    "modified_at": modified,
                    "duplicate_of": original,
                }
            )
            index.pairs.add((name, digest))
            continue
        try:
            result = read_source_file(path, source, display_name=name)
        except UnreadableFile as exc:
            result = file_quarantined(exc.line or 1, file_start(path), str(exc), UNREADABLE_RULE)
        if source.format != "jsonl":
            check_mapped_columns(source, result.columns, f"file {name}")
        index.record(name, digest)
        yield _FileRead(name, digest, size, modified, result)


def _refused_link(landing: Path, path: Path, name: str, source: SourceConfig) -> _FileRead:
    """A symbolic link leading out of the landing folder: quarantined unread. Its identity in
    the ledger is where it points (its target is never opened)."""
    target = os.path.realpath(path)
    digest = "symlink:" + hashlib.sha256(target.encode("utf-8", "surrogateescape")).hexdigest()
    stat = path.lstat()
    modified = pd.Timestamp(stat.st_mtime_ns, unit="ns", tz="UTC").floor("us")
    reason = (
        f"{source.key_path}: file {name} (source {source.name}): a symbolic link to {target}, "
        "outside the landing folder: not read"
    )
    result = file_quarantined(1, f"symlink -> {target}", reason, UNREADABLE_RULE)
    return _FileRead(name, digest, stat.st_size, modified, result)


def ingest_source(
    source: SourceConfig,
    config: CDPConfig,
    *,
    ledger: pd.DataFrame,
    known_row_hashes: np.ndarray | set[int],
    batch_id: str,
    ingested_at: pd.Timestamp,
    known_columns: Iterable[str] = (),
    sink: RowsSink | None = None,
    suppressor: Suppressor | None = None,
    sql_unchanged: str | None = None,
) -> IngestBatch:
    """Assembles one ingestion batch of `source` (see the module docstring).

    `sql_unchanged` (sql sources): the content hash of the snapshot the source gave when its
    database and statement were last as they are now (`ingest.sql_snapshots`); the source is
    not read when the ledger holds that snapshot. `sql_content_hash` of the batch is then that
    hash, else the hash of the snapshot read.

    `ledger`: the source's existing ops.ingested_files rows (LEDGER_DTYPES, possibly empty);
    `known_row_hashes`: the `_row_hash` values already in raw.<source>; `known_columns`: the
    columns raw.<source> already has (a JSONL key seen before may be absent now). Raises
    SourceReadError (nothing returned) when a file cannot be read or lacks a mapped column.

    Files are read one at a time. Without `sink`, the batch's rows are in `rows`; with it, each
    file's loaded rows go to `sink` as soon as the file is read (file order, non-empty only;
    columns: the batch's source columns seen so far, then lineage), so that memory holds one
    file, and `rows` is left empty (with the batch's columns). A SourceReadError can then come
    after some rows went to `sink`: the caller discards them (one transaction per batch).

    With `suppressor`, rows and malformed lines of erased people are neither loaded nor
    quarantined: the ledger counts them as `rows_suppressed`.
    """
    ingested_at = _utc(ingested_at)
    index = LedgerIndex(ledger, source.name)
    seen: SortedHashSet | None = None  # built for the first new file: a night with none skips it
    union: dict[str, None] = {}  # raw column names, in order of first appearance
    columns_of = _SourceColumns(source, list(known_columns), union)
    kept_frames: list[pd.DataFrame] = []
    quarantines: list[pd.DataFrame] = []
    ledger_rows: list[dict[str, object]] = []
    duplicate_rows: list[dict[str, object]] = []
    files: list[str] = []
    sql = _SqlSnapshot(trusted=sql_unchanged)
    for read in _new_files(source, config, index, duplicate_rows, sql):
        if seen is None:
            seen = SortedHashSet(_known_hashes(known_row_hashes))
        files.append(read.file)
        rows, quarantine, ledger_row = _file_part(
            read, union, seen, batch_id, ingested_at, suppressor, columns_of
        )
        quarantines.append(quarantine)
        ledger_rows.append(ledger_row)
        if sink is None:
            kept_frames.append(rows)
        elif len(rows):
            sink(rows)
    if source.format == "jsonl" and files:
        # JSON writers omit null keys, so one file (a day of anonymous events, say) may lack
        # a mapped key; only a key absent from every new file is a mapping mistake.
        shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
        check_mapped_columns(source, [*known_columns, *union], f"any new file ({shown})")
    for row in duplicate_rows:
        ledger_rows.append(
            {
                **row,
                "status": STATUS_DUPLICATE,
                "encoding": None,
                "rows_read": 0,
                "rows_loaded": 0,
                "rows_quarantined": 0,
                "exact_duplicates": 0,
                "rows_suppressed": 0,
            }
        )
    ledger_rows.sort(key=lambda r: str(r["file"]))

    columns = list(union)
    rows_frame = _assemble_rows(kept_frames, columns, batch_id, ingested_at)
    quarantine = _assemble_quarantine(quarantines, source, batch_id, ingested_at)
    ledger_frame = _assemble_ledger(ledger_rows, source, batch_id, ingested_at)
    return IngestBatch(
        rows=rows_frame,
        quarantine=quarantine,
        ledger=ledger_frame,
        files_ingested=len(files),
        duplicate_files=len(duplicate_rows),
        rows_read=int(ledger_frame["rows_read"].sum()),
        rows_loaded=int(ledger_frame["rows_loaded"].sum()),
        rows_quarantined=int(ledger_frame["rows_quarantined"].sum()),
        exact_duplicates=int(ledger_frame["exact_duplicates"].sum()),
        rows_suppressed=int(ledger_frame["rows_suppressed"].sum()),
        columns=columns,
        sql_content_hash=sql.content_hash,
    )


@dataclass
class _SourceColumns:
    """The raw columns a source has (mapped, in raw.<source>, seen in the batch), to name a
    file's columns against them and keep the source within MAX_SOURCE_COLUMNS."""

    source: SourceConfig
    table: list[str]
    union: dict[str, None]

    def known(self) -> list[str]:
        mapped = [raw_column_name(c) for c in self.source.columns.values()]
        return [*mapped, *self.table, *self.union]

    def over_limit(self, names: list[str]) -> list[str]:
        """The file's raw column names that would take the source past the limit."""
        mapped = {fold(raw_column_name(c)) for c in self.source.columns.values()}
        have = {fold(c) for c in [*self.table, *self.union]} | mapped
        room = MAX_SOURCE_COLUMNS - len(have)
        over: list[str] = []
        for name in names:
            if fold(name) in have:
                continue
            if room > 0:
                room -= 1
                have.add(fold(name))
            else:
                over.append(name)
        return over


def _named(read: _FileRead, columns_of: _SourceColumns | None) -> ReadResult:
    """The file's rows with raw column names (see naming.raw_names), rows with a value in a
    column beyond the source's limit moved to the malformed entries."""
    result = read.result
    source_columns = result.columns
    known = columns_of.known() if columns_of is not None else []
    within = raw_names(source_columns)  # how the reader named the rows frame's columns
    names = raw_names(source_columns, known)
    rows = result.rows.rename(columns={within[c]: names[c] for c in source_columns})
    read.columns = [names[c] for c in source_columns]
    over = columns_of.over_limit(read.columns) if columns_of is not None else []
    if not over:
        return ReadResult(rows, result.malformed, result.encoding, source_columns)
    carrying = rows[over].notna().any(axis=1).to_numpy()
    first = rows[over].notna().idxmax(axis=1)  # the first column beyond, per row
    moved = rows.loc[carrying]
    payloads = [
        shown_payload(json.dumps({k: v for k, v in row.items() if isinstance(v, str)}))
        for row in moved[read.columns].astype(object).to_dict("records")
    ]
    reasons = [
        f"column {first[i]!r} is beyond the {MAX_SOURCE_COLUMNS:,} source columns a source "
        "may have (mapped columns are always read)"
        for i in moved.index
    ]
    malformed = result.malformed.copy()
    if "rule" not in malformed.columns:
        malformed["rule"] = pd.Series(QUARANTINE_RULE, index=malformed.index, dtype=STRING)
    extra = pd.DataFrame(
        {
            "_line": moved["_line"].to_numpy(),
            "raw_payload": pd.Series(payloads, dtype=STRING).to_numpy(),
            "reason": pd.Series(reasons, dtype=STRING).to_numpy(),
            "rule": COLUMNS_RULE,
        }
    ).astype({"raw_payload": STRING, "reason": STRING, "rule": STRING})
    malformed = pd.concat([malformed, extra], ignore_index=True)
    keep = [c for c in read.columns if c not in set(over)]
    read.columns = keep
    rows = rows.loc[~carrying, [*keep, "_line"]].reset_index(drop=True)
    kept_sources = [c for c in source_columns if names[c] in set(keep)]
    return ReadResult(rows, malformed, result.encoding, kept_sources)


NUL = "\x00"
SHOWN_NUL = "\ufffd"  # as column names show it (naming.raw_column_name)


def _without_nul(result: ReadResult, columns: list[str]) -> ReadResult:
    """Rows holding a NUL character moved to the malformed entries (payload: the row as JSON,
    the NUL as \\u0000), and NULs in the other payloads shown as U+FFFD. A NUL is no text:
    PostgreSQL refuses it in any text column, so one such value failed the source's whole batch
    there (and loaded on DuckDB); the row is quarantined on both."""
    malformed = result.malformed
    if len(malformed) and malformed["raw_payload"].str.contains(NUL, regex=False).any():
        malformed = malformed.assign(
            raw_payload=malformed["raw_payload"].str.replace(NUL, SHOWN_NUL, regex=False)
        )
    rows = result.rows
    holding = [c for c in columns if rows[c].str.contains(NUL, regex=False).fillna(False).any()]
    if not holding:
        if malformed is result.malformed:
            return result
        return ReadResult(rows, malformed, result.encoding, result.columns)
    flags = pd.DataFrame(
        {c: rows[c].str.contains(NUL, regex=False).fillna(False).astype(bool) for c in holding}
    )
    carrying = flags.any(axis=1).to_numpy()
    first = flags.idxmax(axis=1)
    moved = rows.loc[carrying]
    payloads = [  # JSON shows the NUL as \u0000
        shown_payload(json.dumps({k: v for k, v in row.items() if isinstance(v, str)}))
        for row in moved[columns].astype(object).to_dict("records")
    ]
    reasons = [
        f"a NUL character (\\u0000) in column {first[i]!r}: not text, no warehouse column may "
        "hold it"
        for i in moved.index
    ]
    if "rule" not in malformed.columns:
        malformed = malformed.assign(
            rule=pd.Series(QUARANTINE_RULE, index=malformed.index, dtype=STRING)
        )
    extra = pd.DataFrame(
        {
            "_line": moved["_line"].to_numpy(),
            "raw_payload": pd.Series(payloads, dtype=STRING).to_numpy(),
            "reason": pd.Series(reasons, dtype=STRING).to_numpy(),
            "rule": QUARANTINE_RULE,
        }
    ).astype({"raw_payload": STRING, "reason": STRING, "rule": STRING})
    malformed = pd.concat([malformed, extra], ignore_index=True)
    rows = rows.loc[~carrying].reset_index(drop=True)
    return ReadResult(rows, malformed, result.encoding, result.columns)


def _file_part(
    read: _FileRead,
    union: dict[str, None],
    seen: SortedHashSet,
    batch_id: str,
    ingested_at: pd.Timestamp,
    suppressor: Suppressor | None = None,
    columns_of: _SourceColumns | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """One file's loaded rows (raw shape), malformed lines and ledger row.

    Updates `union` with the file's columns and `seen` with its row hashes: a row is an exact
    duplicate when its hash is already in `seen` (the raw table, an earlier file of the batch)
    or earlier in this file.
    """
    read.result = _without_nul(_named(read, columns_of), read.columns)
    read.hashes = row_hashes(read.result.rows, read.columns)
    union.update(dict.fromkeys(read.columns))
    drop = seen.contains(read.hashes) | pd.Series(read.hashes).duplicated().to_numpy()
    seen.add(read.hashes)

    keep = ~drop
    suppressed = np.zeros(len(keep), dtype=bool)
    malformed = read.result.malformed
    if suppressor is not None:
        suppressed = keep & suppressor.rows(read.result.rows)
        keep &= ~suppressed
        malformed = malformed.loc[~suppressor.payloads(malformed["raw_payload"])]
    kept = read.result.rows.loc[keep]
    rows = _raw_rows(kept, list(union), read.file, read.hashes[keep], batch_id, ingested_at)

    quarantine = pd.DataFrame(
        {
            "file": read.file,
            "line": malformed["_line"].to_numpy(),
            "raw_payload": malformed["raw_payload"].to_numpy(),
            "reason": malformed["reason"].to_numpy(),
            "rule": malformed["rule"].to_numpy()
            if "rule" in malformed.columns
            else np.full(len(malformed), QUARANTINE_RULE, dtype=object),
        }
    )
    rows_read = read.result.rows_read
    loaded, quarantined, exact = int(keep.sum()), len(malformed), int(drop.sum())
    erased = rows_read - loaded - quarantined - exact
    assert erased == int(suppressed.sum()) + len(read.result.malformed) - len(malformed), (
        f"{read.file}: {rows_read} read != {loaded} + {quarantined} + {exact} + {erased}"
    )
    ledger_row = {
        "file": read.file,
        "content_hash": read.digest,
        "size_bytes": read.size,
        "modified_at": read.modified_at,
        "status": STATUS_INGESTED,
        "duplicate_of": None,
        "encoding": read.result.encoding,
        "rows_read": rows_read,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
        "exact_duplicates": exact,
        "rows_suppressed": erased,
    }
    return rows, quarantine, ledger_row


def _raw_rows(
    kept: pd.DataFrame,
    columns: list[str],
    file: str,
    hashes: np.ndarray,
    batch_id: str,
    ingested_at: pd.Timestamp,
) -> pd.DataFrame:
    """Rows as raw.<source> holds them: `columns` as text (NA where the file lacks one), then
    the lineage columns."""
    n = len(kept)
    index = pd.RangeIndex(n)
    data: dict[str, pd.Series] = {
        column: (
            pd.Series(kept[column].astype(STRING).array, index=index)
            if column in kept.columns
            else pd.Series(pd.NA, index=index, dtype=STRING)
        )
        for column in columns
    }
    lineage = {
        "_file": pd.Series(file, index=index),
        "_line": pd.Series(kept["_line"].to_numpy(), index=index),
        "_batch_id": pd.Series(batch_id, index=index),
        "_ingested_at": pd.Series(ingested_at, index=index),
        "_row_hash": pd.Series(hashes, index=index),
    }
    for column, dtype in RAW_LINEAGE_DTYPES.items():
        data[column] = lineage[column].astype(dtype)
    return pd.DataFrame(data, index=index)


def _assemble_rows(
    parts: list[pd.DataFrame], columns: list[str], batch_id: str, ingested_at: pd.Timestamp
) -> pd.DataFrame:
    """The files' rows with the batch's `columns` (NA where a file lacks one), then lineage."""
    if not parts:
        empty = pd.DataFrame({"_line": pd.Series([], dtype="int64")})
        return _raw_rows(empty, columns, "", np.zeros(0, np.int64), batch_id, ingested_at)
    shaped = []
    for part in parts:
        missing = {c: STRING for c in columns if c not in part.columns}
        shaped.append(part.reindex(columns=[*columns, *RAW_LINEAGE_DTYPES]).astype(missing))
    return pd.concat(shaped, ignore_index=True)


def _assemble_quarantine(
    parts: list[pd.DataFrame], source: SourceConfig, batch_id: str, ingested_at: pd.Timestamp
) -> pd.DataFrame:
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    n = len(found)
    data: dict[str, object] = {
        "source": source.name,
        "stage": "ingest",
        "batch_id": batch_id,
        "record_id": pd.NA,
        "rule": QUARANTINE_RULE,
        "quarantined_at": ingested_at,
    }
    if n:
        columns = ("file", "line", "raw_payload", "reason", "rule")
        data.update({c: found[c].to_numpy() for c in columns})
    return _typed(data, QUARANTINE_DTYPES, n)


def _assemble_ledger(
    rows: list[dict[str, object]], source: SourceConfig, batch_id: str, ingested_at: pd.Timestamp
) -> pd.DataFrame:
    n = len(rows)
    data: dict[str, object] = {
        "source": source.name,
        "batch_id": batch_id,
        "ingested_at": ingested_at,
    }
    for column in LEDGER_DTYPES:
        if column not in data:
            data[column] = [r.get(column) for r in rows]
    return _typed(data, LEDGER_DTYPES, n)

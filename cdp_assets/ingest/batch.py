"""One ingestion batch of a source: the new rows for `raw.<source>`, the malformed lines for
`ops.quarantine` and the ledger rows for `ops.ingested_files`.

Every row read is loaded, quarantined (a malformed line) or dropped as an exact duplicate of a
row already in the raw table or earlier in the batch; the ledger counts each per file and
`rows_read = rows_loaded + rows_quarantined + exact_duplicates` holds for every file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cdp_assets.canonical import LEDGER_DTYPES, QUARANTINE_DTYPES, RAW_LINEAGE_DTYPES
from cdp_assets.config import CDPConfig, SourceConfig, landing_dir, source_url
from cdp_assets.ingest.errors import SourceReadError
from cdp_assets.ingest.ledger import (
    STATUS_DUPLICATE,
    STATUS_INGESTED,
    LedgerIndex,
    content_hash,
    discover_files,
    relative_name,
)
from cdp_assets.ingest.naming import raw_column_name, raw_names
from cdp_assets.ingest.readers import STRING, ReadResult, read_source_file, read_sql_source
from cdp_assets.ingest.row_hash import frame_content_hash, row_hashes

QUARANTINE_RULE = "malformed_line"


@dataclass
class IngestBatch:
    rows: pd.DataFrame  # source columns (string) + RAW_LINEAGE_DTYPES columns
    quarantine: pd.DataFrame  # QUARANTINE_DTYPES
    ledger: pd.DataFrame  # LEDGER_DTYPES, one row per file considered
    files_ingested: int = 0
    duplicate_files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    exact_duplicates: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {
            "files_ingested": self.files_ingested,
            "duplicate_files": self.duplicate_files,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "exact_duplicates": self.exact_duplicates,
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
    present = set(columns) | {raw_column_name(c) for c in columns}
    problems = [
        f"{source.key_path}.columns.{field_name}: column '{column}' not found in {where} "
        f"(source {source.name})"
        for field_name, column in source.columns.items()
        if column not in present
    ]
    if problems:
        raise SourceReadError("\n".join(problems))


def _known_hashes(known: np.ndarray | set[int] | Iterable[int] | None) -> np.ndarray:
    if known is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(known, set | frozenset):
        values = [int(v) for v in known if v is not None and not pd.isna(v)]
        return np.unique(np.array(values, dtype=np.int64))
    series = pd.Series(np.asarray(known) if not isinstance(known, pd.Series) else known)
    series = series.dropna()
    if series.dtype == object:
        series = series.map(int)
    return np.unique(series.to_numpy(dtype=np.int64))


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


def _read_files(
    source: SourceConfig, config: CDPConfig, index: LedgerIndex
) -> tuple[list[_FileRead], list[dict[str, object]]]:
    """Reads the new files (or the new sql snapshot); returns them and duplicate-file rows."""
    reads: list[_FileRead] = []
    duplicates: list[dict[str, object]] = []
    if source.format == "sql":
        name = f"sql:{source.name}"
        result = read_sql_source(source_url(config, source.name), source)
        digest = frame_content_hash(result.rows.drop(columns="_line"))
        if index.original_of(digest) is None and not index.seen(name, digest):
            check_mapped_columns(source, result.columns, f"the result of {name}")
            reads.append(_FileRead(name, digest, None, None, result))
            index.record(name, digest)
        return reads, duplicates
    landing = landing_dir(config)
    for path in discover_files(landing, source):
        name = relative_name(landing, path)
        size, modified = _stat(path)
        digest = content_hash(path)
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
        result = read_source_file(path, source, display_name=name)
        if source.format != "jsonl":
            check_mapped_columns(source, result.columns, f"file {name}")
        reads.append(_FileRead(name, digest, size, modified, result))
        index.record(name, digest)
    return reads, duplicates


def ingest_source(
    source: SourceConfig,
    config: CDPConfig,
    *,
    ledger: pd.DataFrame,
    known_row_hashes: np.ndarray | set[int],
    batch_id: str,
    ingested_at: pd.Timestamp,
    known_columns: Iterable[str] = (),
) -> IngestBatch:
    """Assembles one ingestion batch of `source` (see the module docstring).

    `ledger`: the source's existing ops.ingested_files rows (LEDGER_DTYPES, possibly empty);
    `known_row_hashes`: the `_row_hash` values already in raw.<source>; `known_columns`: the
    columns raw.<source> already has (a JSONL key seen before may be absent now). Raises
    SourceReadError (nothing returned) when a file cannot be read or lacks a mapped column.
    """
    ingested_at = _utc(ingested_at)
    index = LedgerIndex(ledger, source.name)
    reads, duplicate_rows = _read_files(source, config, index)

    # Raw column names and row hashes, file by file.
    union: dict[str, None] = {}
    for read in reads:
        mapping = raw_names(read.result.columns)
        read.columns = [mapping[c] for c in read.result.columns]
        read.hashes = row_hashes(read.result.rows, read.columns)
        union.update(dict.fromkeys(read.columns))
    if source.format == "jsonl" and reads:
        # JSON writers omit null keys, so one file (a day of anonymous events, say) may lack
        # a mapped key; only a key absent from every new file is a mapping mistake.
        files = ", ".join(read.file for read in reads[:3]) + (", ..." if len(reads) > 3 else "")
        check_mapped_columns(source, [*known_columns, *union], f"any new file ({files})")

    # Exact duplicates: already in raw, or earlier in this batch (file order, then line order).
    all_hashes = np.concatenate([r.hashes for r in reads]) if reads else np.zeros(0, dtype=np.int64)
    known = _known_hashes(known_row_hashes)
    duplicate = np.isin(all_hashes, known) | pd.Series(all_hashes).duplicated().to_numpy()

    frames: list[pd.DataFrame] = []
    quarantines: list[pd.DataFrame] = []
    ledger_rows: list[dict[str, object]] = []
    start = 0
    for read in reads:
        n = len(read.hashes)
        drop = duplicate[start : start + n]
        start += n
        rows = read.result.rows
        keep = ~drop
        kept = rows.loc[keep]
        frame = pd.DataFrame(
            {
                column: (
                    kept[column].astype(STRING)
                    if column in kept.columns
                    else pd.Series(pd.NA, index=kept.index, dtype=STRING)
                )
                for column in union
            },
            index=kept.index,
        )
        frame["_file"] = read.file
        frame["_line"] = kept["_line"].to_numpy()
        frame["_row_hash"] = read.hashes[keep]
        frames.append(frame)

        malformed = read.result.malformed
        quarantines.append(
            pd.DataFrame(
                {
                    "file": read.file,
                    "line": malformed["_line"].to_numpy(),
                    "raw_payload": malformed["raw_payload"].to_numpy(),
                    "reason": malformed["reason"].to_numpy(),
                }
            )
        )
        rows_read = read.result.rows_read
        loaded, quarantined, exact = int(keep.sum()), len(malformed), int(drop.sum())
        assert rows_read == loaded + quarantined + exact, (
            f"{read.file}: {rows_read} read != {loaded} + {quarantined} + {exact}"
        )
        ledger_rows.append(
            {
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
            }
        )
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
            }
        )
    ledger_rows.sort(key=lambda r: str(r["file"]))

    rows_frame = _assemble_rows(frames, list(union), batch_id, ingested_at)
    quarantine = _assemble_quarantine(quarantines, source, batch_id, ingested_at)
    ledger_frame = _assemble_ledger(ledger_rows, source, batch_id, ingested_at)
    return IngestBatch(
        rows=rows_frame,
        quarantine=quarantine,
        ledger=ledger_frame,
        files_ingested=len(reads),
        duplicate_files=len(duplicate_rows),
        rows_read=int(ledger_frame["rows_read"].sum()),
        rows_loaded=int(ledger_frame["rows_loaded"].sum()),
        rows_quarantined=int(ledger_frame["rows_quarantined"].sum()),
        exact_duplicates=int(ledger_frame["exact_duplicates"].sum()),
    )


def _assemble_rows(
    frames: list[pd.DataFrame], columns: list[str], batch_id: str, ingested_at: pd.Timestamp
) -> pd.DataFrame:
    if frames:
        rows = pd.concat(frames, ignore_index=True)
    else:
        rows = pd.DataFrame(
            {c: pd.Series([], dtype=STRING) for c in columns}
            | {
                "_file": pd.Series([], dtype=STRING),
                "_line": pd.Series([], dtype="int64"),
                "_row_hash": pd.Series([], dtype="int64"),
            }
        )
    out = rows[columns].copy() if columns else pd.DataFrame(index=rows.index)
    out["_file"] = rows["_file"].astype(RAW_LINEAGE_DTYPES["_file"])
    out["_line"] = rows["_line"].astype(RAW_LINEAGE_DTYPES["_line"])
    out["_batch_id"] = pd.Series(batch_id, index=rows.index, dtype=RAW_LINEAGE_DTYPES["_batch_id"])
    out["_ingested_at"] = pd.Series(ingested_at, index=rows.index).astype(
        RAW_LINEAGE_DTYPES["_ingested_at"]
    )
    out["_row_hash"] = rows["_row_hash"].astype(RAW_LINEAGE_DTYPES["_row_hash"])
    return out


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
        data.update({c: found[c].to_numpy() for c in ("file", "line", "raw_payload", "reason")})
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

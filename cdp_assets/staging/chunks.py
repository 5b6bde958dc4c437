"""Staging a large source in chunks, with the outcome of staging it in one piece.

Each chunk stages on its own (`stage_source`); what crosses rows is kept together:

- Supersession keeps the latest version of each record id, so every version of a record is in
  the same chunk: a raw row's chunk is a hash of its record id as staging computes it (the id
  field's text, default-filled and cleaned; `<order_id>|<product_id>` for order items) modulo
  the number of chunks. Sources without an id derive it from file and line, so their rows
  split by file and line. A row without an id is quarantined, whatever its chunk.
  `check_chunk` proves it after the fact: every staged record id hashes to its own chunk.
- Customers' shared identifiers count over the whole source: see `shared_identifier_issues`.
- Asset metadata and the staging quarantine are in recency order: `StagingTotals` merges the
  chunks back into it.

The raw table is read once, in record batches; with more than one chunk each batch's rows are
spilled to one temporary Arrow file per chunk, read back one chunk at a time. Memory then holds
one batch, then one chunk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from cdp_assets.config import SourceConfig
from cdp_assets.contracts.canonical import RECORD_ID_FIELD, fields_of
from cdp_assets.ingest.naming import raw_column_name
from cdp_assets.ingest.row_hash import string_hashes
from cdp_assets.quality.checked import STRING, as_text
from cdp_assets.staging.fields import cleaned_text
from cdp_assets.staging.mapping import RECENCY, compose_record_ids, mapped_text
from cdp_assets.staging.stage import StagingResult

CHUNK_ROWS = 1_000_000  # raw rows per chunk: staging holds ~1 KB per row of a chunk at its peak
PREVIEW_ROWS = 10  # staged rows kept per chunk for the metadata preview (it shows 10)
_QUARANTINE_RECENCY = ["quarantined_at", "file", "line", "batch_id"]  # = RECENCY, renamed
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def chunk_count(rows: int, chunk_rows: int = CHUNK_ROWS) -> int:
    """How many chunks `rows` raw rows stage in (at least one)."""
    return max(1, -(-rows // chunk_rows))


def derives_ids(source: SourceConfig) -> bool:
    """Whether the source's record ids are derived from file and line (no id mapped)."""
    id_field = RECORD_ID_FIELD[source.kind]
    return id_field not in source.columns and source.defaults.get(id_field) is None


def _key_fields(kind: str) -> tuple[str, ...]:
    return ("order_id", "product_id") if kind == "order_items" else (RECORD_ID_FIELD[kind],)


def _key_columns(source: SourceConfig) -> set[str]:
    """The raw columns `record_keys` reads."""
    mapped = {
        raw_column_name(source.columns[f]) for f in _key_fields(source.kind) if f in source.columns
    }
    return {"_file", "_line"} | mapped


def record_keys(raw: pd.DataFrame, source: SourceConfig) -> pd.Series:
    """Per raw row, the text its chunk is a hash of: its record id as staging computes it, or
    `<file>:<line>` when ids are derived."""
    if derives_ids(source):
        return (as_text(raw["_file"]) + ":" + raw["_line"].astype(STRING)).astype(STRING)
    fields = {f.name: f for f in fields_of(source.kind)}
    cleaned: dict[str, pd.Series] = {}
    for name in _key_fields(source.kind):
        text, _ = mapped_text(raw, source, name)
        if text is None:  # a required field left unmapped: staging reports it
            text = pd.Series(pd.NA, index=raw.index, dtype=STRING)
        cleaned[name] = cleaned_text(fields[name], text)
    return compose_record_ids(source.kind, cleaned.__getitem__)


def chunks_of_keys(keys: pd.Series, count: int) -> np.ndarray:
    """Per key, its chunk in 0..count-1 (chunk 0 for a null key)."""
    if count == 1 or not len(keys):
        return np.zeros(len(keys), dtype=np.int64)
    array = pa.array(as_text(keys).array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    hashes, valid = string_hashes(array)
    chunks = (hashes % np.uint64(count)).astype(np.int64)
    chunks[~valid] = 0
    return chunks


def check_chunk(source: SourceConfig, record_ids: pd.Series, chunk: int, count: int) -> None:
    """Raises when a staged record id of chunk `chunk` hashes to another chunk: its versions
    could then be staged in two chunks (record keys and staging drifted apart)."""
    if count == 1 or derives_ids(source):
        return
    stray = chunks_of_keys(record_ids, count) != chunk
    if stray.any():
        example = record_ids[stray].iloc[0]
        raise RuntimeError(
            f"staging {source.name!r} in {count} chunks: record id {example!r} of chunk {chunk} "
            "hashes to another chunk (record_keys no longer matches the staged record ids)"
        )


class RawChunks:
    """A source's raw rows split into chunks: one chunk is held in memory, more are spilled
    to Arrow files in `directory` (which the caller creates and removes)."""

    def __init__(self, count: int, rows: int) -> None:
        self.count = count
        self.rows = rows
        self._frame: pd.DataFrame | None = None
        self._files: list[Path] = []

    @classmethod
    def of_frame(cls, raw: pd.DataFrame) -> RawChunks:
        chunks = cls(1, len(raw))
        chunks._frame = raw
        return chunks

    @classmethod
    def split(
        cls,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        source: SourceConfig,
        count: int,
        directory: Path,
    ) -> RawChunks:
        """Reads every batch now (the caller's transaction may end after this returns).
        `schema` shapes an empty table; batches keep their own."""
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return cls.of_frame(schema.empty_table().to_pandas())
        batches = itertools.chain([first], batches)
        if count == 1:
            return cls.of_frame(pa.Table.from_batches(batches, schema=first.schema).to_pandas())
        chunks = cls(count, 0)
        chunks._files = [directory / f"chunk_{i:04d}.arrow" for i in range(count)]
        writers = [pa.ipc.new_file(p, first.schema, options=_IPC_OPTIONS) for p in chunks._files]
        try:
            for batch in batches:
                chunks._spill(batch, source, writers)
        finally:
            for writer in writers:
                writer.close()
        return chunks

    def _spill(
        self,
        batch: pa.RecordBatch,
        source: SourceConfig,
        writers: list[pa.ipc.RecordBatchFileWriter],
    ) -> None:
        needed = [c for c in batch.schema.names if c in _key_columns(source)]
        keys = record_keys(pa.Table.from_batches([batch]).select(needed).to_pandas(), source)
        chunk = chunks_of_keys(keys, self.count)
        order = np.argsort(chunk, kind="stable")
        ordered = batch.take(pa.array(order))
        bounds = np.concatenate([[0], np.cumsum(np.bincount(chunk, minlength=self.count))])
        for i, writer in enumerate(writers):
            if bounds[i + 1] > bounds[i]:
                writer.write_batch(ordered.slice(bounds[i], bounds[i + 1] - bounds[i]))
        self.rows += batch.num_rows

    def _take_frame(self) -> pd.DataFrame:
        frame, self._frame = self._frame, None
        return frame

    def frames(self) -> Iterator[pd.DataFrame]:
        """Each chunk's raw rows, one at a time (as the warehouse's table reader gives them).
        Once: a chunk held in memory is let go of with the frame."""
        if self._frame is not None:
            yield self._take_frame()
            return
        for path in self._files:
            yield _read_chunk(path)


def _read_chunk(path: Path) -> pd.DataFrame:
    # A function of its own, so that no reference to the chunk outlives the frame's use.
    with pa.OSFile(str(path)) as file:
        return pa.ipc.open_file(file).read_all().to_pandas()


@dataclass
class StagingTotals:
    """What the metadata and checks of a staging asset need, summed over its chunks: counts,
    the first staged rows and the whole quarantine (both in recency order), issue counts."""

    rows_in: int = 0
    rows_staged: int = 0
    issues: int = 0
    superseded: int = 0  # issues with action `superseded`
    chunks: int = 0
    _heads: list[pd.DataFrame] = field(default_factory=list)
    _quarantines: list[pd.DataFrame] = field(default_factory=list)
    _issue_counts: list[pd.Series] = field(default_factory=list)
    _quarantine: pd.DataFrame | None = None  # merged on first use

    def add(self, result: StagingResult) -> None:
        self._quarantine = None
        self.chunks += 1
        self.rows_in += result.rows_in
        self.rows_staged += len(result.staged)
        # take() copies: a head() slice would keep the whole chunk's text buffers alive.
        self._heads.append(result.staged.take(np.arange(min(PREVIEW_ROWS, len(result.staged)))))
        self._quarantines.append(result.quarantine)
        self.add_issues(result.issues)

    def add_issues(self, issues: pd.DataFrame) -> None:
        self.issues += len(issues)
        self.superseded += int((issues["action"] == "superseded").sum()) if len(issues) else 0
        if len(issues):
            self._issue_counts.append(issues.groupby(["field", "rule", "action"]).size())

    @property
    def issue_counts(self) -> pd.Series:
        """Issues per (field, rule, action), as `groupby(...).size()` over all of them."""
        if len(self._issue_counts) == 1:
            return self._issue_counts[0]
        return pd.concat(self._issue_counts).groupby(level=[0, 1, 2]).sum()

    @property
    def preview(self) -> pd.DataFrame:
        """The first staged rows, in recency order."""
        return _in_recency_order(self._heads, list(RECENCY)).head(PREVIEW_ROWS)

    @property
    def quarantine(self) -> pd.DataFrame:
        """Every chunk's quarantined rows, in recency order (as one piece would give them)."""
        if self._quarantine is None:
            self._quarantine = _in_recency_order(self._quarantines, _QUARANTINE_RECENCY)
        return self._quarantine


def _in_recency_order(parts: list[pd.DataFrame], recency: list[str]) -> pd.DataFrame:
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(recency, kind="stable", na_position="first")
    return frame.reset_index(drop=True)

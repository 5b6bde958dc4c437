"""Which landed files a source has, what their content is, and which of them are new.

The ledger (`ops.ingested_files`) holds one row per file (or sql snapshot) seen per source.
A file is identified by its path relative to the landing folder and the sha256 of its bytes:
the same (path, hash) is never read twice, and a new file whose bytes were already ingested
under another name is recorded as a `duplicate_file` of the first. A file whose size and
modification time are still those recorded when it was last ingested is not hashed again
(`LedgerIndex.known_digest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from cdp_assets.config import SourceConfig
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.warehouse import UNIQUE_KEYS

STATUS_INGESTED = "ingested"
STATUS_DUPLICATE = "duplicate_file"
LEDGER_TABLE = TableRef("ops", "ingested_files")
LEDGER_KEY: tuple[str, ...] = UNIQUE_KEYS[(LEDGER_TABLE.schema, LEDGER_TABLE.table)]
# A file modified less than this before its ingestion began is hashed again every time (see
# `_trusted_stats`): file system clocks tick every few milliseconds.
RACY_SECONDS = 1.0


def claim_source(session: WarehouseSession, source_name: str) -> None:
    """Makes this transaction the only ingestion of `source_name` until it ends: call it first
    in the transaction that reads the source's ledger, loads the new files and appends their
    ledger rows. On PostgreSQL a concurrent run of the same source waits here (a transaction
    advisory lock per source) until this one commits or rolls back, then reads a ledger that
    lists what this one loaded, so each file is loaded once; the ledger's unique index over
    (source, file, content_hash) is added if missing and refuses a second claim of a file
    by any run that skips this. DuckDB allows one writing process per file: nothing to do."""
    if session.dialect != "postgresql":
        return
    session.take_turns(f"ingest:{source_name}")
    if session.table_exists(LEDGER_TABLE):
        session.ensure_unique_index(LEDGER_TABLE, LEDGER_KEY)


def repeated_claims(session: WarehouseSession, limit: int = 10) -> list[tuple]:
    """(source, file, content_hash, count) of files the ledger lists more than once: loaded
    twice by concurrent runs before the ledger was unique. Their index cannot be added until
    the later batch's rows are removed (raw.<source>, ops.quarantine, ops.ingested_files by
    batch_id)."""
    if not session.table_exists(LEDGER_TABLE):
        return []
    return session.repeated_keys(LEDGER_TABLE, LEDGER_KEY, limit)


def ingested_pairs(
    session: WarehouseSession, sources: Collection[str]
) -> dict[str, set[tuple[str, str]]]:
    """(file, content_hash) pairs the ledger lists, per source among `sources`."""
    pairs: dict[str, set[tuple[str, str]]] = {name: set() for name in sources}
    if not pairs or not session.table_exists(LEDGER_TABLE):
        return pairs
    rows = session.query(f"SELECT source, file, content_hash FROM {LEDGER_TABLE.sql}")
    for source, file, digest in rows.itertuples(index=False):
        if source in pairs and isinstance(file, str) and isinstance(digest, str):
            pairs[source].add((file, digest))
    return pairs


def discover_files(landing: Path, source: SourceConfig) -> list[Path]:
    """The files matching the source's glob under `landing`, sorted by relative path.

    Hidden files (a name starting with '.') are left out: uploads in progress often use them.
    """
    if not source.path or not landing.is_dir():
        return []
    pattern = source.path.lstrip("/")
    found = [
        p
        for p in landing.glob(pattern)
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(landing).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(landing).as_posix())


def nothing_landed(landing: Path, source: SourceConfig) -> str | None:
    """Why a file source has no file to read, when its glob matches none: a misspelt `path`
    or `landing_dir` would otherwise load nothing, night after night, without a word. None
    when a file matches (or for sql sources)."""
    if not source.path or discover_files(landing, source):
        return None
    if not landing.is_dir():
        return f"landing_dir: folder {landing} does not exist (source {source.name} reads no file)"
    return (
        f"{source.key_path}.path: {source.path!r} matches no file under {landing} "
        f"(source {source.name})"
    )


def relative_name(landing: Path, path: Path) -> str:
    return path.relative_to(landing).as_posix()


def content_hash(path: Path) -> str:
    """sha256 (hex) of the file's bytes, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class LedgerIndex:
    """What the existing ledger of one source says: which (file, hash) pairs were seen, the
    file each content hash was first ingested as, and the size and modification time each
    file had when last ingested (`known_digest`)."""

    def __init__(self, ledger: pd.DataFrame, source_name: str) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self.first_file: dict[str, str] = {}
        self.stats: dict[str, tuple[int, pd.Timestamp, str]] = {}
        if ledger is None or len(ledger) == 0:
            return
        rows = ledger
        if "source" in rows.columns:
            rows = rows[rows["source"].astype("string") == source_name]
        order = [c for c in ("ingested_at", "file") if c in rows.columns]
        if order:
            rows = rows.sort_values(order, kind="stable")
        self.stats = _trusted_stats(rows)
        for file, digest, status, duplicate_of in zip(
            rows["file"].astype("string"),
            rows["content_hash"].astype("string"),
            rows["status"].astype("string") if "status" in rows.columns else [None] * len(rows),
            rows["duplicate_of"].astype("string")
            if "duplicate_of" in rows.columns
            else [None] * len(rows),
            strict=True,
        ):
            if pd.isna(file) or pd.isna(digest):
                continue
            self.pairs.add((str(file), str(digest)))
            original = (
                duplicate_of if status == STATUS_DUPLICATE and not pd.isna(duplicate_of) else file
            )
            self.first_file.setdefault(str(digest), str(original))

    def seen(self, file: str, digest: str) -> bool:
        return (file, digest) in self.pairs

    def original_of(self, digest: str) -> str | None:
        return self.first_file.get(digest)

    def record(self, file: str, digest: str) -> None:
        self.pairs.add((file, digest))
        self.first_file.setdefault(digest, file)

    def known_digest(self, file: str, size: int, modified: pd.Timestamp) -> str | None:
        """The content hash `file` had when last ingested, when its size and modification
        time (to the microsecond) are still the ones recorded then: its bytes are not read
        again. None (hash the file) otherwise."""
        known = self.stats.get(file)
        if known is None or known[0] != size or known[1] != modified:
            return None
        return known[2]


def _trusted_stats(rows: pd.DataFrame) -> dict[str, tuple[int, pd.Timestamp, str]]:
    """file → (size, modified_at, content_hash) of its latest ledger row (rows in ingestion
    order), for the files last modified at least RACY_SECONDS before that ingestion began: a
    file modified closer to it could be written again within the same tick of the file
    system's clock, keeping size and time (git calls these entries racy)."""
    needed = ("file", "content_hash", "size_bytes", "modified_at", "ingested_at")
    if any(column not in rows.columns for column in needed):
        return {}
    settled = rows["modified_at"] < rows["ingested_at"] - pd.Timedelta(seconds=RACY_SECONDS)
    stats: dict[str, tuple[int, pd.Timestamp, str]] = {}
    for file, digest, size, modified, trusted in zip(
        rows["file"], rows["content_hash"], rows["size_bytes"], rows["modified_at"],
        settled.fillna(False), strict=True,
    ):  # fmt: skip
        if pd.isna(file):
            continue
        stats.pop(str(file), None)  # a later row of the file replaces what an earlier said
        if trusted and not (pd.isna(digest) or pd.isna(size)):
            stats[str(file)] = (int(size), pd.Timestamp(modified), str(digest))
    return stats

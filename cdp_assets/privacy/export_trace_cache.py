"""The erased-people scan of the export files, remembering files it has already scanned.

`privacy.trace.export_traces` reads every export file under the exports folder and hashes
every identifier in it, on every run: the folder keeps every export ever published, so the
scan grows with each night although almost every file is one it scanned the night before.

`cached_export_traces` gives the same table (one row per data file: `table`, `rows`,
`traces`) but scans only files it has not scanned before with the same suppression list. A
file's figures depend only on its bytes, the privacy salt and the suppression list, so they
are remembered by the SHA-256 of the file's bytes (itself remembered while the file stays put:
`file_checksums`), under a fingerprint of the salt and the
list: a file rewritten (an erasure scrub) has new bytes and is scanned again, and a new
suppression list (someone erased since) forgets everything. The memory is a small JSON file,
`.export_trace_cache.json`, in the exports folder (no identifiers in it: content hashes,
counts); a missing, unreadable or foreign one is simply rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cdp_assets.activation.atomic import write_json_atomically
from cdp_assets.activation.export_files import EXPORT_FILE_MODE, read_export_file
from cdp_assets.privacy.file_checksums import FileChecksums
from cdp_assets.privacy.identifiers import hash_matches, named_values

CACHE_FILE = ".export_trace_cache.json"
CACHE_VERSION = 1
EXPORT_SUFFIXES = (".csv", ".parquet")  # as privacy.trace.export_traces scans
TRACE_COLUMNS = ["table", "rows", "traces"]


@dataclass(frozen=True)
class TraceScan:
    """The per-file table, and how many files were scanned rather than remembered."""

    traces: pd.DataFrame
    scanned: int
    remembered: int


def suppression_fingerprint(salt: bytes, suppressed: frozenset[str]) -> str:
    """SHA-256 of the salt and the sorted suppression list (the hashes, never identifiers)."""
    digest = hashlib.sha256(salt)
    for value in sorted(suppressed):
        digest.update(b"\x00" + value.encode("utf-8"))
    return digest.hexdigest()


def export_data_files(root: Path) -> list[Path]:
    """The files `export_traces` scans: every .csv / .parquet under `root`, staged ones
    included, temporary ones (name starting with '.') not."""
    if not root.exists():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in EXPORT_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _load_cache(path: Path, fingerprint: str) -> dict[str, list[int]]:
    """{file sha256: [rows, traces]} remembered under `fingerprint`; empty when none."""
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict) or cache.get("version") != CACHE_VERSION:
        return {}
    if cache.get("suppression") != fingerprint or not isinstance(cache.get("files"), dict):
        return {}
    return {
        str(sha): [int(v) for v in figures]
        for sha, figures in cache["files"].items()
        if isinstance(figures, list) and len(figures) == 2
    }


def remembered_scans(
    root: Path, salt: bytes, suppressed: frozenset[str]
) -> dict[str, tuple[int, int]]:
    """{file sha256: (rows, traces)} the scan remembers for the files under `root` with this
    salt and suppression list (empty when it remembers none, or another list)."""
    if not suppressed:
        return {}
    remembered = _load_cache(Path(root) / CACHE_FILE, suppression_fingerprint(salt, suppressed))
    return {sha: (figures[0], figures[1]) for sha, figures in remembered.items()}


def scan_file(path: Path, salt: bytes, suppressed: frozenset[str]) -> tuple[int, int]:
    """(rows, rows naming a suppressed identifier) of one export file."""
    frame = read_export_file(path)
    found = hash_matches(named_values(frame), salt, suppressed, frame.index)
    return len(frame), int(found.sum())


def cached_export_traces(
    root: Path,
    salt: bytes,
    suppressed: frozenset[str],
    scan: Callable[[Path, bytes, frozenset[str]], tuple[int, int]] = scan_file,
) -> TraceScan:
    """`export_traces(root, salt, suppressed)`, scanning only files not remembered."""
    root = Path(root)
    if not root.exists() or not suppressed:
        return TraceScan(pd.DataFrame([], columns=TRACE_COLUMNS), 0, 0)
    fingerprint = suppression_fingerprint(salt, suppressed)
    remembered = _load_cache(root / CACHE_FILE, fingerprint)
    kept: dict[str, list[int]] = {}
    rows: list[dict[str, object]] = []
    scanned = 0
    checksum = FileChecksums(remember=(root,))
    for path in export_data_files(root):
        sha = checksum(path)
        figures = remembered.get(sha) or kept.get(sha)
        if figures is None:
            figures = list(scan(path, salt, suppressed))
            scanned += 1
        kept[sha] = figures
        rows.append(
            {"table": str(path.relative_to(root)), "rows": figures[0], "traces": figures[1]}
        )
    cache = {"version": CACHE_VERSION, "suppression": fingerprint, "files": kept}
    write_json_atomically(root / CACHE_FILE, cache, EXPORT_FILE_MODE)
    checksum.save()
    table = pd.DataFrame(rows, columns=TRACE_COLUMNS)
    return TraceScan(table, scanned, len(rows) - scanned)

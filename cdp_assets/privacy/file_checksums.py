"""SHA-256 checksums of export and snapshot files, computed once while a file's bytes stay put.

The erasure step's trace check and the export steps' scan decide by checksum whether a file is
one they already found clean: without a memory they read every file under the exports folder
and the model store every night (145 files at 1,000,000 people), although almost all of them
are the files of the night before.

`FileChecksums` remembers, per folder it is told to remember, each file's inode, size,
modification and status-change times (ns) with its checksum, in a small JSON file
(`.file_checksums.json`, no identifiers: relative paths, numbers and hashes) at the folder's
root. A checksum is taken from it only when all four are as recorded and the file was
modified at least `RACY_NS` before the checksum was taken (git's "racily clean" rule): a file
rewritten in the same clock tick as its checksum keeps its modification time on a coarse
clock, so it is read again until that doubt has passed. Every writer of these folders
replaces a file by an atomic rename (a new inode) or writes it anew; the status-change time,
which `touch` and copying tools cannot set back, guards against anything else. A missing,
unreadable or foreign memo is simply rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

from cdp_assets.activation.atomic import write_json_atomically

MEMO_FILE = ".file_checksums.json"
MEMO_VERSION = 1
MEMO_MODE = 0o600  # as the export files: the owner's alone
# A file modified less than this before its checksum was taken is read again next time
# (a coarse file-system clock can give a rewrite in the same tick the same mtime).
RACY_NS = 1_000_000_000

Stat = tuple[int, int, int, int]  # inode, size, mtime ns, ctime ns


def file_checksum(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stat(path: Path) -> Stat:
    """What a remembered checksum is trusted on: inode, size, mtime and ctime (ns)."""
    found = path.stat()
    return (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


class _FolderMemo:
    """One remembered folder: {relative path: (stat, checksum, taken_ns)}."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries = self._load()
        self.changed = False

    def _load(self) -> dict[str, tuple[Stat, str, int]]:
        try:
            memo = json.loads((self.root / MEMO_FILE).read_text(encoding="utf-8"))
            if memo.get("version") != MEMO_VERSION:
                return {}
            return {
                str(name): ((int(a), int(b), int(c), int(d)), str(sha), int(taken))
                for name, (a, b, c, d, sha, taken) in memo["files"].items()
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}

    def trusted(self, name: str, stat: Stat) -> str | None:
        entry = self.entries.get(name)
        if entry is None or entry[0] != stat:
            return None
        return entry[1] if stat[2] < entry[2] - RACY_NS else None

    def remember(self, name: str, stat: Stat, checksum: str, taken_ns: int) -> None:
        self.entries[name] = (stat, checksum, taken_ns)
        self.changed = True

    def save(self) -> None:
        kept = {name: e for name, e in self.entries.items() if (self.root / name).is_file()}
        if not self.changed and len(kept) == len(self.entries):
            return
        files = {name: [*stat, sha, taken] for name, (stat, sha, taken) in sorted(kept.items())}
        memo = {"version": MEMO_VERSION, "files": files}
        write_json_atomically(self.root / MEMO_FILE, memo, MEMO_MODE)
        self.entries, self.changed = kept, False


class FileChecksums:
    """`file_checksum` of each file computed once while its bytes stay put (same inode, size,
    modification and status-change times): within one step, where files change only by the
    step's own atomic rewrites (the erasure step reads an export file's checksum up to three
    times: known clean, scrubbed clean, trace check), and, for files under one of the
    `remember` folders, across steps through the folder's memo (see the module docs; `save`
    writes it)."""

    def __init__(self, remember: Iterable[Path] = ()) -> None:
        self._known: dict[tuple[str, Stat], str] = {}
        self._memos = [_FolderMemo(Path(root).resolve()) for root in remember]

    def __call__(self, path: Path) -> str:
        stat = file_stat(path)
        key = (str(path), stat)
        if key in self._known:
            return self._known[key]
        memo, name = self._memo_of(path)
        checksum = memo.trusted(name, stat) if memo is not None else None
        if checksum is None:
            taken_ns = time.time_ns()
            checksum = file_checksum(path)
            if memo is not None and file_stat(path) == stat:  # not rewritten while being read
                memo.remember(name, stat, checksum, taken_ns)
        self._known[key] = checksum
        return checksum

    def _memo_of(self, path: Path) -> tuple[_FolderMemo | None, str]:
        resolved = Path(path).resolve()
        for memo in self._memos:
            if resolved.is_relative_to(memo.root):
                return memo, resolved.relative_to(memo.root).as_posix()
        return None, ""

    def save(self) -> None:
        """Write the memo of every remembered folder (files gone since are forgotten)."""
        for memo in self._memos:
            if memo.root.is_dir():
                memo.save()

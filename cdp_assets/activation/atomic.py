"""Atomic file writes: a reader sees the old file or the new one, never a missing or half file.

The new content goes to a hidden temporary file in the same directory (so the final rename
never crosses a file system), is flushed to disk with `fsync`, and then `os.replace`s the
final name in one step. The directory is fsynced afterwards where the platform allows it, so
the rename itself survives a crash.

A `mode` (e.g. 0o600 for files holding personal data) is set on the temporary file with
`fchmod` before any byte is written, so the umask can neither widen nor narrow it and the
file is never readable by others, not even for a moment; `make_directories` does the same
for folders.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _temporary_path(path: Path, mode: int | None = None) -> Path:
    """A new, empty, hidden file next to `path` (created exclusively): exactly `mode` when
    given, else 0666 & ~umask."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o666)
        except FileExistsError:
            continue
        try:
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return candidate


def make_directories(path: Path, mode: int) -> None:
    """Create `path` and its missing parents, each with exactly `mode`; folders that already
    exist are left as they are."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue  # created meanwhile by a concurrent writer
        os.chmod(directory, mode)  # mkdir's mode is narrowed by the umask


def _fsync_file(path: Path) -> None:
    """Flush a file's content to disk (O_RDWR: Windows refuses fsync on read-only handles)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry (the rename) to disk; a no-op where directories can't be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on directories
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[Path], None], mode: int | None = None) -> None:
    """Create or replace `path` atomically: `write` fills a temporary path, which then replaces
    `path`. On any exception the temporary file is removed and `path` is left untouched.
    With `mode`, the new file has exactly that mode (missing folders are created with the
    same mode plus the search bits, e.g. 0700 for 0600)."""
    path = Path(path)
    if mode is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        make_directories(path.parent, directory_mode(mode))
    temporary = _temporary_path(path, mode)
    try:
        write(temporary)
        _fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def directory_mode(file_mode: int) -> int:
    """The folder mode that goes with a file mode: search (x) wherever read (r) is allowed."""
    return file_mode | ((file_mode & 0o444) >> 2)


def write_bytes_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Create or replace `path` with `data`, atomically (exactly `mode` when given)."""
    write_atomically(path, lambda temporary: temporary.write_bytes(data), mode)


def json_bytes(obj: Any) -> bytes:
    """`obj` as UTF-8 JSON with sorted keys, indent 2 and a final newline."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_json_atomically(path: Path, obj: Any, mode: int | None = None) -> None:
    """Create or replace `path` with `obj` as JSON (sorted keys, indent 2), atomically."""
    write_bytes_atomically(path, json_bytes(obj), mode)

"""Atomic file writes: a reader sees the old file or the new one, never a missing or half file.

The new content goes to a hidden temporary file in the same directory (so the final rename
never crosses a file system), is flushed to disk with `fsync`, and then `os.replace`s the
final name in one step. The directory is fsynced afterwards where the platform allows it, so
the rename itself survives a crash.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _temporary_path(path: Path) -> Path:
    """A new, empty, hidden file next to `path` (created exclusively, mode 0666 & ~umask)."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate


def _fsync_file(path: Path) -> None:
    """Flush a file's content to disk (O_RDWR: Windows refuses fsync on read-only handles)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
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


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Create or replace `path` atomically: `write` fills a temporary path, which then replaces
    `path`. On any exception the temporary file is removed and `path` is left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_path(path)
    try:
        write(temporary)
        _fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Create or replace `path` with `data`, atomically."""
    write_atomically(path, lambda temporary: temporary.write_bytes(data))


def json_bytes(obj: Any) -> bytes:
    """`obj` as UTF-8 JSON with sorted keys, indent 2 and a final newline."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_json_atomically(path: Path, obj: Any) -> None:
    """Create or replace `path` with `obj` as JSON (sorted keys, indent 2), atomically."""
    write_bytes_atomically(path, json_bytes(obj))

"""The suppression list: salted hashes of erased people's identifiers.

A source file delivered again must not bring an erased person back, yet the platform must not
keep their identifiers: `ops.suppression_list` holds `identifier_hash(salt, kind, value)` only.
The salt comes from an environment variable (`privacy.salt_env`) or, when it is unset, from a
local file created once with a random salt (`privacy.salt_file`, mode 0600). Its fingerprint
is stored with every hash, so that a changed salt — which would silently let erased people
back in — stops ingestion with a clear error instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig, resolve_path
from cdp_assets.privacy.identifiers import (
    hash_matches,
    raw_columns,
    source_field_values,
    source_text_values,
    text_values,
)
from cdp_assets.warehouse import TableRef, WarehouseSession

SUPPRESSION = TableRef("ops", "suppression_list")
SUPPRESSION_DTYPES: dict[str, str] = {
    "identifier_hash": "string",
    "identifier_kind": "string",
    "request_id": "string",
    "added_at": "datetime64[us, UTC]",
    "salt_fingerprint": "string",
}


class SuppressionError(RuntimeError):
    """The suppression list cannot be applied (e.g. the salt changed)."""


def privacy_salt(config: CDPConfig) -> bytes:
    """The salt: `privacy.salt_env` if set, else the salt file (created on first use)."""
    from_env = os.environ.get(config.privacy.salt_env)
    if from_env:
        return from_env.encode("utf-8")
    path = resolve_path(config, config.privacy.salt_file)
    if not path.exists():
        _create_salt_file(path)
    _refuse_if_readable_by_others(path)
    salt = path.read_text(encoding="utf-8").strip()
    if not salt:
        raise SuppressionError(f"{path}: the privacy salt file is empty")
    return salt.encode("utf-8")


def _refuse_if_readable_by_others(path: Path) -> None:
    """A salt others can read lets them test guesses against the suppression list: refused
    (not silently re-moded: someone widened it, or copied it in, and should know)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SuppressionError(
            f"{path}: the privacy salt file (privacy.salt_file) has mode {mode:04o}, open to "
            f"group or others; run `chmod 600 {path}` (and check who may have read it)"
        )


def _create_salt_file(path: Path) -> None:
    """Written under a temporary name and linked into place: a concurrent first use either
    creates the file or finds it complete, never empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process created it first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def salt_fingerprint(salt: bytes) -> str:
    return hashlib.sha256(b"cdp-salt-fingerprint\x1f" + salt).hexdigest()[:16]


def load_suppressed(session: WarehouseSession, salt: bytes) -> frozenset[str]:
    """Every suppressed identifier hash; raises SuppressionError if they were made with
    another salt."""
    if not session.table_exists(SUPPRESSION):
        return frozenset()
    frame = session.query(f"SELECT identifier_hash, salt_fingerprint FROM {SUPPRESSION.sql}")
    if frame.empty:
        return frozenset()
    fingerprints = set(frame["salt_fingerprint"].dropna().astype(str))
    if fingerprints - {salt_fingerprint(salt)}:
        raise SuppressionError(
            "ops.suppression_list was written with another privacy salt: set the environment "
            "variable named by privacy.salt_env (or restore privacy.salt_file) to the salt it "
            "was made with, or erased people could come back"
        )
    return frozenset(frame["identifier_hash"].astype(str))


class RowSuppressor:
    """Which rows of a source, as read, belong to a suppressed (erased) person."""

    def __init__(
        self, source: SourceConfig, config: CDPConfig, salt: bytes, suppressed: frozenset[str]
    ) -> None:
        self.source = source
        self.config = config
        self.salt = salt
        self.suppressed = suppressed
        self.columns = raw_columns(source)

    def rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row of raw-shaped `frame` (source columns as text): suppressed?"""
        if not self.suppressed or frame.empty:
            return np.zeros(len(frame), dtype=bool)
        values = source_field_values(frame, self.source, self.config, self.columns)
        values += source_text_values(frame, self.source, self.config, raw=True)
        return hash_matches(values, self.salt, self.suppressed, frame.index)

    def payloads(self, payloads: pd.Series) -> np.ndarray:
        """Per malformed line: does its text name a suppressed identifier?"""
        if not self.suppressed or payloads.empty:
            return np.zeros(len(payloads), dtype=bool)
        sources = [self.source.name, *filter(None, [self.source.customer_ref_source])]
        values = text_values(payloads, self.config.source_country(self.source), sources)
        return hash_matches(values, self.salt, self.suppressed, payloads.index)

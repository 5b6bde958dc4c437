"""Erasure in the export files: `scrub_exports` removes erased people from every audience
export file already written (`activation.export_files`) and updates the manifests listing
them, so a destination that reads the files again never meets them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.activation.atomic import write_bytes_atomically, write_json_atomically
from cdp_assets.activation.export_files import (
    MANIFEST_FILE,
    file_sha256,
    frame_bytes,
    read_export_file,
)


@dataclass(frozen=True)
class _ErasedPeople:
    customer_ids: frozenset[str]
    emails: frozenset[str]
    phones: frozenset[str]
    email_hashes: frozenset[str]
    phone_hashes: frozenset[str]

    @classmethod
    def of(cls, customer_ids: set[str], emails: set[str], phones: set[str]) -> _ErasedPeople:
        clean_emails = {e.strip().lower() for e in emails if e and e.strip()}
        clean_phones = {p.strip() for p in phones if p and p.strip()}
        return cls(
            customer_ids=frozenset(customer_ids),
            emails=frozenset(clean_emails),
            phones=frozenset(clean_phones),
            email_hashes=frozenset(h for e in clean_emails if (h := hash_email(e))),
            phone_hashes=frozenset(h for p in clean_phones if (h := hash_phone(p))),
        )

    def rows_of(self, frame: pd.DataFrame) -> pd.Series:
        """True for the rows of `frame` that belong to these people."""
        checks: list[tuple[str, frozenset[str], bool]] = [
            ("customer_id", self.customer_ids, False),
            ("email", self.emails, True),
            ("phone", self.phones, False),
            ("email_sha256", self.email_hashes, False),
            ("phone_sha256", self.phone_hashes, False),
        ]
        matched = pd.Series(False, index=frame.index)
        for column, values, lower in checks:
            if column not in frame.columns or not values:
                continue
            text = frame[column].astype("string").str.strip()
            if lower:
                text = text.str.lower()
            matched |= text.isin(values).fillna(False).astype(bool)
        return matched


def _data_files(root: Path) -> Iterator[Path]:
    """Every export data file under `root`, skipping hidden (temporary) files and folders."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix in (".csv", ".parquet"):
            yield path


def _manifest_index(root: Path) -> tuple[dict[Path, dict[str, Any]], dict[Path, tuple[Path, str]]]:
    """(manifest path → manifest, data file → (manifest path, file kind)) for every manifest."""
    manifests: dict[Path, dict[str, Any]] = {}
    listed: dict[Path, tuple[Path, str]] = {}
    for manifest_path in sorted(root.rglob(MANIFEST_FILE)):
        if any(part.startswith(".") for part in manifest_path.relative_to(root).parts):
            continue
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifests[manifest_path] = manifest
        audience_dir = manifest_path.parent.parent
        for kind, entry in manifest.get("files", {}).items():
            listed[(audience_dir / entry["path"]).resolve()] = (manifest_path, kind)
    return manifests, listed


def scrub_exports(
    root: Path, customer_ids: set[str], emails: set[str], phones: set[str]
) -> dict[str, int]:
    """Erasure: remove the rows of these people from every export data file under `root`.

    A row is theirs when its customer_id, email (compared lower-case) or phone is one of
    theirs, or its email_sha256 / phone_sha256 is the ads hash of one of their emails or
    phones. Each file holding such rows is rewritten atomically without them, and the
    manifest listing it gets the new rows and sha256 (rewritten atomically, after the data
    files). Other files stay byte-identical. Returns {path relative to root: rows removed}
    for the files that changed.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    people = _ErasedPeople.of(customer_ids, emails, phones)
    manifests, listed = _manifest_index(root)
    changed: set[Path] = set()
    removed: dict[str, int] = {}
    for path in _data_files(root):
        frame = read_export_file(path)
        theirs = people.rows_of(frame)
        if not theirs.any():
            continue
        kept = frame[~theirs.to_numpy()].reset_index(drop=True)
        data = frame_bytes(kept, path.suffix.lstrip("."))
        write_bytes_atomically(path, data)
        removed[path.relative_to(root).as_posix()] = int(theirs.sum())
        entry = listed.get(path.resolve())
        if entry is not None:
            manifest_path, kind = entry
            manifests[manifest_path]["files"][kind].update(rows=len(kept), sha256=file_sha256(data))
            changed.add(manifest_path)
    for manifest_path in sorted(changed):
        write_json_atomically(manifest_path, manifests[manifest_path])
    return removed

"""Erasure in the export files: `scrub_exports` removes erased people from every audience
export file already written (`activation.export_files`), published or still staged, and
updates the manifests listing them, so a destination that reads the files again never meets
them.

A data file and its manifest cannot be replaced in one step. Each is replaced atomically,
data files first; a crash in between leaves a manifest whose checksum no longer matches its
file, which `repair_manifests` (run first by every scrub and by every export run) finds and
corrects from the file, so the rerun ends exactly where an uninterrupted run would have."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.activation.atomic import write_bytes_atomically, write_json_atomically
from cdp_assets.activation.export_files import (
    EXPORT_FILE_MODE,
    MANIFEST_FILE,
    STAGED_PREFIX,
    file_sha256,
    frame_bytes,
    read_export_file,
)
from cdp_assets.privacy.identifiers import hash_matches, named_values


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
        return self.rows_in(_compared_columns(frame), frame.index)

    def rows_in(self, columns: dict[str, pd.Series], index: pd.Index) -> pd.Series:
        """`rows_of` on a frame's columns as `_compared_columns` gives them."""
        checks: list[tuple[str, frozenset[str]]] = [
            ("customer_id", self.customer_ids),
            ("email", self.emails),
            ("phone", self.phones),
            ("email_sha256", self.email_hashes),
            ("phone_sha256", self.phone_hashes),
        ]
        matched = pd.Series(False, index=index)
        for column, values in checks:
            if column not in columns or not values:
                continue
            matched |= columns[column].isin(values).fillna(False).astype(bool)
        return matched


# The columns an export row is matched on, and whether they compare lower-cased.
_COMPARED: tuple[tuple[str, bool], ...] = (
    ("customer_id", False),
    ("email", True),
    ("phone", False),
    ("email_sha256", False),
    ("phone_sha256", False),
)


def _compared_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The columns `_ErasedPeople` compares, as text stripped (emails lower-cased too)."""
    columns = {}
    for column, lower in _COMPARED:
        if column in frame.columns:
            text = frame[column].astype("string").str.strip()
            columns[column] = text.str.lower() if lower else text
    return columns


def _hidden(relative: Path) -> bool:
    """A temporary file being written (`.name.<hex>.tmp`), or inside a hidden folder other
    than a staged export's (`.staged-<export_id>`, which holds real files)."""
    *folders, name = relative.parts
    if name.startswith("."):
        return True
    return any(part.startswith(".") and not part.startswith(STAGED_PREFIX) for part in folders)


def _data_files(root: Path) -> Iterator[Path]:
    """Every export data file under `root`, published or staged; temporary files skipped."""
    for path in sorted(root.rglob("*")):
        if _hidden(path.relative_to(root)):
            continue
        if path.is_file() and path.suffix in (".csv", ".parquet"):
            yield path


def _listed_path(manifest_path: Path, entry: dict[str, Any]) -> Path:
    """The data file a manifest entry names. Entries say `<export_id>/<file>`; the file sits
    next to its manifest, in `<export_id>/` once published or `.staged-<export_id>/` before."""
    return (manifest_path.parent / Path(entry["path"]).name).resolve()


def _manifests(root: Path) -> dict[Path, dict[str, Any]]:
    """Every manifest under `root` (published or staged), by path."""
    manifests: dict[Path, dict[str, Any]] = {}
    for manifest_path in sorted(root.rglob(MANIFEST_FILE)):
        if _hidden(manifest_path.relative_to(root)):
            continue
        manifests[manifest_path] = json.loads(manifest_path.read_text(encoding="utf-8"))
    return manifests


def _manifest_index(root: Path) -> tuple[dict[Path, dict[str, Any]], dict[Path, tuple[Path, str]]]:
    """(manifest path → manifest, data file → (manifest path, file kind)) for every manifest."""
    manifests = _manifests(root)
    listed: dict[Path, tuple[Path, str]] = {}
    for manifest_path, manifest in manifests.items():
        for kind, entry in manifest.get("files", {}).items():
            listed[_listed_path(manifest_path, entry)] = (manifest_path, kind)
    return manifests, listed


def _entry_of_file(path: Path, entry: dict[str, Any], manifest_path: Path) -> dict[str, Any]:
    """`entry` with the rows and sha256 of the file as it is now. The file must still be
    the export file the entry describes (same columns): anything else is not repaired."""
    data = path.read_bytes()
    frame = read_export_file(path)
    if [str(c) for c in frame.columns] != list(entry.get("columns", [])):
        raise ValueError(
            f"{path}: its columns {list(frame.columns)} are not those {manifest_path} lists "
            f"({entry.get('columns')}); the file was changed outside the platform: restore it "
            "from a backup or delete the export's folder"
        )
    return {**entry, "rows": len(frame), "sha256": file_sha256(data)}


def repair_manifests(root: Path) -> list[str]:
    """Checksum verification pass: every manifest under `root` whose recorded sha256 of a
    file differs from the file (a scrub that died between rewriting a data file and its
    manifest) gets that file's rows and sha256, atomically. Returns the manifests repaired
    (paths relative to `root`). A listed file that is missing raises, naming it."""
    root = Path(root)
    if not root.is_dir():
        return []
    repaired: list[str] = []
    for manifest_path, manifest in _manifests(root).items():
        changed = False
        for entry in manifest.get("files", {}).values():
            path = _listed_path(manifest_path, entry)
            if not path.exists():
                raise FileNotFoundError(f"{path}: listed in {manifest_path} but missing")
            if file_sha256(path.read_bytes()) != entry.get("sha256"):
                entry.update(_entry_of_file(path, entry, manifest_path))
                changed = True
        if changed:
            write_json_atomically(manifest_path, manifest, EXPORT_FILE_MODE)
            repaired.append(manifest_path.relative_to(root).as_posix())
    return repaired


RowsOf = Callable[[pd.DataFrame], np.ndarray]


def scrub_exports(
    root: Path,
    customer_ids: set[str],
    emails: set[str],
    phones: set[str],
    dry_run: bool = False,
) -> dict[str, int]:
    """Erasure: remove the rows of these people from every export data file under `root`,
    published or staged.

    A row is theirs when its customer_id, email (compared lower-case) or phone is one of
    theirs, or its email_sha256 / phone_sha256 is the ads hash of one of their emails or
    phones. Each file holding such rows is rewritten atomically without them (mode 0600),
    and the manifest listing it gets the new rows and sha256 (rewritten atomically, after the
    data files); `repair_manifests` first corrects what an interrupted scrub left. Other
    files stay byte-identical. Returns {path relative to root: rows removed} for the files
    that changed (with `dry_run`, the rows that would be removed; nothing is written).
    """
    people = _ErasedPeople.of(customer_ids, emails, phones)
    return _scrub(root, lambda frame: people.rows_of(frame).to_numpy(bool), dry_run)


def scrub_suppressed(
    root: Path,
    salt: bytes,
    suppressed: frozenset[str],
    known_clean: Callable[[Path], bool] | None = None,
    read_clean: Callable[[Path], None] | None = None,
) -> dict[str, int]:
    """Remove every row naming a suppressed identifier (salted hash on the suppression list)
    from the export files under `root`: the rows the trace check would find. It finishes the
    scrub of an erasure whose run died after its commit, before the files were rewritten.
    Files `known_clean` says were verified clean against this list are not read; each file
    read and found clean is passed to `read_clean` (the trace check need not read it again)."""
    if not suppressed:
        return {}
    return _scrub(
        root,
        lambda frame: hash_matches(named_values(frame), salt, suppressed, frame.index),
        skip=known_clean,
        read_clean=read_clean,
    )


def count_rows_of_people(
    root: Path, people: dict[str, tuple[set[str], set[str], set[str]]]
) -> dict[str, int]:
    """Rows of each person (key → customer ids, emails, phones) in the export files under
    `root`, as `scrub_exports` would remove them for that person alone; every file is read
    once for all of them. Nothing is written."""
    erased = {key: _ErasedPeople.of(*ids) for key, ids in people.items()}
    # Anyone's rows are the rows of everyone's identifiers together: each file's columns are
    # normalised once, and the people told apart on those rows only.
    anyone = _ErasedPeople.of(
        *(set().union(*(ids[i] for ids in people.values())) for i in range(3))
    )
    counts = dict.fromkeys(people, 0)
    root = Path(root)
    if not root.is_dir() or not people:
        return counts
    for path in _data_files(root):
        frame = read_export_file(path)
        columns = _compared_columns(frame)
        theirs = anyone.rows_in(columns, frame.index).to_numpy(bool)
        if not theirs.any():
            continue
        index = frame.index[theirs]
        rows = {column: text[theirs] for column, text in columns.items()}
        for key, person in erased.items():
            counts[key] += int(person.rows_in(rows, index).sum())
    return counts


def _scrub(
    root: Path,
    rows_of: RowsOf,
    dry_run: bool = False,
    skip: Callable[[Path], bool] | None = None,
    read_clean: Callable[[Path], None] | None = None,
) -> dict[str, int]:
    root = Path(root)
    if not root.is_dir():
        return {}
    if not dry_run:
        repair_manifests(root)
    manifests, listed = _manifest_index(root)
    changed: set[Path] = set()
    removed: dict[str, int] = {}
    for path in _data_files(root):
        if skip is not None and skip(path):
            continue
        frame = read_export_file(path)
        theirs = rows_of(frame)
        if not theirs.any():
            if read_clean is not None:
                read_clean(path)
            continue
        removed[path.relative_to(root).as_posix()] = int(theirs.sum())
        if dry_run:
            continue
        kept = frame[~theirs].reset_index(drop=True)
        data = frame_bytes(kept, path.suffix.lstrip("."))
        write_bytes_atomically(path, data, EXPORT_FILE_MODE)
        entry = listed.get(path.resolve())
        if entry is not None:
            manifest_path, kind = entry
            manifests[manifest_path]["files"][kind].update(rows=len(kept), sha256=file_sha256(data))
            changed.add(manifest_path)
    for manifest_path in sorted(changed):
        write_json_atomically(manifest_path, manifests[manifest_path], EXPORT_FILE_MODE)
    return removed

"""Audience export files: the full file, the additions and removals, the manifest.

An export of the rows `activation.audience_selection.export_rows` gives is the full file,
the additions and removals against the previous export (`export_delta`), and a manifest with
each file's rows, columns and sha256, published under

    <root>/<destination>/<audience>/<export_id>/{full,additions,removals}.<csv|parquet>
                                              /manifest.json
    <root>/<destination>/<audience>/latest.json

Write, check, publish: `stage_export` writes the files into a hidden staging folder
(`.staged-<export_id>`) next to where they will be published; the caller checks them there
and then either `publish_export`s them (one atomic rename of the folder, then `latest.json`
is replaced) or `discard_export`s them. A destination that follows `latest.json` therefore
never meets a file that has not passed the checks, nor a missing or half-written one.
`recover_staged_exports` finishes, after a crash, what a killed run left staged: exports the
run had logged are published, the others removed. `write_export` stages and publishes in
one call. A run whose full file would be byte-identical to the previous one writes nothing.

Files are created 0600 and folders 0700 (`EXPORT_FILE_MODE`, `EXPORT_DIR_MODE`): they hold
names and addresses. CSV cells that a spreadsheet would run as a formula are written with a
leading `'` (`neutralise_formulas`); `read_export_file` reads a file back, undoing it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cdp_assets.activation.atomic import (
    fsync_directory,
    make_directories,
    write_bytes_atomically,
    write_json_atomically,
)
from cdp_assets.activation.audience_selection import (
    check_channel,
    export_key,
    is_text_dtype,
    require_columns,
)
from cdp_assets.identity.membership import string_isin

EXPORT_SCHEMA_VERSION = "1.0"
FORMATS: tuple[str, ...] = ("csv", "parquet")
LATEST_FILE = "latest.json"
MANIFEST_FILE = "manifest.json"
FILE_KINDS: tuple[str, ...] = ("full", "additions", "removals")
STAGED_PREFIX = ".staged-"
# Export files hold names, emails and phones: owner-only, whatever the umask.
EXPORT_FILE_MODE = 0o600
EXPORT_DIR_MODE = 0o700

# OWASP "CSV injection": a cell starting with =, +, -, @, tab or CR is a formula to a
# spreadsheet.
_NEUTRALISE_RE = re.compile(r"^'*[=+\-@\t\r]")  # quotes counted too, so reading back is exact
_RESTORE_RE = re.compile(r"^'+[=+\-@\t\r]")
# Validated identifier columns whose values stay verbatim when they match their format: an
# E.164 phone starts with '+' but is digits only, which a spreadsheet reads as a number.
_VERBATIM_FORMATS: dict[str, re.Pattern[str]] = {"phone": re.compile(r"^\+[1-9][0-9]{1,14}$")}

_SAFE_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


# --- validation -------------------------------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _check_segment(what: str, name: str) -> None:
    """Destination and audience names become folder names: no separators, no '..'."""
    if not _SAFE_SEGMENT_RE.match(name) or ".." in name:
        raise ValueError(f"{what} {name!r} cannot be used as a folder name")


# --- delta ------------------------------------------------------------------------------


def _key_labels(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    """One text label per row for `key`; nulls get their own marker, so null keys compare
    equal to each other and never to a value."""
    label = pd.Series("", index=frame.index, dtype="object")
    for position, column in enumerate(key):
        text = frame[column].astype("string")
        part = ("v:" + text).fillna("n").astype("object")
        label = part if position == 0 else label + "\x1f" + part
    return label


def export_delta(
    previous: pd.DataFrame | None, current: pd.DataFrame, key: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(additions, removals): the current rows whose key the previous rows lack, and the
    previous rows whose key the current rows lack. Without previous rows (or when they lack a
    key column, e.g. the destination changed channel) every current row is an addition and
    every previous row a removal. Keys are compared as text; nulls match nulls."""
    require_columns(current, key, "current export rows")
    if previous is None:
        return current.reset_index(drop=True), current.iloc[0:0].reset_index(drop=True)
    if any(column not in previous.columns for column in key):
        return current.reset_index(drop=True), previous.reset_index(drop=True)
    current_labels = _key_labels(current, key)
    previous_labels = _key_labels(previous, key)
    additions = current[~string_isin(current_labels, previous_labels)]
    removals = previous[~string_isin(previous_labels, current_labels)]
    return additions.reset_index(drop=True), removals.reset_index(drop=True)


# --- file formats -----------------------------------------------------------------------


def _neutralise_column(name: str, values: pd.Series) -> pd.Series:
    text = values.astype("string")
    risky = text.str.match(_NEUTRALISE_RE.pattern).fillna(False).astype(bool)
    verbatim = _VERBATIM_FORMATS.get(name)
    if verbatim is not None:
        risky &= ~text.str.fullmatch(verbatim.pattern).fillna(False).astype(bool)
    return text.mask(risky, "'" + text)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell that starts with =, +, -, @, tab or CR (after any
    leading quotes) prefixed with `'`, except validated identifiers kept verbatim (an E.164
    `phone`). Numeric columns are numbers, not text: a negative amount stays as it is."""
    safe = frame.copy()
    for name in safe.columns:
        if is_text_dtype(safe[name].dtype):
            safe[name] = _neutralise_column(str(name), safe[name])
    return safe


def restore_formulas(values: pd.Series) -> pd.Series:
    """The text `neutralise_formulas` was given: one leading `'` removed where it was added."""
    text = values.astype("string")
    added = text.str.match(_RESTORE_RE.pattern).fillna(False).astype(bool)
    return text.mask(added, text.str.slice(1))


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV: header, comma, no index, '\\n' line ends, null as an empty field, formula
    cells neutralised."""
    return (
        neutralise_formulas(frame)
        .to_csv(index=False, lineterminator="\n", na_rep="")
        .encode("utf-8")
    )


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """`frame` as an Arrow table; text (and all-null) columns typed string, numbers kept."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    textual = (pa.types.is_null, pa.types.is_large_string, pa.types.is_string)
    fields = [
        pa.field(f.name, pa.string()) if any(test(f.type) for test in textual) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(_arrow_table(frame), sink)
    return sink.getvalue()


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The bytes of `frame` written as an export file of format `fmt` (csv or parquet)."""
    _check_format(fmt)
    return _csv_bytes(frame) if fmt == "csv" else _parquet_bytes(frame)


def _strings_as_string_dtype(frame: pd.DataFrame) -> pd.DataFrame:
    typed = frame.copy()
    for name in typed.columns:
        if is_text_dtype(typed[name].dtype):
            typed[name] = typed[name].astype("string")
    return typed


def read_export_file(path: Path) -> pd.DataFrame:
    """An export file read back: CSV (every column text, empty field → <NA>) or Parquet
    (types as written), chosen by extension. Text columns come back as "string" dtype."""
    path = Path(path)
    if path.suffix == ".csv":
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8"
        )
        for name in frame.columns:
            frame[name] = restore_formulas(frame[name])
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path, engine="pyarrow")
    else:
        raise ValueError(f"{path}: not a .csv or .parquet export file")
    return _strings_as_string_dtype(frame)


def file_sha256(data: bytes) -> str:
    """The checksum a manifest records for a file's bytes: the SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


# --- writing exports --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What `stage_export` / `write_export` did. When `unchanged`, nothing was written: the
    ids, directory and manifest are the previous export's, and additions and removals are 0.
    Until `published`, `directory` is the staging folder."""

    destination: str
    audience: str
    channel: str
    export_id: str
    directory: Path
    rows: int
    additions: int
    removals: int
    unchanged: bool
    manifest: dict[str, Any]
    published: bool = True


def _utc(now: dt.datetime | None) -> dt.datetime:
    """`now` in UTC (naive times are taken as UTC); the current time when None."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=dt.UTC)
    return now.astimezone(dt.UTC)


def make_export_id(as_of: dt.date, now: dt.datetime) -> str:
    """`<as_of>_<UTC timestamp to the microsecond>`, e.g. 2025-03-31_20250401T061500123456Z."""
    return f"{as_of:%Y-%m-%d}_{_utc(now):%Y%m%dT%H%M%S%fZ}"


def read_latest_manifest(audience_dir: Path) -> dict[str, Any] | None:
    """The manifest `latest.json` points to in an audience's folder; None when there is none."""
    latest = Path(audience_dir) / LATEST_FILE
    if not latest.exists():
        return None
    pointer = json.loads(latest.read_text(encoding="utf-8"))
    return json.loads((Path(audience_dir) / pointer["manifest"]).read_text(encoding="utf-8"))


def _previous_full(audience_dir: Path, previous: Mapping[str, Any]) -> Path:
    path = audience_dir / previous["files"]["full"]["path"]
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the full file of the latest export {previous['export_id']} is missing; "
            f"restore it, or delete {audience_dir / LATEST_FILE} to start a new series"
        )
    return path


def _file_entry(relative: str, frame: pd.DataFrame, data: bytes) -> dict[str, Any]:
    return {
        "path": relative,
        "rows": len(frame),
        "sha256": file_sha256(data),
        "columns": [str(c) for c in frame.columns],
    }


def unchanged_result(
    destination: str, audience: str, channel: str, audience_dir: Path, previous: dict[str, Any]
) -> ExportResult:
    return ExportResult(
        destination=destination,
        audience=audience,
        channel=channel,
        export_id=previous["export_id"],
        directory=audience_dir / previous["export_id"],
        rows=int(previous["files"]["full"]["rows"]),
        additions=0,
        removals=0,
        unchanged=True,
        manifest=previous,
    )


def _stage_files(
    staged_dir: Path, export_id: str, fmt: str, frames: Mapping[str, tuple[pd.DataFrame, bytes]]
) -> dict[str, dict[str, Any]]:
    """Write the data files of a new export into its staging folder; their manifest entries
    (paths as they will be once published: `<export_id>/<kind>.<fmt>`)."""
    make_directories(staged_dir.parent, EXPORT_DIR_MODE)
    staged_dir.mkdir(mode=EXPORT_DIR_MODE)
    os.chmod(staged_dir, EXPORT_DIR_MODE)  # mkdir's mode is narrowed by the umask
    entries: dict[str, dict[str, Any]] = {}
    for kind, (frame, data) in frames.items():
        write_bytes_atomically(staged_dir / f"{kind}.{fmt}", data, EXPORT_FILE_MODE)
        entries[kind] = _file_entry(f"{export_id}/{kind}.{fmt}", frame, data)
    return entries


def stage_export(
    root: Path,
    destination: str,
    audience: str,
    channel: str,
    fmt: str,
    rows: pd.DataFrame,
    as_of: dt.date,
    excluded: dict[str, int],
    now: dt.datetime | None = None,
) -> ExportResult:
    """Write one export of `rows` (from `export_rows`) for an audience at a destination into
    its staging folder, unpublished: `result.directory` is `.staged-<export_id>` in the
    audience's folder, holding the data files and the manifest, ready for checks.

    The additions and removals are against the export `latest.json` points to. When the
    full file would be byte-identical to that export's, nothing is written and the previous
    export is returned with `unchanged=True` (and `published=True`: there is nothing to do).
    """
    check_channel(channel)
    _check_format(fmt)
    _check_segment("destination", destination)
    _check_segment("audience", audience)
    key = export_key(channel)
    require_columns(rows, key, f"{channel} export rows")
    audience_dir = Path(root) / destination / audience
    created = _utc(now)
    export_id = make_export_id(as_of, created)

    full_bytes = frame_bytes(rows, fmt)
    previous = read_latest_manifest(audience_dir)
    previous_rows = None
    if previous is not None:
        previous_path = _previous_full(audience_dir, previous)
        if previous_path.read_bytes() == full_bytes:
            return unchanged_result(destination, audience, channel, audience_dir, previous)
        previous_rows = read_export_file(previous_path)

    additions, removals = export_delta(previous_rows, rows, key)
    staged_dir = audience_dir / f"{STAGED_PREFIX}{export_id}"
    files = _stage_files(
        staged_dir,
        export_id,
        fmt,
        {
            "full": (rows, full_bytes),
            "additions": (additions, frame_bytes(additions, fmt)),
            "removals": (removals, frame_bytes(removals, fmt)),
        },
    )
    manifest: dict[str, Any] = {
        "destination": destination,
        "audience": audience,
        "channel": channel,
        "format": fmt,
        "schema_version": EXPORT_SCHEMA_VERSION,
        "as_of": f"{as_of:%Y-%m-%d}",
        "export_id": export_id,
        "created_at": f"{created:%Y-%m-%dT%H:%M:%S.%fZ}",
        "previous_export_id": None if previous is None else previous["export_id"],
        "excluded": {str(reason): int(count) for reason, count in excluded.items()},
        "files": files,
    }
    write_json_atomically(staged_dir / MANIFEST_FILE, manifest, EXPORT_FILE_MODE)
    return ExportResult(
        destination=destination,
        audience=audience,
        channel=channel,
        export_id=export_id,
        directory=staged_dir,
        rows=len(rows),
        additions=len(additions),
        removals=len(removals),
        unchanged=False,
        manifest=manifest,
        published=False,
    )


def _is_newer_than_latest(audience_dir: Path, manifest: Mapping[str, Any]) -> bool:
    """True unless `latest.json` already points at an export created after `manifest`'s."""
    latest = read_latest_manifest(audience_dir)
    return latest is None or str(latest["created_at"]) <= str(manifest["created_at"])


def _publish_staged(audience_dir: Path, export_id: str, manifest: Mapping[str, Any]) -> Path:
    """Move `.staged-<export_id>` to `<export_id>` (one rename: the data files and manifest
    appear together) and point `latest.json` at it."""
    published = audience_dir / export_id
    os.rename(audience_dir / f"{STAGED_PREFIX}{export_id}", published)
    fsync_directory(audience_dir)
    if _is_newer_than_latest(audience_dir, manifest):
        pointer = {"export_id": export_id, "manifest": f"{export_id}/{MANIFEST_FILE}"}
        write_json_atomically(audience_dir / LATEST_FILE, pointer, EXPORT_FILE_MODE)
    return published


def publish_export(result: ExportResult) -> ExportResult:
    """Publish a staged export: its folder renamed into place, then `latest.json` replaced.
    An unchanged or already published export is returned as it is."""
    if result.published:
        return result
    audience_dir = result.directory.parent
    published = _publish_staged(audience_dir, result.export_id, result.manifest)
    return replace(result, directory=published, published=True)


def discard_export(result: ExportResult) -> None:
    """Remove a staged export that failed its checks; nothing of it was ever published."""
    if not result.published:
        shutil.rmtree(result.directory, ignore_errors=True)


def staged_export_ids(audience_dir: Path) -> list[str]:
    """The export ids staged (written, not published) in an audience's folder, oldest first."""
    if not Path(audience_dir).is_dir():
        return []
    return sorted(
        p.name[len(STAGED_PREFIX) :]
        for p in Path(audience_dir).iterdir()
        if p.is_dir() and p.name.startswith(STAGED_PREFIX)
    )


def _staged_manifest(staged_dir: Path) -> dict[str, Any] | None:
    path = staged_dir / MANIFEST_FILE
    if not path.exists():
        return None  # the run died while staging: never logged
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Recovery:
    """What `recover_staged_exports` did: export ids published and discarded."""

    published: tuple[str, ...]
    discarded: tuple[str, ...]


def recover_staged_exports(
    root: Path, audiences: Iterable[tuple[str, str]], logged: set[str]
) -> Recovery:
    """Finish what a run killed between staging and publishing left behind, for each
    (destination, audience): a staged export whose id is in `logged` (its log row was
    committed) is published; any other was never logged and is removed, so the rerun
    issues it afresh."""
    published: list[str] = []
    discarded: list[str] = []
    for destination, audience in audiences:
        audience_dir = Path(root) / destination / audience
        for export_id in staged_export_ids(audience_dir):
            staged_dir = audience_dir / f"{STAGED_PREFIX}{export_id}"
            manifest = _staged_manifest(staged_dir)
            if export_id in logged and manifest is not None:
                _publish_staged(audience_dir, export_id, manifest)
                published.append(f"{destination}/{audience}/{export_id}")
            else:
                shutil.rmtree(staged_dir)
                discarded.append(f"{destination}/{audience}/{export_id}")
    return Recovery(tuple(published), tuple(discarded))


def write_export(
    root: Path,
    destination: str,
    audience: str,
    channel: str,
    fmt: str,
    rows: pd.DataFrame,
    as_of: dt.date,
    excluded: dict[str, int],
    now: dt.datetime | None = None,
) -> ExportResult:
    """Stage and publish one export at once (`stage_export` then `publish_export`), for
    callers with no checks to run in between."""
    staged = stage_export(root, destination, audience, channel, fmt, rows, as_of, excluded, now)
    return publish_export(staged)

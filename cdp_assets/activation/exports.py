"""Consent-checked audience exports: who may be sent, the rows of each file, and the files.

An export is one audience sent to one destination (a channel: email, sms or ads). The steps:

1. `apply_consent` splits the audience's members into the eligible and the excluded, each
   excluded person with the first reason (`EXCLUSION_REASONS`) that keeps them out.
2. `export_rows` shapes the eligible into the file's rows: the channel's columns
   (`channel_columns`), one row per address, sorted, so equal inputs give equal bytes. Ad
   platforms get only SHA-256 hashes of the normalised email and phone (`ad_hashing`).
3. `write_export` writes the full file, the additions and removals against the previous
   export, and a manifest, under

       <root>/<destination>/<audience>/<export_id>/{full,additions,removals}.<csv|parquet>
                                                 /manifest.json
       <root>/<destination>/<audience>/latest.json

   Every file is replaced atomically and `latest.json` is written last, so a reader that
   follows it never meets a missing or half-written file. A run whose full file would be
   byte-identical to the previous one writes nothing.

`scrub_exports` removes erased people from every export file already written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cdp_assets.activation.ad_hashing import (
    hash_email,
    hash_emails,
    hash_phone,
    hash_phones,
    normalise_email_for_ads,
    normalise_phone_for_ads,
)
from cdp_assets.activation.atomic import write_bytes_atomically, write_json_atomically
from cdp_assets.config import EXPORT_KEY_COLUMNS

EXPORT_SCHEMA_VERSION = "1.0"
CHANNELS: tuple[str, ...] = ("email", "sms", "ads")
FORMATS: tuple[str, ...] = ("csv", "parquet")
LATEST_FILE = "latest.json"
MANIFEST_FILE = "manifest.json"
FILE_KINDS: tuple[str, ...] = ("full", "additions", "removals")

EXCLUSION_REASONS: tuple[str, ...] = (
    "erased_or_suppressed",
    "no_email",
    "email_not_confirmed",
    "no_phone",
    "no_sms_opt_in",
    "ads_opted_out",
    "no_email_or_phone",
)
CHANNEL_EXCLUSION_REASONS: dict[str, tuple[str, ...]] = {
    "email": ("erased_or_suppressed", "no_email", "email_not_confirmed"),
    "sms": ("erased_or_suppressed", "no_phone", "no_sms_opt_in"),
    "ads": ("erased_or_suppressed", "ads_opted_out", "no_email_or_phone"),
}
_CONSENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "email_consent"),
    "sms": ("phone", "sms_consent"),
    "ads": ("email", "phone", "ads_consent"),
}
_ADDRESS_COLUMN: dict[str, str] = {"email": "email", "sms": "phone"}
_SAFE_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


# --- validation -------------------------------------------------------------------------


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _check_segment(what: str, name: str) -> None:
    """Destination and audience names become folder names: no separators, no '..'."""
    if not _SAFE_SEGMENT_RE.match(name) or ".." in name:
        raise ValueError(f"{what} {name!r} cannot be used as a folder name")


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")


# --- consent ----------------------------------------------------------------------------


def _is_true(values: pd.Series) -> pd.Series:
    """True only where the value is True; False and null are False."""
    return values.astype("boolean").eq(True).fillna(False).astype(bool)


def _is_false(values: pd.Series) -> pd.Series:
    """True only where the value is False; True and null are False."""
    return values.astype("boolean").eq(False).fillna(False).astype(bool)


def _present(values: pd.Series) -> pd.Series:
    """True where the value is a non-blank text."""
    text = values.astype("string").str.strip()
    return text.ne("").fillna(False).astype(bool)


def _hashable(values: pd.Series, normalise: Callable[[object], str | None]) -> pd.Series:
    """True where the ads normalisation gives an address (so the row gets a hash)."""
    return values.astype("object").map(normalise).notna()


def _failing_tests(members: pd.DataFrame, channel: str) -> list[tuple[str, pd.Series]]:
    """(reason, failing mask) in the order the reasons are tested for `channel`."""
    # Fail closed: only an explicit False lets a person through; a null is treated as suppressed.
    suppressed = ~_is_false(members["suppressed"])
    if channel == "email":
        return [
            ("erased_or_suppressed", suppressed),
            ("no_email", ~_present(members["email"])),
            ("email_not_confirmed", ~_is_true(members["email_consent"])),
        ]
    if channel == "sms":
        return [
            ("erased_or_suppressed", suppressed),
            ("no_phone", ~_present(members["phone"])),
            ("no_sms_opt_in", ~_is_true(members["sms_consent"])),
        ]
    has_email = _hashable(members["email"], normalise_email_for_ads)
    has_phone = _hashable(members["phone"], normalise_phone_for_ads)
    return [
        ("erased_or_suppressed", suppressed),
        ("ads_opted_out", _is_false(members["ads_consent"])),
        ("no_email_or_phone", ~(has_email | has_phone)),
    ]


def apply_consent(members: pd.DataFrame, channel: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an audience's members into (eligible rows, excluded) for `channel`.

    `members` has one row per customer with customer_id, suppressed and the channel's
    address and consent columns. Rules, tested in this order, the first failure wins:

    * every channel: `suppressed` (erased or suppressed; null counts as suppressed) →
      erased_or_suppressed;
    * email: no email → no_email; email_consent not True (False or null) →
      email_not_confirmed;
    * sms: no phone → no_phone; sms_consent not True → no_sms_opt_in;
    * ads: ads_consent False → ads_opted_out (null is not an opt-out); neither an email nor
      a phone that can be hashed → no_email_or_phone.

    The eligible frame keeps every input column, in input order. The excluded frame has
    customer_id and reason ("string" dtypes), sorted by customer_id.
    """
    _check_channel(channel)
    _require_columns(
        members, ("customer_id", "suppressed", *_CONSENT_COLUMNS[channel]), "audience members"
    )
    reason = pd.Series(pd.NA, index=members.index, dtype="string")
    for name, failing in _failing_tests(members, channel):
        reason = reason.mask(reason.isna() & failing, name)
    passed = reason.isna().to_numpy()
    eligible = members.loc[passed].reset_index(drop=True)
    excluded = pd.DataFrame(
        {
            "customer_id": members.loc[~passed, "customer_id"].astype("string").to_numpy(),
            "reason": reason[~passed].to_numpy(),
        }
    ).astype("string")
    return eligible, excluded.sort_values("customer_id", kind="stable").reset_index(drop=True)


def exclusion_counts(excluded: pd.DataFrame, channel: str) -> dict[str, int]:
    """People excluded per reason of `channel` (every reason of the channel, zeros included)."""
    _check_channel(channel)
    counts = excluded["reason"].value_counts()
    return {reason: int(counts.get(reason, 0)) for reason in CHANNEL_EXCLUSION_REASONS[channel]}


# --- rows -------------------------------------------------------------------------------


def channel_columns(channel: str, fields: tuple[str, ...] = ()) -> list[str]:
    """The columns of a channel's files: email: customer_id, email, first_name and the extra
    `fields`; sms: customer_id, phone; ads: email_sha256, phone_sha256 (no internal ids)."""
    _check_channel(channel)
    if fields and channel != "email":
        raise ValueError(f"only email exports take extra fields, not {channel}")
    base = list(EXPORT_KEY_COLUMNS[channel])
    clashing = sorted({f for f in fields if f in base or list(fields).count(f) > 1})
    if clashing:
        raise ValueError(f"fields given twice or always exported: {', '.join(clashing)}")
    return [*base, *fields]


def export_key(channel: str) -> list[str]:
    """The columns that identify a row at the destination."""
    _check_channel(channel)
    if channel == "ads":
        return ["email_sha256", "phone_sha256"]
    return [_ADDRESS_COLUMN[channel]]


def _is_text_dtype(dtype: object) -> bool:
    """pandas text dtypes ("str", "string") and object."""
    return isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)


def _as_text(values: pd.Series) -> pd.Series:
    """`values` as "string" dtype, blank text as <NA> (CSV cannot tell the two apart)."""
    text = values.astype("string")
    return text.mask(text.str.strip().eq("").fillna(False))


def _typed_columns(frame: pd.DataFrame, text_columns: Iterable[str]) -> pd.DataFrame:
    """`text_columns` and every text or object column as "string"; other dtypes kept."""
    text = set(text_columns)
    typed = frame.copy()
    for name in typed.columns:
        if name in text or _is_text_dtype(typed[name].dtype):
            typed[name] = _as_text(typed[name])
    return typed


def _address_rows(eligible: pd.DataFrame, channel: str, fields: tuple[str, ...]) -> pd.DataFrame:
    """Email or sms rows: one per address, kept for the smallest customer_id, address order."""
    columns = channel_columns(channel, fields)
    _require_columns(eligible, columns, f"{channel} export")
    address = _ADDRESS_COLUMN[channel]
    frame = _typed_columns(eligible[columns], EXPORT_KEY_COLUMNS[channel])
    frame = frame[frame[address].notna()]
    match_key = frame[address].str.strip()
    if channel == "email":
        match_key = match_key.str.lower()
    ordered = frame.assign(_match_key=match_key).sort_values(
        ["_match_key", "customer_id"], kind="stable"
    )
    unique = ordered.drop_duplicates("_match_key", keep="first")
    return unique.drop(columns="_match_key").reset_index(drop=True)


def _ads_rows(eligible: pd.DataFrame) -> pd.DataFrame:
    """Hashed rows; an address shared by several customers stays only on the row of the
    smallest customer_id (emptied on the others), and rows left without a hash are dropped."""
    _require_columns(eligible, ("customer_id", "email", "phone"), "ads export")
    ordered = eligible.sort_values("customer_id", kind="stable")
    email_hash = hash_emails(ordered["email"])
    phone_hash = hash_phones(ordered["phone"])
    rows = pd.DataFrame(
        {
            "email_sha256": email_hash.mask(email_hash.duplicated()).to_numpy(),
            "phone_sha256": phone_hash.mask(phone_hash.duplicated()).to_numpy(),
        },
        dtype="string",
    )
    rows = rows[rows["email_sha256"].notna() | rows["phone_sha256"].notna()]
    rows = rows.sort_values(["email_sha256", "phone_sha256"], kind="stable", na_position="last")
    return rows.reset_index(drop=True)


def export_rows(eligible: pd.DataFrame, channel: str, fields: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rows of a channel's file, in `channel_columns` order, one row per address, sorted
    by address. Two customers sharing an address: the smallest customer_id keeps it. Text
    columns are "string" dtype with blanks as <NA>; numeric extra fields stay numeric."""
    _check_channel(channel)
    if channel == "ads":
        if fields:
            raise ValueError("only email exports take extra fields, not ads")
        return _ads_rows(eligible)
    return _address_rows(eligible, channel, fields)


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
    _require_columns(current, key, "current export rows")
    if previous is None:
        return current.reset_index(drop=True), current.iloc[0:0].reset_index(drop=True)
    if any(column not in previous.columns for column in key):
        return current.reset_index(drop=True), previous.reset_index(drop=True)
    current_labels = _key_labels(current, key)
    previous_labels = _key_labels(previous, key)
    additions = current[~current_labels.isin(set(previous_labels)).to_numpy()]
    removals = previous[~previous_labels.isin(set(current_labels)).to_numpy()]
    return additions.reset_index(drop=True), removals.reset_index(drop=True)


# --- file formats -----------------------------------------------------------------------


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV: header, comma, no index, '\\n' line ends, null as an empty field."""
    return frame.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")


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
        if _is_text_dtype(typed[name].dtype):
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
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path, engine="pyarrow")
    else:
        raise ValueError(f"{path}: not a .csv or .parquet export file")
    return _strings_as_string_dtype(frame)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- writing exports --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What `write_export` did. When `unchanged`, nothing was written: the ids, directory and
    manifest are the previous export's, and additions and removals are 0."""

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
        "sha256": _sha256(data),
        "columns": [str(c) for c in frame.columns],
    }


def _unchanged_result(
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


def _write_files(
    audience_dir: Path, export_id: str, fmt: str, frames: Mapping[str, tuple[pd.DataFrame, bytes]]
) -> dict[str, dict[str, Any]]:
    """Write the data files of a new export (each atomically); their manifest entries."""
    (audience_dir / export_id).mkdir(parents=True, exist_ok=False)
    entries: dict[str, dict[str, Any]] = {}
    for kind, (frame, data) in frames.items():
        relative = f"{export_id}/{kind}.{fmt}"
        write_bytes_atomically(audience_dir / relative, data)
        entries[kind] = _file_entry(relative, frame, data)
    return entries


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
    """Write one export of `rows` (from `export_rows`) for an audience at a destination.

    The additions and removals are against the export `latest.json` points to. When the
    full file would be byte-identical to that export's, nothing is written and the previous
    export is returned with `unchanged=True`. Files are written data first, then the
    manifest, then `latest.json`, each atomically.
    """
    _check_channel(channel)
    _check_format(fmt)
    _check_segment("destination", destination)
    _check_segment("audience", audience)
    key = export_key(channel)
    _require_columns(rows, key, f"{channel} export rows")
    audience_dir = Path(root) / destination / audience
    created = _utc(now)
    export_id = make_export_id(as_of, created)

    full_bytes = frame_bytes(rows, fmt)
    previous = read_latest_manifest(audience_dir)
    previous_rows = None
    if previous is not None:
        previous_path = _previous_full(audience_dir, previous)
        if previous_path.read_bytes() == full_bytes:
            return _unchanged_result(destination, audience, channel, audience_dir, previous)
        previous_rows = read_export_file(previous_path)

    additions, removals = export_delta(previous_rows, rows, key)
    files = _write_files(
        audience_dir,
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
    manifest_relative = f"{export_id}/{MANIFEST_FILE}"
    write_json_atomically(audience_dir / manifest_relative, manifest)
    write_json_atomically(
        audience_dir / LATEST_FILE, {"export_id": export_id, "manifest": manifest_relative}
    )
    return ExportResult(
        destination=destination,
        audience=audience,
        channel=channel,
        export_id=export_id,
        directory=audience_dir / export_id,
        rows=len(rows),
        additions=len(additions),
        removals=len(removals),
        unchanged=False,
        manifest=manifest,
    )


# --- erasure ----------------------------------------------------------------------------


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
            manifests[manifest_path]["files"][kind].update(rows=len(kept), sha256=_sha256(data))
            changed.add(manifest_path)
    for manifest_path in sorted(changed):
        write_json_atomically(manifest_path, manifests[manifest_path])
    return removed

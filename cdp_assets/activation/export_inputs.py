"""What an audience's latest export was built from, so that a run whose inputs did not change
reuses it without building a row.

An export's files are a function of its members' customer_360 rows, the suppression list, the
destination's settings and the code. The caller sums these up in a digest (the rows are
digested in SQL, see `defs.activation.exports`); after publishing, `remember_inputs` writes it
with the export's id and figures to `<audience>/.export_inputs.json`. On the next run
`reusable_export` gives the latest export back, unchanged, when the digest is the same and
`latest.json` still points at that export with its full file's bytes as they were built
(their SHA-256 is in the record too); otherwise None
and the export is built (and, when its bytes turn out equal, still not rewritten).

The file holds a digest, an export id and counts: no identifier.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdp_assets.activation.atomic import write_json_atomically
from cdp_assets.activation.export_files import (
    EXPORT_FILE_MODE,
    ExportResult,
    read_latest_manifest,
    unchanged_result,
)

INPUTS_FILE = ".export_inputs.json"
INPUTS_VERSION = 1


@dataclass(frozen=True)
class ExportInputs:
    """The digest of what an export is built from, and the figures that building it gives
    besides its files: members (customer_360 rows of the audience) and people left out by
    reason."""

    digest: str
    members: int
    excluded: dict[str, int]


def inputs_digest(parts: dict[str, Any]) -> str:
    """SHA-256 of `parts` (JSON-serialisable: digests, settings, versions), keys sorted."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _read_record(audience_dir: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((audience_dir / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != INPUTS_VERSION:
        return None
    return record


def _file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _full_path(audience_dir: Path, manifest: dict[str, Any]) -> Path:
    return audience_dir / manifest["files"]["full"]["path"]


def reusable_export(
    root: Path, destination: str, audience: str, channel: str, digest: str
) -> tuple[ExportResult, ExportInputs] | None:
    """The latest export of `audience` at `destination`, unchanged, with the figures it was
    built with, when it was built from inputs with this `digest`; None when it must be built."""
    audience_dir = Path(root) / destination / audience
    record = _read_record(audience_dir)
    if record is None or record.get("digest") != digest:
        return None
    previous = read_latest_manifest(audience_dir)
    if previous is None or previous.get("export_id") != record.get("export_id"):
        return None
    # Against the bytes recorded, not the manifest's checksum: a manifest is repaired from its
    # files after an interrupted scrub, so it follows any change made to a file.
    if _file_sha256(_full_path(audience_dir, previous)) != record.get("full_sha256"):
        return None
    inputs = ExportInputs(
        digest,
        int(record["members"]),
        {str(k): int(v) for k, v in record["excluded"].items()},
    )
    return unchanged_result(destination, audience, channel, audience_dir, previous), inputs


def remember_inputs(result: ExportResult, inputs: ExportInputs) -> None:
    """Record that `result`'s export (published, or unchanged) was built from `inputs`."""
    audience_dir = result.directory.parent
    record = {
        "version": INPUTS_VERSION,
        "export_id": result.export_id,
        "digest": inputs.digest,
        "members": inputs.members,
        "excluded": inputs.excluded,
        "full_sha256": result.manifest["files"]["full"]["sha256"],
    }
    if _read_record(audience_dir) == record:
        return
    write_json_atomically(audience_dir / INPUTS_FILE, record, EXPORT_FILE_MODE)

"""The proof that erased people are gone: every identifier value in every table (and in the
export files) is hashed with the privacy salt and compared with the suppression list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdp_assets.activation.export_files import read_export_file
from cdp_assets.config import CDPConfig
from cdp_assets.privacy.identifiers import hash_matches, named_values
from cdp_assets.privacy.tables import LAYERS, each_table
from cdp_assets.warehouse import WarehouseSession

EXPORT_SUFFIXES = (".csv", ".parquet")


def warehouse_traces(
    session: WarehouseSession,
    config: CDPConfig,
    salt: bytes,
    suppressed: frozenset[str],
    layers: tuple[str, ...] = LAYERS,
) -> pd.DataFrame:
    """Per table of `layers` that may hold personal data: rows scanned and rows naming a
    suppressed identifier (`traces`)."""
    rows = []
    if not suppressed:  # nothing was ever erased: nothing to look for
        return pd.DataFrame(rows, columns=["table", "rows", "traces"])
    for table in each_table(session, config, layers):
        found = hash_matches(table.values, salt, suppressed, table.index)
        rows.append({"table": str(table.ref), "rows": len(table.keys), "traces": int(found.sum())})
    return pd.DataFrame(rows, columns=["table", "rows", "traces"])


def export_traces(root: Path, salt: bytes, suppressed: frozenset[str]) -> pd.DataFrame:
    """Per export data file under `root`: rows and rows naming a suppressed identifier."""
    rows = []
    if root.exists() and suppressed:
        for path in sorted(p for p in root.rglob("*") if p.suffix in EXPORT_SUFFIXES):
            if path.name.startswith("."):
                continue  # a temporary file being written
            frame = read_export_file(path)
            found = hash_matches(named_values(frame), salt, suppressed, frame.index)
            rows.append(
                {
                    "table": str(path.relative_to(root)),
                    "rows": len(frame),
                    "traces": int(found.sum()),
                }
            )
    return pd.DataFrame(rows, columns=["table", "rows", "traces"])

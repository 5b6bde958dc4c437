"""Record versions and shared identifiers.

Supersession: among the rows that passed validation, rows sharing a record id keep the latest
version — the largest `updated_at` first when the kind has it and the source maps it (a null
`updated_at` counts as oldest), then the most recent raw row (`_ingested_at`, `_file`, `_line`,
`_batch_id`, which is the frame's order). The others are superseded.

Shared identifiers: an email key or phone held by more than `limit` staged records of one
customer source is flagged on each of those records (the value is kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Supersession:
    superseded: np.ndarray  # bool per row
    winner: np.ndarray  # per row: position of the version kept instead (-1 where not superseded)


def supersede(
    record_ids: pd.Series, candidates: np.ndarray, updated_at: pd.Series | None = None
) -> Supersession:
    """Latest version per record id among `candidates` (bool per row, rows in recency order)."""
    n = len(record_ids)
    superseded = np.zeros(n, dtype=bool)
    winner = np.full(n, -1, dtype=np.int64)
    positions = np.flatnonzero(candidates)
    if not len(positions):
        return Supersession(superseded, winner)
    codes, _ = pd.factorize(record_ids, use_na_sentinel=True)
    versions = pd.DataFrame({"record_id": codes[positions], "position": positions})
    if updated_at is not None and updated_at.notna().any():
        stamps = updated_at.to_numpy("datetime64[us]", na_value=np.datetime64("NaT"))
        ticks = stamps.astype(np.int64)[positions]
        ticks = np.where(np.isnat(stamps[positions]), np.iinfo(np.int64).min, ticks)
        versions["updated"] = ticks
        versions = versions.sort_values(["updated", "position"], kind="stable")
    older = versions.duplicated("record_id", keep="last").to_numpy()
    if not older.any():
        return Supersession(superseded, winner)
    latest = versions.loc[~older].set_index("record_id")["position"]
    lost = versions.loc[older]
    superseded[lost["position"].to_numpy()] = True
    winner[lost["position"].to_numpy()] = latest.reindex(lost["record_id"]).to_numpy()
    return Supersession(superseded, winner)


def shared_identifier_rows(values: pd.Series, limit: int) -> tuple[pd.Series, pd.Series]:
    """(rows whose non-null value is held by more than `limit` rows, that count per row)."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    per_value = np.bincount(codes[codes >= 0])
    counts = np.where(codes >= 0, per_value[np.maximum(codes, 0)] if len(per_value) else 0, 0)
    flagged = pd.Series(counts > limit, index=values.index)
    held = pd.Series(counts, index=values.index).astype("Int64").mask(codes < 0)
    return flagged, held

"""Which customer records the probabilistic matcher sees differently from the last resolution,
and which of that resolution's probabilistic links still hold.

The *match view* of a record is what the matcher reads of it, after shared identifier values
are blanked (`resolve._without_shared`): a record whose email becomes shared is seen
differently even though its row did not change. Each resolution stores the view of every
record (`core.identity_match_records`); the next one compares:

- new records (a key not seen before) and changed ones (a different view) are *touched*:
  every candidate pair holding one is found and scored again;
- removed records, and the old view of changed ones (*ghosts*), take part in no pair but are
  counted in the blocks they were in, to see whether a block crossed `max_block_size`;
- a link between two untouched records is kept as it was: with frozen parameters its weight
  and evidence depend on its two records only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.identity.graph import EDGE_DTYPES
from cdp_assets.identity.key_join import first_positions, outer_join_rows

MATCH_VIEW_DTYPES: dict[str, str] = {
    "source": "string",
    "record_id": "string",
    "first_name": "string",
    "last_name": "string",
    "birth_date": "datetime64[us]",
    "street": "string",
    "city": "string",
    "postal_code": "string",
    "email_key": "string",
    "phone": "string",
}
_KEY = ["source", "record_id"]


def match_view(records: pd.DataFrame) -> pd.DataFrame:
    """What the matcher reads of each record (records with shared values blanked)."""
    view = pd.DataFrame(index=records.index)
    for column, dtype in MATCH_VIEW_DTYPES.items():
        view[column] = records[column] if column in records.columns else pd.NA
        view[column] = view[column].astype(dtype)
    return view.reset_index(drop=True)


@dataclass(frozen=True)
class RecordChanges:
    """`touched`: bool per current record (new or changed view); `ghosts`: the previous view
    of the changed and removed records. `previous_row`: per current record, its row in the
    previous view (-1: new); `removed_rows`: the previous view's rows whose record is gone;
    None when a key is in either view twice (then rows are not matched one to one)."""

    touched: np.ndarray
    ghosts: pd.DataFrame
    new: int
    changed: int
    removed: int
    previous_row: np.ndarray | None = None
    removed_rows: np.ndarray | None = None

    @property
    def count(self) -> int:
        return self.new + self.changed + self.removed


def record_changes(view: pd.DataFrame, previous: pd.DataFrame) -> RecordChanges:
    """Compare the current match view (row order = records) with the previous one."""
    previous = previous[list(MATCH_VIEW_DTYPES)].astype(MATCH_VIEW_DTYPES)
    now = _fingerprints(view)
    before = _fingerprints(previous)
    joined = outer_join_rows(now, before, _KEY)
    row = joined["left"].to_numpy()
    prev = joined["right"].to_numpy()
    new_keys = prev < 0
    removed_keys = row < 0
    both = ~new_keys & ~removed_keys
    changed_keys = both.copy()
    changed_keys[both] = now["hash"].to_numpy()[row[both]] != before["hash"].to_numpy()[prev[both]]
    previous_row = removed_rows = None
    if (row >= 0).sum() == len(view) and (prev >= 0).sum() == len(previous):
        # Each key once on either side: rows are matched one to one, by position.
        touched = np.zeros(len(view), dtype=bool)
        touched[row[new_keys | changed_keys]] = True
        ghosts = previous.iloc[np.sort(prev[removed_keys | changed_keys])]
        previous_row = np.full(len(view), -1, dtype=np.int64)
        previous_row[row[both]] = prev[both]
        removed_rows = np.sort(prev[removed_keys])
    else:
        touched = _has_key(view, now[_KEY].iloc[row[new_keys | changed_keys]])
        ghost_keys = before[_KEY].iloc[prev[removed_keys | changed_keys]]
        ghosts = previous[_has_key(previous, ghost_keys)]
    ghosts = ghosts.reset_index(drop=True)
    return RecordChanges(
        touched,
        ghosts,
        int(new_keys.sum()),
        int(changed_keys.sum()),
        int(removed_keys.sum()),
        previous_row,
        removed_rows,
    )


def _fingerprints(view: pd.DataFrame) -> pd.DataFrame:
    values = view[list(MATCH_VIEW_DTYPES)].astype(MATCH_VIEW_DTYPES)
    hashed = pd.util.hash_pandas_object(values.drop(columns=_KEY), index=False)
    return values[_KEY].assign(hash=hashed.to_numpy())


def _has_key(frame: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    keys = keys.drop_duplicates()
    marked = frame[_KEY].merge(keys.assign(_hit=True), on=_KEY, how="left")["_hit"]
    return marked.fillna(False).to_numpy(dtype=bool)


@dataclass(frozen=True)
class StoredViewChanges:
    """What an incremental resolution writes of the stored match view instead of all of it:
    the rows of the records that are new or whose row differs (`insert`), the keys of the
    stored rows they replace and of those whose record is gone (`delete`), and the row count
    every row then carries (`rows_written`)."""

    insert: pd.DataFrame
    delete: pd.DataFrame
    rows_written: int


def stored_view_changes(
    now: pd.DataFrame, previous: pd.DataFrame, changes: RecordChanges
) -> StoredViewChanges | None:
    """The rows of the stored view `now` (row order = the current records, as the match
    view compared by `changes`) that differ from the stored view `previous` (as compared):
    new records, a changed view (`changes.touched`), or another `record_hash` or
    `customer_id`. Deleting `delete` and inserting `insert` (every row's `rows_written` set
    to `rows_written`) makes the stored table what writing `now` whole makes it. None when
    rows are not matched one to one (a key twice)."""
    if changes.previous_row is None or changes.removed_rows is None:
        return None
    position = changes.previous_row
    kept = np.flatnonzero(position >= 0)
    differs = changes.touched.copy()
    differs[position < 0] = True
    for column in ("record_hash", "customer_id"):
        current = now[column].iloc[kept].reset_index(drop=True)
        before = previous[column].iloc[position[kept]].reset_index(drop=True)
        same = (current == before).fillna(False) | (current.isna() & before.isna())
        differs[kept] |= ~same.to_numpy(dtype=bool)
    replaced = position[differs & (position >= 0)]
    stale = np.sort(np.concatenate([replaced, changes.removed_rows]))
    return StoredViewChanges(
        insert=now[differs].reset_index(drop=True),
        delete=previous[_KEY].iloc[stale].astype("string").reset_index(drop=True),
        rows_written=len(now),
    )


def kept_links(
    previous_links: pd.DataFrame, records: pd.DataFrame, touched: np.ndarray
) -> pd.DataFrame:
    """The previous resolution's probabilistic links between two current untouched records,
    as graph edges (EDGE_DTYPES) on the current nodes. `previous_links` has the columns of
    `core.identity_edges` (left/right source and record id, weight, evidence)."""
    untouched = records.loc[~touched, ["source", "record_id", "node"]]
    node = untouched["node"].to_numpy(dtype=np.int64)
    links = previous_links[previous_links["rule"] == "probabilistic"]

    def node_of(side: str) -> np.ndarray:
        named = pd.DataFrame(
            {"source": links[f"{side}_source"], "record_id": links[f"{side}_record_id"]}
        )
        return first_positions(named, untouched, _KEY)

    left, right = node_of("left"), node_of("right")
    held = (left >= 0) & (right >= 0)
    left, right = node[left[held]], node[right[held]]
    edges = pd.DataFrame(
        {
            "left": np.minimum(left, right),
            "right": np.maximum(left, right),
            "rule": "probabilistic",
            "weight": links["weight"].to_numpy(dtype=np.float64)[held],
            "evidence": links["evidence"].to_numpy(dtype=object)[held],
        }
    )
    return edges.astype(EDGE_DTYPES)

"""Which rows of two tables hold the same key, by row position: the outer join an incremental
resolution makes of the current records and fact identity combinations with the stored ones.

pandas merges string keys by factorising every key column of both sides (seconds per million
rows, more with six columns of combinations); `outer_join_rows` joins a 64-bit hash of each
row's key instead, then checks that the joined rows' keys are equal. Should two different
keys ever share a hash, it merges on the key columns themselves: the answer is always the
exact join's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def outer_join_rows(left: pd.DataFrame, right: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """One row per pair of rows of `left` and `right` with equal `on` columns (nulls equal
    nulls, as in `merge`) and per row of either side without one: `left` and `right`, the
    row positions (-1: none), in no particular order."""
    keys_left = left[on].astype("string").reset_index(drop=True)
    keys_right = right[on].astype("string").reset_index(drop=True)
    joined = pd.DataFrame(
        {"hash": _hash(keys_left), "left": np.arange(len(left), dtype=np.int64)}
    ).merge(
        pd.DataFrame({"hash": _hash(keys_right), "right": np.arange(len(right), dtype=np.int64)}),
        on="hash",
        how="outer",
    )
    rows = _positions(joined)
    if _keys_equal(keys_left, keys_right, rows):
        return rows
    exact = keys_left.assign(left=np.arange(len(left), dtype=np.int64)).merge(
        keys_right.assign(right=np.arange(len(right), dtype=np.int64)), on=on, how="outer"
    )
    return _positions(exact)


def _hash(keys: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(keys, index=False).to_numpy()


def _positions(joined: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {side: joined[side].fillna(-1).to_numpy(dtype=np.int64) for side in ("left", "right")}
    )


def _keys_equal(left: pd.DataFrame, right: pd.DataFrame, rows: pd.DataFrame) -> bool:
    """Whether every joined pair of rows has equal keys."""
    both = rows[(rows["left"] >= 0) & (rows["right"] >= 0)]
    for column in left.columns:
        a = left[column].iloc[both["left"].to_numpy()].reset_index(drop=True)
        b = right[column].iloc[both["right"].to_numpy()].reset_index(drop=True)
        same = (a == b).fillna(False) | (a.isna() & b.isna())
        if not same.all():
            return False
    return True

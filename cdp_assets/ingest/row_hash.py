"""Row hashes for exact-duplicate detection, and content hashes of sql snapshots.

A row's hash depends only on its (column name, value) pairs with a value: not on the file, the
line, the column order or columns that are missing. It is computed with numpy straight from the
Arrow buffers of each string column (no Python object per value), with a fixed algorithm that
depends on no library's internal hash, so hashes stored in `raw.<source>._row_hash` stay valid
across upgrades:

    value hash  = h(len), then h = mix(h ^ word) for each 8-byte little-endian word (last word
                  zero-padded), mix = splitmix64's finaliser;
    column term = mix(value hash ^ key(column name))   (key from sha256 of the name)
    row hash    = mix(sum of the terms of the non-missing values  mod 2**64)  as int64.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_BLOCK_ROWS = 1 << 20


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (wrapping arithmetic), in place on a
    fresh array."""
    x = x ^ (x >> _S30)
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def _name_key(name: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little"))


def _as_arrow(series: pd.Series) -> pa.Array:
    array = pa.array(series.array, type=pa.large_string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def string_hashes(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of each value, validity mask) of a string array."""
    array = array.cast(pa.large_string())
    n = len(array)
    valid = (
        np.ones(n, dtype=bool)
        if array.null_count == 0
        else array.is_valid().to_numpy(zero_copy_only=False)
    )
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    lo, hi = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(hi - lo + 8, dtype=np.uint8)
    padded[: hi - lo] = data[lo:hi]
    # Every byte offset viewed as the start of an unaligned little-endian uint64.
    words = np.ndarray(shape=(hi - lo + 1,), dtype="<u8", buffer=padded, strides=(1,))
    start = offsets[:-1] - lo
    length = offsets[1:] - offsets[:-1]
    h = _mix(length.astype(np.uint64) + _GOLDEN)
    active = np.flatnonzero(length > 0)
    k = 0
    while len(active):
        remaining = length[active] - 8 * k
        word = words[start[active] + 8 * k].astype(np.uint64)
        short = remaining < 8
        if short.any():
            bits = (remaining[short] * 8).astype(np.uint64)
            word[short] &= (np.uint64(1) << bits) - np.uint64(1)
        if len(active) == n:
            h = _mix(h ^ word)
        else:
            h[active] = _mix(h[active] ^ word)
        active = active[remaining > 8]
        k += 1
    return h, valid


def row_hashes(frame: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """int64 hash of each row over `columns` (see the module docstring)."""
    columns = list(columns)
    n = len(frame)
    out = np.empty(n, dtype=np.int64)
    for lo in range(0, n, _BLOCK_ROWS):
        hi = min(n, lo + _BLOCK_ROWS)
        acc = np.zeros(hi - lo, dtype=np.uint64)
        for name in columns:
            h, valid = string_hashes(_as_arrow(frame[name].iloc[lo:hi]))
            term = _mix(h ^ _name_key(name))
            term[~valid] = 0
            acc += term
        out[lo:hi] = _mix(acc).view(np.int64)
    return out


class SortedHashSet:
    """A growing set of int64 row hashes, kept as a few sorted runs (no Python object per
    value): membership is a binary search per run, and a new run absorbs the runs no larger
    than itself, so that there are O(log n) runs however many times values are added.

    Sorting, not `np.unique`: numpy's hash-based unique is several times slower here, and a
    stable sort of two concatenated sorted runs is a linear merge.
    """

    def __init__(self, values: np.ndarray | None = None) -> None:
        self._runs: list[np.ndarray] = []
        if values is not None and len(values):
            self.add(values)

    def add(self, values: np.ndarray) -> None:
        run = _distinct_sorted(np.sort(np.asarray(values, dtype=np.int64)))
        while self._runs and len(self._runs[-1]) <= len(run):
            merged = np.sort(np.concatenate([self._runs.pop(), run]), kind="stable")
            run = _distinct_sorted(merged)
        if len(run):
            self._runs.append(run)

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Per value: is it in the set?"""
        values = np.asarray(values, dtype=np.int64)
        order = np.argsort(values, kind="stable")
        ordered = values[order]  # sorted keys make each binary search start where the last ended
        found = np.zeros(len(values), dtype=bool)
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, ordered), len(run) - 1)
            found[order] |= run[at] == ordered
        return found


def _distinct_sorted(ordered: np.ndarray) -> np.ndarray:
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def frame_content_hash(df: pd.DataFrame) -> str:
    """sha256 hex of a frame's content: its column names (as a set) and the multiset of its row
    hashes, so neither column order nor row order changes it. Pass source columns only."""
    columns = sorted(str(c) for c in df.columns)
    digest = hashlib.sha256()
    digest.update("\x1f".join(columns).encode("utf-8"))
    digest.update(b"\x1e")
    text = df[columns].astype("string") if columns else df[columns]
    hashes = np.sort(row_hashes(text, columns)) if columns else np.zeros(len(df), np.int64)
    digest.update(len(df).to_bytes(8, "little"))
    digest.update(hashes.astype("<i8").tobytes())
    return digest.hexdigest()

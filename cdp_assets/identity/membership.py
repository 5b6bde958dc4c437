"""Membership of string keys (node keys, customer ids) in a set of keys, hashed in C.

pandas' `Series.isin` on an arrow-backed `string` column builds one Python scalar per value
looked for (about 15 µs each): at 1,000,000 people an incremental resolution looked for the
2.3 million current node keys twice, half a minute each. `pyarrow.compute.is_in` does the
same test in C (0.1 s for half a million keys).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_strings(values: Iterable[object]) -> pa.Array:
    """`values` (a Series, an Index, an array, a set) as one Arrow `large_string` array."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.astype("string").array
    elif isinstance(values, set | frozenset):
        values = list(values)
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def string_isin(values: Iterable[object], wanted: Iterable[object]) -> np.ndarray:
    """Bool per item of `values`: whether it is one of `wanted` (as `Series.isin`: a null
    matches a null in `wanted`)."""
    found = pc.is_in(arrow_strings(values), value_set=arrow_strings(wanted))
    return found.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def string_positions(values: Iterable[object], wanted: Iterable[object]) -> np.ndarray:
    """Per item of `values`: the position of its first occurrence in `wanted` (-1: none; a
    null finds a null)."""
    found = pc.index_in(arrow_strings(values), value_set=arrow_strings(wanted))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

"""The outcome of checking one column, and the unique-value machinery every normaliser uses.

Normalisers work on the distinct values of a column (customer data repeats itself: countries,
statuses, currencies, postal codes, even timestamps of a batch) and broadcast the answers back
to the rows, so that per-value Python work is paid once per distinct value, not once per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STRING = "string"  # pandas StringDtype with pd.NA: the dtype of text columns and rule columns


@dataclass
class Checked:
    """A normalised column and, per row, the rule it failed (NA where it passed or was empty).

    `values` is NA wherever `rule` is set: a failing value is never half-kept.
    """

    values: pd.Series
    rule: pd.Series

    @property
    def failed(self) -> pd.Series:
        return self.rule.notna()


def no_rule(index: pd.Index) -> pd.Series:
    """An all-NA StringDtype column (no rule failed)."""
    nulls = pd.arrays.ArrowStringArray(pa.nulls(len(index), pa.large_string()))
    return pd.Series(nulls, index=index, dtype=STRING)


def as_text(series: pd.Series) -> pd.Series:
    """Any column (object with None, `str` with NaN, numbers) as StringDtype with pd.NA."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is pd.NA:
        return series
    return series.astype(STRING)


@dataclass
class UniqueValues:
    """The distinct non-null values of a column and, per row, the position of its value."""

    codes: np.ndarray  # per row: index into `values`, -1 for NA
    values: pd.Series  # distinct values, StringDtype, RangeIndex
    index: pd.Index  # the index of the original column

    @classmethod
    def of(cls, series: pd.Series) -> UniqueValues:
        text = as_text(series)
        codes, uniques = pd.factorize(text, use_na_sentinel=True)
        values = pd.Series(uniques.array if hasattr(uniques, "array") else uniques)
        return cls(codes=np.asarray(codes), values=values.astype(STRING), index=series.index)

    def __len__(self) -> int:
        return len(self.values)

    def broadcast(self, per_value: pd.Series | np.ndarray, dtype: str | None = None) -> pd.Series:
        """Per-distinct-value answers as a per-row column (NA for rows whose value is NA)."""
        series = per_value if isinstance(per_value, pd.Series) else pd.Series(per_value)
        if dtype is not None:
            series = series.astype(dtype)
        taken = series.array.take(self.codes, allow_fill=True)
        return pd.Series(taken, index=self.index, dtype=series.dtype)


def unique_pairs(first: pd.Series, second: pd.Series) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Distinct (first, second) pairs where `first` is not NA.

    Returns per-row codes into the pairs (-1 where `first` is NA) and the pairs' two columns.
    """
    a_codes, a_uniques = pd.factorize(as_text(first), use_na_sentinel=True)
    b_codes, b_uniques = pd.factorize(as_text(second), use_na_sentinel=True)
    b_codes = np.where(b_codes < 0, len(b_uniques), b_codes).astype(np.int64)
    combined = np.where(a_codes < 0, -1, a_codes.astype(np.int64) * (len(b_uniques) + 1) + b_codes)
    pair_codes, pair_uniques = pd.factorize(combined, use_na_sentinel=False)
    pair_uniques = np.asarray(pair_uniques)
    keep = pair_uniques >= 0
    # Renumber so that the pairs are 0..k-1 and the NA row code is -1.
    renumber = np.full(len(pair_uniques), -1, dtype=np.int64)
    renumber[keep] = np.arange(int(keep.sum()))
    codes = renumber[pair_codes]
    real = pair_uniques[keep]
    a_values = np.asarray(a_uniques, dtype=object)[real // (len(b_uniques) + 1)]
    b_index = real % (len(b_uniques) + 1)
    b_all = np.append(np.asarray(b_uniques, dtype=object), None)
    b_values = b_all[b_index]
    return codes, pd.Series(a_values, dtype=STRING), pd.Series(b_values, dtype=STRING)


def take_rows(per_value: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Broadcast per-pair answers back to rows (NA where the code is -1)."""
    taken = per_value.array.take(codes, allow_fill=True)
    return pd.Series(taken, index=index, dtype=per_value.dtype)


def extract(series: pd.Series, pattern: str) -> pd.DataFrame:
    """Named groups of `pattern` (matched at the start) per row, NA where it does not match.

    Runs in pyarrow's RE2 (pandas' `str.extract` runs Python's `re` row by row); the pattern
    must be RE2-compatible: no lookaround, no backreferences.
    """
    text = as_text(series)
    names = list(re.compile(pattern).groupindex)
    if text.empty:
        return pd.DataFrame({n: pd.Series([], dtype=STRING) for n in names}, index=text.index)
    found = pc.extract_regex(pa.array(text.array), pattern)
    return pd.DataFrame(
        {
            n: pd.Series(
                pd.arrays.ArrowStringArray(pc.struct_field(found, n)), index=text.index
            ).astype(STRING)
            for n in names
        },
        index=text.index,
    )


def _arrow(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    return pa.array(as_text(series).array)


def fullmatch(series: pd.Series, pattern: str) -> np.ndarray:
    """Per row: does the whole value match `pattern` (RE2 syntax)? NA → False."""
    if series.empty:
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(_arrow(series), f"^(?:{pattern})$")
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False).astype(bool)


def prefix_match(series: pd.Series, pattern: str) -> np.ndarray:
    """Per row: does the value start with a match of `pattern` (RE2 syntax)? NA → False."""
    if series.empty:
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(_arrow(series), f"^(?:{pattern})")
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False).astype(bool)

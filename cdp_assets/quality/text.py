"""Free text and identifiers: trimmed, Unicode NFC, empty or placeholder text becomes null.

Unicode is kept intact (王小明 stays 王小明, Zoë stays Zoë); only its form is normalised (NFC),
so that the same name typed on two systems compares equal.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.quality.checked import STRING, UniqueValues, as_text

# Text that means "no value" in exports. Compared case-insensitively after trimming.
# Deliberately short: "NA" is Namibia, "-" may be meaningful.
NULL_TOKENS = frozenset({"null", "nan", "none", "n/a", "#n/a"})
_NULL_TOKENS_ARROW = pa.array(sorted(NULL_TOKENS))

_EDGE_INVISIBLES = "\ufeff\u200b\u200c\u200d\u2060"
_NON_ASCII = r"[^\x00-\x7f]"
# Literal characters (not \s, not \u escapes) so that pyarrow's RE2 runs the pattern.
_WHITESPACE_CLASS = "[ \t\n\r\f\v\u00a0\u2009\u202f\u3000]"
_WHITESPACE_RUNS = "  |[\t\n\r\f\v\u00a0\u2009\u202f\u3000]"


def clean_text(series: pd.Series, collapse_whitespace: bool = False) -> pd.Series:
    """Trim, NFC-normalise and null out empty/placeholder values; StringDtype result.

    `collapse_whitespace` also turns internal runs of whitespace into one space (names,
    cities), which free text such as comments keeps.
    """
    text = as_text(series)
    arr = pc.utf8_trim_whitespace(pa.array(text.array))
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(arr), True))
    if pc.any(non_ascii).as_py():
        rows = np.flatnonzero(non_ascii.to_numpy(zero_copy_only=False))
        special = pd.Series(pd.arrays.ArrowStringArray(arr.take(rows)))
        special = nfc(special.str.strip(_EDGE_INVISIBLES))
        arr = _put(arr, rows, pa.array(special.array))
    if collapse_whitespace:
        runs = pc.fill_null(pc.match_substring_regex(arr, _WHITESPACE_RUNS), False)
        if pc.any(runs).as_py():
            rows = np.flatnonzero(runs.to_numpy(zero_copy_only=False))
            collapsed = pc.replace_substring_regex(arr.take(rows), _WHITESPACE_CLASS + "+", " ")
            arr = _put(arr, rows, collapsed)
    length = pc.utf8_length(arr)
    drop = pc.equal(length, 0)
    short = pc.fill_null(pc.less_equal(length, 4), False)
    if pc.any(short).as_py():
        placeholder = pc.is_in(pc.utf8_lower(arr), value_set=_NULL_TOKENS_ARROW)
        drop = pc.or_(drop, pc.and_(short, placeholder))
    arr = pc.if_else(pc.fill_null(drop, False), pa.scalar(None, arr.type), arr)
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=series.index).astype(STRING)


def _put(arr: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """`arr` with positions `rows` replaced by `values`."""
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(arr, pa.array(mask), values.cast(arr.type))


def nfc(series: pd.Series) -> pd.Series:
    """Unicode NFC per distinct value."""
    uv = UniqueValues.of(series)
    normalised = [unicodedata.normalize("NFC", v) for v in uv.values.tolist()]
    return uv.broadcast(pd.Series(normalised, dtype=STRING))

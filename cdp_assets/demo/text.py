"""Text columns, built vectorised: Arrow string arrays from numpy codes, numbers and instants.

Every source column the generator writes is an Arrow string array (null = missing value). The
helpers here turn numpy arrays into such columns without a Python object per value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STRING = pa.string()


def strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(list(values), type=STRING)


def pick(values: Sequence[str | None] | pa.Array, index: np.ndarray) -> pa.Array:
    """values[index] as a string array (index -1 gives null)."""
    table = values if isinstance(values, pa.Array) else strings(values)
    index = np.asarray(index, dtype=np.int64)
    if (index < 0).any():
        return table.take(pa.array(index, mask=index < 0))
    return table.take(pa.array(index))


def const(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, STRING)
    return pa.array(np.full(n, value, dtype=object), type=STRING)


def cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def where(mask: np.ndarray, a: pa.Array | str | None, b: pa.Array | str | None) -> pa.Array:
    """a where mask else b (strings or string arrays)."""
    n = len(mask)

    def arr(x: pa.Array | str | None) -> pa.Array:
        return x if isinstance(x, pa.Array | pa.ChunkedArray) else const(x, n)

    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), arr(a), arr(b))


def null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return where(mask, None, values)


def integers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), STRING)


def zero_padded(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(integers(values), width, padding="0")


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded number: ids("SO-", [7], 8) → "SO-00000007"."""
    return cat(prefix, zero_padded(numbers, width))


def money(cents: np.ndarray) -> pa.Array:
    """Amounts in hundredths as text with two decimals (negative allowed): -1234 → "-12.34"."""
    cents = np.asarray(cents, dtype=np.int64)
    sign = np.where(cents < 0, "-", "")
    absolute = np.abs(cents)
    return cat(
        pa.array(sign, type=STRING), integers(absolute // 100), ".", zero_padded(absolute % 100, 2)
    )


def decimals(values: np.ndarray, places: int) -> pa.Array:
    scale = 10**places
    scaled = np.round(np.asarray(values, dtype=np.float64) * scale).astype(np.int64)
    if places == 2:
        return money(scaled)
    sign = np.where(scaled < 0, "-", "")
    absolute = np.abs(scaled)
    return cat(
        pa.array(sign, type=STRING),
        integers(absolute // scale),
        ".",
        zero_padded(absolute % scale, places),
    )


def instants(seconds: np.ndarray, fmt: str, tz: str = "UTC", unit: str = "s") -> pa.Array:
    """Epoch instants (int64 in `unit`) formatted in time zone `tz` (strftime format)."""
    values = np.asarray(seconds, dtype=np.int64)
    ts = pa.array(values, type=pa.timestamp(unit, tz="UTC"))
    if tz != "UTC":
        ts = ts.cast(pa.timestamp(unit, tz=tz))
    return pc.strftime(ts, format=fmt)


def iso_offset(seconds: np.ndarray, tz: str) -> pa.Array:
    """ISO-8601 local time with its UTC offset written as +HH:MM."""
    text = instants(seconds, "%Y-%m-%dT%H:%M:%S%z", tz)
    return pc.replace_substring_regex(text, r"([+-][0-9]{2})([0-9]{2})$", r"\1:\2")


def dates(days: np.ndarray, fmt: str) -> pa.Array:
    """Days since the epoch formatted with a strftime format."""
    values = np.asarray(days, dtype=np.int64) * 86_400
    return instants(values, fmt)


def tokens(rng: np.random.Generator, n: int, alphabet: str, length: int) -> pa.Array:
    """n random strings of `length` characters from `alphabet`."""
    codes = np.frombuffer(alphabet.encode("utf-32-le"), dtype=np.uint32)
    picks = codes[rng.integers(0, len(codes), size=(n, length))]
    text = np.ascontiguousarray(picks).view(f"<U{length}").reshape(n)
    return pa.array(text, type=STRING)


def utf8_lines(lines: pa.Array) -> bytes:
    """The values as UTF-8 text, each followed by a newline (straight from Arrow's buffer)."""
    if len(lines) == 0:
        return b""
    with_newline = pc.binary_join_element_wise(lines, "", "\n").cast(pa.large_string())
    if isinstance(with_newline, pa.ChunkedArray):
        with_newline = with_newline.combine_chunks()
    offsets = np.frombuffer(with_newline.buffers()[1], dtype=np.int64)
    offsets = offsets[with_newline.offset : with_newline.offset + len(with_newline) + 1]
    data = with_newline.buffers()[2]
    if data is None:
        return b""
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])].tobytes()


def scatter(parts: list[pa.Array], rows: list[np.ndarray], n: int) -> pa.Array:
    """Arrays computed for groups of rows put back in row order (parts[k] holds rows[k])."""
    if not parts:
        return pa.nulls(n, STRING)
    joined = pa.concat_arrays([p.cast(STRING) for p in parts])
    position = np.empty(n, dtype=np.int64)
    position[np.concatenate(rows)] = np.arange(n)
    return joined.take(pa.array(position))


def take(values: pa.Array, index: np.ndarray) -> pa.Array:
    return values.take(pa.array(np.asarray(index, dtype=np.int64)))


def to_numpy(values: pa.Array) -> np.ndarray:
    """A string array as a numpy object array (None for null)."""
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)

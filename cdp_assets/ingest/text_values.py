"""Typed values (Arrow columns, Python objects from a database) as the text a raw table holds.

One spelling for every source: booleans `true`/`false`; timestamps ISO-8601 with `T` (UTC ones
end in `Z`, fractions only when not zero); dates `YYYY-MM-DD`; numbers as Arrow or Python print
them; nested values as compact JSON; bytes as UTF-8 text when they are, else hex; null → None.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return _bytes_text(value)
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _bytes_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def value_text(value: Any) -> str | None:
    """One Python value as text (the per-value path for database results)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_text(bytes(value))
    if isinstance(value, dict | list | tuple):
        return _json_text(value)
    return str(value)


def _timestamp_text(array: pa.Array) -> pa.Array:
    unit = array.type.unit
    if array.type.tz is not None:
        array = array.cast(pa.timestamp(unit, tz="UTC"))
    text = pc.cast(array, pa.string())
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    return pc.replace_substring_regex(text, r"\.0+(Z?)$", r"\1")


def arrow_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow column as a string column (see the module docstring)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if pa.types.is_dictionary(kind):
        return arrow_text(array.dictionary_decode())
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_string(kind):
        return array
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return array.cast(pa.string())
    if pa.types.is_timestamp(kind):
        return _timestamp_text(array)
    if pa.types.is_floating(kind):
        text = pc.cast(array, pa.string())
        return pc.if_else(pc.is_nan(array), pa.scalar(None, pa.string()), text)
    if (
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_date(kind)
    ):
        return pc.cast(array, pa.string())
    if pa.types.is_time(kind):
        return pc.replace_substring_regex(pc.cast(array, pa.string()), r"\.0+$", "")
    return pa.array([value_text(v) for v in array.to_pylist()], type=pa.string())


def python_values_text(values: Sequence[Any]) -> pa.Array:
    """A database column (Python objects) as a string column; typed through Arrow when the
    values share one type, value by value otherwise (SQLite columns may mix types)."""
    if all(v is None or type(v) is str for v in values):
        return pa.array(values, type=pa.string())
    try:
        array = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return pa.array([value_text(v) for v in values], type=pa.string())
    if pa.types.is_floating(array.type) or pa.types.is_timestamp(array.type):
        # Python's own spelling for floats (repr) and datetimes stays exact.
        return pa.array([value_text(v) for v in values], type=pa.string())
    return arrow_text(array)

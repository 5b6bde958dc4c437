"""JSON Lines files: one object per line, every value as text.

Each block of lines is handed to an in-memory DuckDB as an Arrow string column (no copy of the
text); DuckDB checks each line (`json_valid`, `json_type`), lists the keys and extracts every
key's value as text in one pass: strings as they are, numbers and `true`/`false` as JSON text,
nested objects and arrays as compact JSON, `null` as missing. Lines that are not a JSON object
are malformed; Python's `json` gives the reason. Blank lines are skipped.

A line that repeats a key keeps the first value (DuckDB's reading). A line longer than
`MAX_LINE_BYTES`, a line not in the file's encoding (lenient decoding) and a line bringing a key
beyond the first `max_keys` distinct keys of the file (keys in `keep`, the mapped ones, are
always read) are malformed, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from cdp_assets.ingest.encoding import utf8_blocks
from cdp_assets.ingest.limits import MAX_LINE_BYTES, MAX_SOURCE_COLUMNS, shown_payload
from cdp_assets.ingest.text_values import value_text

BLOCK_SIZE = 64 << 20  # large enough for DuckDB to scan a block on several threads
_WHITESPACE = np.array([ord(c) for c in " \t\r\x0b\x0c"], dtype=np.uint8)


@dataclass
class JsonlOutput:
    columns: list[str] = field(default_factory=list)  # keys in order of first appearance
    tables: list[pa.Table] = field(default_factory=list)  # key columns (string)
    line_numbers: list[pa.Array] = field(default_factory=list)  # int64, one per table
    bad_lines: list[int] = field(default_factory=list)
    bad_payloads: list[str] = field(default_factory=list)
    bad_reasons: list[str] = field(default_factory=list)


def _pointer(key: str) -> str:
    """JSON Pointer of a top-level key (RFC 6901), unambiguous for any key text."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _reason(line: str) -> str:
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"invalid JSON: {exc}"
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
    if isinstance(value, dict):  # DuckDB refused what Python accepts
        return "invalid JSON"
    return f"not a JSON object (found {kind})"


@dataclass
class _Keys:
    """The file's keys so far, and which new keys a block may add (see `admit`)."""

    seen: dict[str, None]
    keep: frozenset[str]
    max_keys: int

    def overflow(self, keys: list[str]) -> set[str]:
        """The keys of `keys` that would take the file past `max_keys` (never kept ones)."""
        new_kept = {k for k in keys if k in self.keep and k not in self.seen}
        room = self.max_keys - len(self.seen) - len(new_kept)
        over: set[str] = set()
        for key in keys:
            if key in self.seen or key in self.keep:
                continue
            if room > 0:
                room -= 1
            else:
                over.add(key)
        return over

    def reason(self, key: str) -> str:
        return (
            f"key {key!r} is beyond the {self.max_keys:,} distinct keys a file may have "
            "(the source's mapped keys are always read)"
        )


def read_jsonl(
    path: Path,
    encoding: str,
    *,
    lenient: bool = False,
    shown_as: str | None = None,
    keep: frozenset[str] = frozenset(),
    max_keys: int | None = None,
) -> JsonlOutput:
    out = JsonlOutput()
    keys = _Keys({}, keep, MAX_SOURCE_COLUMNS if max_keys is None else max_keys)
    con = duckdb.connect()
    try:
        blocks = utf8_blocks(
            path, encoding, block_size=BLOCK_SIZE, lenient=lenient, shown_as=shown_as
        )
        for block in blocks:
            for bad in block.undecodable:
                out.bad_lines.append(bad.line)
                out.bad_payloads.append(shown_payload(bad.payload))
                out.bad_reasons.append(bad.reason)
            _read_block(con, block.data, block.first_line, out, keys)
    finally:
        con.close()
    out.columns = list(keys.seen)
    return out


@dataclass
class _Block:
    """What one block yields: good lines' key columns and numbers, bad lines."""

    keys: list[str]
    columns: dict[str, pa.Array]
    numbers: np.ndarray  # 0-based line index within the block, of each good row
    bad: list[int]  # 0-based line index within the block, of each bad line
    reasons: dict[int, str] = field(default_factory=dict)  # of bad lines, when not JSON's


def _read_block(
    con: duckdb.DuckDBPyConnection,
    buf: bytes,
    first_line: int,
    out: JsonlOutput,
    keys: _Keys,
) -> None:
    a = np.frombuffer(buf, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    offsets = np.concatenate([[0], nl + 1]).astype(np.int64)
    if offsets[-1] != len(a):
        offsets = np.append(offsets, len(a))
    n = len(offsets) - 1
    if n == 0:
        return
    starts, stops = offsets[:-1], offsets[1:]
    # Blank lines: only whitespace (the b"\n" itself is the last byte of each value).
    first_byte = a[np.minimum(starts, len(a) - 1)]
    blank = (stops - starts <= 1) & ((stops == starts) | (first_byte == 10))
    maybe = np.flatnonzero(~blank & np.isin(first_byte, _WHITESPACE))
    for k in maybe.tolist():
        if not buf[starts[k] : stops[k]].strip():
            blank[k] = True
    long = (stops - starts > MAX_LINE_BYTES) & ~blank
    for k in np.flatnonzero(long).tolist():
        size = int(stops[k] - starts[k])
        text = buf[starts[k] : starts[k] + 4 * MAX_LINE_BYTES].decode("utf-8", errors="replace")
        out.bad_lines.append(first_line + k)
        out.bad_payloads.append(shown_payload(text, size))
        out.bad_reasons.append(f"line longer than {MAX_LINE_BYTES:,} bytes ({size:,})")
    skip = blank | long
    try:
        block = _duckdb_block(con, buf, offsets, skip, keys)
    except duckdb.Error:
        block = _python_block(buf, offsets, skip, keys)
    for k in block.bad:
        payload = buf[starts[k] : stops[k]].decode("utf-8").rstrip("\r\n")
        out.bad_lines.append(first_line + k)
        out.bad_payloads.append(shown_payload(payload))
        out.bad_reasons.append(block.reasons.get(k) or _reason(payload))
    if len(block.numbers) == 0:
        return
    for key in block.keys:
        keys.seen.setdefault(key, None)
    out.tables.append(pa.table(block.columns))  # no columns when every object is {}
    out.line_numbers.append(pa.array(block.numbers.astype(np.int64) + first_line))


_KEYS_SQL = (
    "SELECT k FROM (SELECT n, unnest(json_keys(line)) AS k, "
    "unnest(range(len(json_keys(line)))) AS p FROM jsonl_lines) "
    "GROUP BY k ORDER BY min(n * 1000000 + p)"
)


def _block_keys(con: duckdb.DuckDBPyConnection, frame: pa.Table) -> list[str]:
    con.register("jsonl_lines", frame)
    try:
        return [row[0] for row in con.sql(_KEYS_SQL).fetchall()]
    finally:
        con.unregister("jsonl_lines")


def _lines_with_keys(
    con: duckdb.DuckDBPyConnection, frame: pa.Table, over: set[str]
) -> dict[int, str]:
    """Line index → its first key among `over`, for the lines that carry one."""
    con.register("jsonl_lines", frame)
    try:
        rows = con.sql(
            "SELECT n, min(k) FROM (SELECT n, unnest(json_keys(line)) AS k FROM jsonl_lines) "
            "WHERE list_contains($over, k) GROUP BY n",
            params={"over": sorted(over)},
        ).fetchall()
    finally:
        con.unregister("jsonl_lines")
    return {int(n): key for n, key in rows}


def _duckdb_block(
    con: duckdb.DuckDBPyConnection,
    buf: bytes,
    offsets: np.ndarray,
    blank: np.ndarray,
    known: _Keys,
) -> _Block:
    """The fast path: DuckDB checks, lists keys and extracts values for the whole block."""
    n = len(offsets) - 1
    lines = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))
    frame = pa.table(
        {"n": pa.array(np.arange(n, dtype=np.int64)), "line": lines, "blank": pa.array(blank)}
    )
    con.register("jsonl_lines", frame)
    try:
        checked = con.sql(
            "SELECT n, CASE WHEN blank THEN NULL WHEN json_valid(line) "
            "THEN json_type(line) = 'OBJECT' ELSE false END AS ok FROM jsonl_lines"
        ).to_arrow_table()
    finally:
        con.unregister("jsonl_lines")
    ok = np.zeros(n, dtype=bool)
    ok_values = checked.column("ok").to_numpy(zero_copy_only=False)
    ok[checked.column("n").to_numpy()] = ok_values == True  # noqa: E712 - NULL: blank
    bad = np.flatnonzero(~ok & ~blank).tolist()
    if not ok.all():
        frame = frame.filter(pa.array(ok))
    frame = frame.select(["n", "line"])
    keys = _block_keys(con, frame)
    reasons: dict[int, str] = {}
    over = known.overflow(keys)
    if over:
        carriers = _lines_with_keys(con, frame, over)
        reasons = {line: known.reason(key) for line, key in carriers.items()}
        bad = sorted([*bad, *carriers])
        dropped = np.zeros(n, dtype=bool)
        dropped[list(carriers)] = True
        frame = frame.filter(pa.array(~dropped[frame.column("n").to_numpy()]))
        keys = _block_keys(con, frame)
    con.register("jsonl_lines", frame)
    try:
        if keys:
            picks = ", ".join(f"v[{i + 1}] AS c{i}" for i in range(len(keys)))
            result = con.sql(
                f"SELECT n, {picks} FROM (SELECT n, json_extract_string(line, "
                "$paths::VARCHAR[]) AS v FROM jsonl_lines) ORDER BY n",
                params={"paths": [_pointer(k) for k in keys]},
            ).to_arrow_table()
        else:
            result = con.sql("SELECT n FROM jsonl_lines ORDER BY n").to_arrow_table()
    finally:
        con.unregister("jsonl_lines")
    columns = {key: result.column(f"c{i}").cast(pa.string()) for i, key in enumerate(keys)}
    numbers = result.column("n").to_numpy()
    return _Block(keys, columns, numbers, bad, reasons)


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj.setdefault(key, value)
    return obj


def _python_text(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value_text(value)


def _python_block(buf: bytes, offsets: np.ndarray, blank: np.ndarray, known: _Keys) -> _Block:
    """The fallback when DuckDB refuses a block: Python's json, line by line (same texts,
    a repeated key keeps its first value there too)."""
    keys: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    bad: list[int] = []
    reasons: dict[int, str] = {}
    admitted = _Keys(dict(known.seen), known.keep, known.max_keys)
    for k in range(len(offsets) - 1):
        if blank[k]:
            continue
        try:
            obj = json.loads(buf[offsets[k] : offsets[k + 1]], object_pairs_hook=_first_wins)
        except ValueError:
            bad.append(k)
            continue
        if not isinstance(obj, dict):
            bad.append(k)
            continue
        over = admitted.overflow(list(obj))
        if over:
            bad.append(k)
            reasons[k] = admitted.reason(next(key for key in obj if key in over))
            continue
        admitted.seen.update(dict.fromkeys(obj))
        keys.update(dict.fromkeys(obj))
        rows.append(obj)
        numbers.append(k)
    columns = {
        key: pa.array([_python_text(row.get(key)) for row in rows], type=pa.string())
        for key in keys
    }
    return _Block(list(keys), columns, np.array(numbers, dtype=np.int64), bad, reasons)

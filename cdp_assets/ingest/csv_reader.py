"""CSV files: every field as text, with the physical line of every record, good or bad.

How a block of UTF-8 bytes is read:

1. numpy finds the line ends, quote characters and delimiters. A line without quotes has
   `delimiters + 1` fields. A line whose quotes are all RFC 4180-regular (opening at the start
   of a field, closing before a delimiter or the line end, doubled inside) and even in number
   is one record; its field count is the number of delimiters outside quotes plus one.
2. Lines with an odd number of quotes (a quoted value spanning lines, or a broken quote) and
   lines with irregular quotes are read one record at a time by Python's `csv` module in
   strict mode, from that line on. A record that is broken (no closing quote within
   `MAX_RECORD_LINES` lines or before the end of the file, text after a closing quote) makes
   only its first line malformed; reading resumes on the next line.
3. Records with the header's number of fields are parsed by pyarrow (all columns as strings,
   empty → null); the result is checked to have exactly the expected rows, else the same lines
   are parsed by `csv` instead. Other records are malformed, with their text and the reason.

A line longer than `MAX_LINE_BYTES` is malformed unread. With lenient decoding, a line that is
not in the file's encoding arrives blanked and is malformed with the reason; a file whose
header cannot be read (broken quoting, too long, not decodable) raises UnreadableFile.

Blank (whitespace-only) lines are skipped. Line numbers are physical lines of the file: the
header is line 1 when it is the first line, and a record spanning lines has its first line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from cdp_assets.config import SourceConfig
from cdp_assets.config.sources import DELIMITER_ALIASES
from cdp_assets.ingest.encoding import TextBlock, utf8_blocks
from cdp_assets.ingest.errors import SourceReadError, UnreadableFile, where
from cdp_assets.ingest.limits import MAX_LINE_BYTES, shown_payload

DELIMITER_CANDIDATES = (",", ";", "\t", "|")
DENSE_QUOTES = 16  # quotes above 1 byte in 16: count delimiters in quotes byte-wise
MAX_RECORD_LINES = 1_000  # a quoted value may span at most this many physical lines
_SNIFF_BYTES = 64 << 10
_SNIFF_RECORDS = 50
_WHITESPACE = np.array([ord(c) for c in " \t\r\x0b\x0c"], dtype=np.uint8)
_DELIMITER_ALIASES = DELIMITER_ALIASES
# `csv` refuses fields over 131,072 characters by default; lines up to MAX_LINE_BYTES are read
# (a process-wide setting: only ever raised, never lowered).
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))


class _NeedMore(Exception):
    """A record continues past the data at hand (not the end of the file)."""


@dataclass
class CsvOutput:
    """Raw material of a ReadResult: arrow tables of good rows and the malformed lines."""

    header: list[str] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)  # f0..f{n-1} (string), _line (int64)
    bad_lines: list[int] = field(default_factory=list)
    bad_payloads: list[str] = field(default_factory=list)
    bad_reasons: list[str] = field(default_factory=list)
    delimiter: str = ","


def resolve_delimiter(source: SourceConfig, display_name: str) -> str | None:
    value = source.delimiter
    if value is None:
        return None
    value = _DELIMITER_ALIASES.get(value, value)
    if len(value) != 1 or not value.isascii() or value in "\r\n":
        raise SourceReadError(
            f"{where(source, display_name)}: delimiter {source.delimiter!r} must be one ASCII "
            "character (use '\\t' for tab)"
        )
    return value


def sniff_delimiter(text: str, quotechar: str) -> str:
    """The candidate that splits the first records into the most consistent field counts."""
    lines = [line for line in text.splitlines(keepends=True) if line.strip()]
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1] or lines  # the sample's cut may have split the last line
    best: tuple[float, int, int] | None = None
    chosen = ","
    for rank, candidate in enumerate(DELIMITER_CANDIDATES):
        counts: list[int] = []
        try:
            reader = csv.reader(lines, delimiter=candidate, quotechar=quotechar)
            for row in reader:
                if row:
                    counts.append(len(row))
                if len(counts) >= _SNIFF_RECORDS:
                    break
        except csv.Error:
            pass
        if not counts or counts[0] < 2:
            continue
        consistency = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = (consistency, counts[0], -rank)
        if best is None or score > best:
            best = score
            chosen = candidate
    return chosen


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of arange(lo[i], hi[i]) for all i, vectorised."""
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(lo - (np.cumsum(lens) - lens), lens)
    return np.arange(total, dtype=np.int64) + shift


def _positions(a: np.ndarray, buf: bytes, byte: int) -> np.ndarray:
    if buf.find(bytes([byte])) < 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(a == byte)


def _none_if_empty(values: list[str]) -> list[str | None]:
    return [v if v != "" else None for v in values]


class CsvScanner:
    """Reads one CSV file block by block (see the module docstring)."""

    def __init__(self, source: SourceConfig, display_name: str, delimiter: str | None) -> None:
        self.source = source
        self.display_name = display_name
        self.quotechar = source.quotechar
        if len(self.quotechar) != 1 or not self.quotechar.isascii():
            raise SourceReadError(
                f"{where(source, display_name)}: quotechar {self.quotechar!r} must be one ASCII "
                "character"
            )
        self.delimiter = delimiter
        self._opens = self._closes = np.zeros(256, dtype=bool)
        self.header: list[str] | None = None
        self.header_line: int | None = None
        self.first_undecodable: int | None = None
        self.ncols = 0
        self.out = CsvOutput()

    # -- driving ---------------------------------------------------------------------------

    def read(
        self, path: Path, encoding: str, lenient: bool = False, shown_as: str | None = None
    ) -> CsvOutput:
        pending = b""
        pending_line = 1
        blocks = utf8_blocks(path, encoding, lenient=lenient, shown_as=shown_as)
        for block, final in _with_last(blocks):
            for bad in block.undecodable:
                self.out.bad_lines.append(bad.line)
                self.out.bad_payloads.append(shown_payload(bad.payload))
                self.out.bad_reasons.append(bad.reason)
                if self.first_undecodable is None:
                    self.first_undecodable = bad.line
            buf = pending + block.data if pending else block.data
            first_line = pending_line if pending else block.first_line
            pending, pending_line = self._consume(buf, first_line, final)
        if pending:  # only when the file ends inside a record the scanner could not close
            self._consume(pending, pending_line, True)
        if (
            self.header_line is not None
            and self.first_undecodable is not None
            and self.first_undecodable < self.header_line
        ):
            raise UnreadableFile(
                f"{where(self.source, self.display_name, self.first_undecodable)}: the header "
                f"is not valid {encoding}",
                self.first_undecodable,
            )
        self.out.header = self.header or []
        self.out.delimiter = self.delimiter or ","
        return self.out

    def _consume(self, buf: bytes, first_line: int, final: bool) -> tuple[bytes, int]:
        if self.header is None:
            taken = self._take_header(buf, first_line, final)
            if taken is None:
                return (b"", first_line) if final else (buf, first_line)
            offset, lines = taken
            buf = buf[offset:]
            first_line += lines
        if not buf:
            return b"", first_line
        return self._scan(buf, first_line, final)

    # -- header ----------------------------------------------------------------------------

    def _take_header(self, buf: bytes, first_line: int, final: bool) -> tuple[int, int] | None:
        """Parses the first non-blank record as the header: (bytes, lines) consumed, or None
        when more data is needed (or the data holds only blank lines)."""
        pos = 0
        line = 0
        while pos < len(buf):
            end = buf.find(b"\n", pos)
            end = len(buf) if end < 0 else end + 1
            if buf[pos:end].strip():
                break
            pos = end
            line += 1
        else:
            return None
        if self.delimiter is None:
            sample = buf[pos : pos + _SNIFF_BYTES].decode("utf-8", errors="ignore")
            self.delimiter = sniff_delimiter(sample, self.quotechar)
        starts, ends = _line_bounds(buf)
        first = int(np.searchsorted(starts, pos))
        here = where(self.source, self.display_name, first_line + line)
        if ends[first] - starts[first] > MAX_LINE_BYTES:
            raise UnreadableFile(
                f"{here}: the header line is longer than {MAX_LINE_BYTES:,} bytes",
                first_line + line,
            )
        try:
            row, consumed = self._read_record(buf, starts, ends, first, final)
        except _NeedMore:
            return None
        except csv.Error as exc:
            raise UnreadableFile(
                f"{here}: cannot read the header: {_csv_reason(exc)}", first_line + line
            ) from None
        self.header_line = first_line + line
        self.header = _clean_header(row)
        self.ncols = len(self.header)
        last = first + consumed - 1
        offset = int(ends[last]) + 1 if last < len(ends) else len(buf)
        return min(offset, len(buf)), line + consumed

    # -- records ---------------------------------------------------------------------------

    def _read_record(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, s: int, final: bool
    ) -> tuple[list[str], int]:
        """One record read by `csv` (strict) from line `s`: (fields, physical lines used).
        Raises csv.Error when broken, _NeedMore when it runs past the data at hand."""
        n = len(starts)
        stop = min(n, s + MAX_RECORD_LINES)
        state = {"exhausted": False}

        def lines() -> Iterator[str]:
            for k in range(s, stop):
                yield buf[starts[k] : ends[k] + 1].decode("utf-8")
            state["exhausted"] = True

        reader = csv.reader(
            lines(), delimiter=self.delimiter or ",", quotechar=self.quotechar, strict=True
        )
        try:
            row = next(reader)
        except StopIteration:
            return [], stop - s
        except csv.Error:
            if state["exhausted"] and not final and stop == n:
                raise _NeedMore() from None
            raise
        return row, reader.line_num

    def _scan(self, buf: bytes, first_line: int, final: bool) -> tuple[bytes, int]:
        a = np.frombuffer(buf, dtype=np.uint8)
        starts, ends = _line_bounds(buf, a)
        n = len(starts)
        content_end = ends.copy()
        nonempty = ends > starts
        cr = np.zeros(n, dtype=bool)
        cr[nonempty] = a[ends[nonempty] - 1] == 13
        content_end[cr] -= 1
        length = content_end - starts

        qbyte, dbyte = ord(self.quotechar), ord(self.delimiter or ",")
        self._opens = np.zeros(256, dtype=bool)  # bytes that may precede an opening quote
        self._opens[[dbyte, qbyte, 10]] = True
        self._closes = np.zeros(256, dtype=bool)  # bytes that may follow a closing quote
        self._closes[[dbyte, qbyte, 10, 13]] = True
        q = _positions(a, buf, qbyte)
        d = _positions(a, buf, dbyte)
        q_lo = np.searchsorted(q, starts)
        q_hi = np.searchsorted(q, content_end)
        quotes = q_hi - q_lo
        d_lo = np.searchsorted(d, starts)
        d_hi = np.searchsorted(d, content_end)
        fields = d_hi - d_lo + 1

        # Blank lines: whitespace only.
        blank = length == 0
        maybe = np.flatnonzero(
            ~blank & (quotes == 0) & np.isin(a[np.minimum(starts, len(a) - 1)], _WHITESPACE)
        )
        for k in maybe:
            if not buf[starts[k] : content_end[k]].strip():
                blank[k] = True

        # Lines with an even number of quotes: regular quoting, and fields outside quotes.
        odd = (quotes % 2) == 1
        irregular = np.zeros(n, dtype=bool)
        if len(q):
            # An opening quote (even rank in its line) must start a field; a closing or
            # escaping one (odd rank) must end a field or be doubled.
            opening = ((np.arange(len(q)) - np.repeat(q_lo, quotes)) & 1) == 0
            prev = a[np.maximum(q - 1, 0)]
            nxt = a[np.minimum(q + 1, len(a) - 1)]
            opening_ok = self._opens[prev] | (q == 0)
            closing_ok = self._closes[nxt] | (q + 1 == len(a))
            bad = np.where(opening, ~opening_ok, ~closing_ok)
            if bad.any():
                irregular[np.searchsorted(ends, q[bad])] = True
            irregular &= ~odd
            if len(d):
                fields -= self._delimiters_inside_quotes(a, q, d, starts, quotes, q_lo, d_lo, d_hi)

        # Lines too long to read are malformed (unless inside a record that starts before).
        long = length > MAX_LINE_BYTES

        # Records that need `csv`: odd quotes (spanning lines, or broken) and irregular quotes.
        special = np.flatnonzero((odd | irregular) & ~long)
        consumed = np.zeros(n, dtype=bool)
        limit = n
        good_special_lines: list[int] = []
        good_special_rows: list[list[str]] = []
        covered = -1
        for s in special.tolist():
            if s <= covered:
                continue
            try:
                row, used = self._read_record(buf, starts, ends, s, final)
            except _NeedMore:
                limit = s
                break
            except csv.Error as exc:
                self._bad(first_line + s, buf[starts[s] : content_end[s]], _csv_reason(exc))
                covered = s
                continue
            end = s + used - 1
            consumed[s : end + 1] = True
            covered = end
            if len(row) == self.ncols:
                good_special_lines.append(first_line + s)
                good_special_rows.append(row)
            else:
                self._bad(
                    first_line + s,
                    buf[starts[s] : content_end[end]],
                    _count_reason(self.ncols, len(row)),
                )
        consumed[special[special < limit]] = True
        for k in np.flatnonzero(long & ~consumed).tolist():
            if k >= limit:
                break
            self._bad(
                first_line + k,
                buf[starts[k] : content_end[k]],
                f"line longer than {MAX_LINE_BYTES:,} bytes ({int(length[k]):,})",
            )
        consumed |= long

        normal = ~blank & ~consumed
        normal[limit:] = False
        good = np.flatnonzero(normal & (fields == self.ncols))
        wrong = np.flatnonzero(normal & (fields != self.ncols))
        for k in wrong.tolist():
            self._bad(
                first_line + k,
                buf[starts[k] : content_end[k]],
                _count_reason(self.ncols, int(fields[k])),
            )

        tables: list[pa.Table] = []
        if len(good):
            tables.append(self._parse_good(buf, starts, ends, good, first_line))
        if good_special_rows:
            tables.append(self._rows_table(good_special_rows, good_special_lines))
        if len(tables) == 2:
            self.out.tables.append(pa.concat_tables(tables).sort_by("_line"))
        elif tables:
            self.out.tables.append(tables[0])

        if limit < n:
            return buf[starts[limit] :], first_line + limit
        return b"", first_line + n

    def _delimiters_inside_quotes(
        self,
        a: np.ndarray,
        q: np.ndarray,
        d: np.ndarray,
        starts: np.ndarray,
        quotes: np.ndarray,
        q_lo: np.ndarray,
        d_lo: np.ndarray,
        d_hi: np.ndarray,
    ) -> np.ndarray:
        """Per line, the delimiters preceded by an odd number of the line's quotes."""
        n = len(starts)
        if len(q) * DENSE_QUOTES < len(a):  # few quotes: only the delimiters of quoted lines
            quoted = np.flatnonzero(quotes > 0)
            di = _ranges(d_lo[quoted], d_hi[quoted])
            dline = np.repeat(quoted, d_hi[quoted] - d_lo[quoted])
            before = np.searchsorted(q, d[di]) - q_lo[dline]
            return np.bincount(dline[(before & 1) == 1], minlength=n)
        # Many quotes: running parity of quote bytes over the whole block.
        qbyte = a[q[0]]
        parity = np.bitwise_xor.accumulate((a == qbyte).view(np.uint8))
        line_parity = parity[starts] ^ (a[starts] == qbyte).view(np.uint8)  # before the line
        cum = np.concatenate([[0], np.cumsum(parity[d], dtype=np.int64)])
        ones = cum[d_hi] - cum[d_lo]
        return np.where(line_parity == 1, (d_hi - d_lo) - ones, ones)

    def _bad(self, line: int, payload: bytes, reason: str) -> None:
        self.out.bad_lines.append(line)
        text = payload[: 4 * MAX_LINE_BYTES].decode("utf-8", errors="replace")
        self.out.bad_payloads.append(shown_payload(text, len(payload)))
        self.out.bad_reasons.append(reason)

    def _names(self) -> list[str]:
        return [f"f{i}" for i in range(self.ncols)]

    def _rows_table(self, rows: list[list[str]], lines: list[int]) -> pa.Table:
        columns = {
            name: pa.array(_none_if_empty([r[i] for r in rows]), type=pa.string())
            for i, name in enumerate(self._names())
        }
        columns["_line"] = pa.array(lines, type=pa.int64())
        return pa.table(columns)

    def _parse_good(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, good: np.ndarray, first_line: int
    ) -> pa.Table:
        """The good single-line records, parsed by pyarrow (checked) or else by `csv`."""
        breaks = np.flatnonzero(np.diff(good) != 1)
        run_first = np.concatenate([good[:1], good[breaks + 1]])
        run_last = np.concatenate([good[breaks], good[-1:]])
        pieces = [buf[starts[f] : ends[t] + 1] for f, t in zip(run_first, run_last, strict=True)]
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        lines = pa.array(first_line + good, type=pa.int64())
        names = self._names()
        try:
            table = pcsv.read_csv(
                pa.py_buffer(data),
                read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 24),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.delimiter or ",",
                    quote_char=self.quotechar,
                    double_quote=True,
                    escape_char=False,
                    newlines_in_values=False,
                    ignore_empty_lines=True,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            if table.num_rows == len(good) and table.column_names == names:
                return table.append_column("_line", lines)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        # pyarrow disagreed with the scan (e.g. a bare carriage return): `csv` decides.
        rows = []
        lines = []
        for k in good.tolist():
            text = buf[starts[k] : ends[k] + 1].decode("utf-8")
            try:
                parsed = next(
                    csv.reader([text], delimiter=self.delimiter or ",", quotechar=self.quotechar),
                    [],
                )
            except csv.Error as exc:  # a bare carriage return inside an unquoted field
                self._bad(first_line + k, buf[starts[k] : ends[k]].rstrip(b"\r"), _csv_reason(exc))
                continue
            rows.append((parsed + [""] * self.ncols)[: self.ncols])
            lines.append(first_line + k)
        return self._rows_table(rows, lines)


def _line_bounds(buf: bytes, a: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (index of the b'\\n', or len(buf) for a last line without one)."""
    if a is None:
        a = np.frombuffer(buf, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    size = len(a)
    if size and a[-1] == 10:
        ends = nl
        starts = np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)
    else:
        ends = np.concatenate([nl, [size]]).astype(np.int64)
        starts = np.concatenate([[0], nl + 1]).astype(np.int64)
    return starts, ends


def _with_last(blocks: Iterator[TextBlock]) -> Iterator[tuple[TextBlock, bool]]:
    previous: TextBlock | None = None
    for block in blocks:
        if previous is not None:
            yield previous, False
        previous = block
    if previous is not None:
        yield previous, True


def _count_reason(expected: int, found: int) -> str:
    return f"expected {expected} field{'s' if expected != 1 else ''}, found {found}"


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    if "unexpected end of data" in message:
        return "broken quoting: unterminated quoted field"
    if "new-line character seen in unquoted field" in message:
        return "a bare carriage return (or line break) inside an unquoted field"
    if "field larger than field limit" in message:
        return f"a field longer than {MAX_LINE_BYTES:,} characters"
    return f"broken quoting: {message}"


def _clean_header(row: list[str]) -> list[str]:
    """Header names trimmed; empty names become column_<n>; repeats get a _<k> suffix."""
    return unique_names([raw.strip().lstrip("\ufeff") for raw in row])


def unique_names(row: list[str]) -> list[str]:
    """Empty names become column_<n>; exact repeats get a _<k> suffix (case is left to
    `naming.raw_names`, which names raw columns)."""
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(row):
        name = raw or f"column_{i + 1}"
        candidate, k = name, 2
        while candidate in seen:
            candidate = f"{name}_{k}"
            k += 1
        seen.add(candidate)
        names.append(candidate)
    return names

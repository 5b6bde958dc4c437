"""Delivering a source: injecting its defects and writing its files, with the ground truth.

A source is handed over as a `SourceTable`: text columns (Arrow strings, null = missing), the
person each row belongs to, the file each row goes to and the cell defects that make sense for
it. `inject_defects` picks the defect rows — at most one defect per row, about 0.5 % of rows —
and changes their cells; the writers then format the lines, replace the malformed ones, write
exact duplicate lines right after their original, and report the physical line of every defect
(CSV: the header is line 1; JSON Lines: the first object is line 1; SQL: no line).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.demo import text

QUARANTINE = "quarantine"
NULLED = "nulled"
EXACT_DUPLICATE = "exact_duplicate"
DUPLICATE_FILE = "duplicate_file"
MALFORMED_LINE = "malformed_line"
DEFECT_RATE = 0.005

BadValues = Callable[[np.random.Generator, int], list[str | None]]


@dataclass(frozen=True)
class CellDefect:
    """A bad value in one column, and what the platform is expected to do with the row."""

    column: str  # the source column changed
    field: str  # the canonical field it maps to
    rule: str  # the rule name the quality code records
    action: str  # quarantine | nulled
    values: BadValues
    eligible: str | None = None  # name of a row mask in `SourceTable.masks`


@dataclass
class SourceTable:
    """One source's rows before delivery."""

    name: str
    format: str  # csv | jsonl | sql
    columns: dict[str, pa.Array]  # in file order
    record_id: pa.Array  # the record id staging will give each row
    person: np.ndarray  # int64, -1 for rows of nobody known
    files: list[str]  # relative to the landing folder (sql: the database file)
    file_code: np.ndarray  # per row, non-decreasing
    defects: list[CellDefect] = field(default_factory=list)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    encodings: dict[str, str] = field(default_factory=dict)  # file → encoding (default UTF-8)
    numeric: frozenset[str] = frozenset()  # JSON Lines columns written as JSON numbers
    line_defects: bool = True  # malformed lines and exact duplicates (files only)
    identity: bool = True  # listed in identity.csv
    min_each: bool = True  # every defect kind at least once (False: one part of a source)
    sql_table: str = ""

    @property
    def n(self) -> int:
        return len(self.person)


@dataclass
class DefectLog:
    """Every injected defect, as rows of defects.csv."""

    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, **row: object) -> None:
        self.rows.append(row)


@dataclass
class Injected:
    """Rows chosen for defects: cell defects (row → defect index), malformed, duplicated."""

    cell_rows: np.ndarray
    cell_kind: np.ndarray
    malformed: np.ndarray
    duplicate: np.ndarray
    bad_values: list[str | None]


def _defect_counts(rng: np.random.Generator, n: int, kinds: int, min_each: bool) -> np.ndarray:
    """Rows per defect kind: about DEFECT_RATE of the rows, spread evenly over the kinds; with
    `min_each`, every kind at least once in a source of 40 rows or more."""
    if kinds == 0:
        return np.zeros(0, dtype=np.int64)
    total = round(n * DEFECT_RATE)
    if not min_each:
        return rng.multinomial(total, np.full(kinds, 1 / kinds))
    if n < 40:
        return np.zeros(kinds, dtype=np.int64)
    total = max(kinds, total)
    counts = np.full(kinds, total // kinds)
    counts[: total - counts.sum()] += 1
    return counts


def _choose(rng: np.random.Generator, pool: np.ndarray, used: np.ndarray, k: int) -> np.ndarray:
    free = pool[~used[pool]]
    if len(free) == 0 or k == 0:
        return np.zeros(0, dtype=np.int64)
    picked = rng.choice(free, size=min(k, len(free)), replace=False)
    used[picked] = True
    return np.sort(picked)


def inject_defects(rng: np.random.Generator, table: SourceTable) -> Injected:
    """Picks the defect rows (one defect per row) and writes the bad values into the cells."""
    n = table.n
    line_kinds = 2 if table.line_defects and table.format != "sql" else 0
    counts = _defect_counts(rng, n, len(table.defects) + line_kinds, table.min_each)
    used = np.zeros(n, dtype=bool)
    everything = np.arange(n)
    rows: list[np.ndarray] = []
    kind_of: list[np.ndarray] = []
    values: list[str | None] = []
    for k, defect in enumerate(table.defects):
        pool = (
            everything if defect.eligible is None else np.flatnonzero(table.masks[defect.eligible])
        )
        picked = _choose(rng, pool, used, int(counts[k]))
        bad = defect.values(rng, len(picked))
        table.columns[defect.column] = _set_cells(table.columns[defect.column], picked, bad)
        rows.append(picked)
        kind_of.append(np.full(len(picked), k))
        values.extend(bad)
    line_counts = counts[len(table.defects) :].tolist() + [0, 0]
    malformed = _choose(rng, everything, used, int(line_counts[0]))
    duplicate = _choose(rng, everything, used, int(line_counts[1]))
    cell_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    cell_kind = np.concatenate(kind_of) if kind_of else np.zeros(0, dtype=np.int64)
    return Injected(cell_rows, cell_kind, malformed, duplicate, values)


def _set_cells(column: pa.Array, rows: np.ndarray, values: list[str | None]) -> pa.Array:
    if not len(rows):
        return column
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True  # rows are sorted: the values go in row order
    return pc.replace_with_mask(column, pa.array(mask), pa.array(values, type=text.STRING))


# -- lines ---------------------------------------------------------------------------------------


def _csv_field(values: pa.Array) -> pa.Array:
    values = pc.fill_null(values, "")
    needs = pc.match_substring_regex(values, '[,"\\r\\n]')
    quoted = text.cat('"', pc.replace_substring(values, '"', '""'), '"')
    return pc.if_else(needs, quoted, values)


def csv_lines(columns: dict[str, pa.Array]) -> pa.Array:
    """RFC 4180 lines (comma, quotes only where needed, no line breaks inside values)."""
    return pc.binary_join_element_wise(*[_csv_field(v) for v in columns.values()], ",")


def _json_string(values: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return text.cat('"', escaped, '"')


def jsonl_lines(columns: dict[str, pa.Array], numeric: frozenset[str]) -> pa.Array:
    """One JSON object per row, every key in every object (a missing value is `null`), so
    that every file of the source has every mapped key."""
    pairs = []
    for name, values in columns.items():
        body = values if name in numeric else _json_string(values)
        pairs.append(text.cat(json.dumps(name) + ":", pc.fill_null(body, "null")))
    return text.cat("{", pc.binary_join_element_wise(*pairs, ","), "}")


def _broken(lines: np.ndarray, fmt: str) -> np.ndarray:
    """Malformed versions: CSV lines get one field too many, JSON objects are cut in half."""
    if fmt == "csv":
        return np.array([line + ",see note" for line in lines], dtype=object)
    return np.array([line[: max(5, len(line) // 2)] for line in lines], dtype=object)


# -- writing -------------------------------------------------------------------------------------


def _file_lines(
    table: SourceTable, lo: int, hi: int, injected: Injected
) -> tuple[list[str], np.ndarray]:
    """The file's lines (header included) and each row's physical line number."""
    columns = {name: values[lo:hi] for name, values in table.columns.items()}
    if table.format == "csv":
        body = csv_lines(columns)
        header = [",".join(table.columns)]
    else:
        body = jsonl_lines(columns, table.numeric)
        header = []
    lines = text.to_numpy(body)
    bad = injected.malformed[(injected.malformed >= lo) & (injected.malformed < hi)] - lo
    if len(bad):
        lines[bad] = _broken(lines[bad], table.format)
    repeat = np.ones(hi - lo, dtype=np.int64)
    dup = injected.duplicate[(injected.duplicate >= lo) & (injected.duplicate < hi)] - lo
    repeat[dup] = 2
    first_line = len(header) + 1 + np.concatenate([[0], np.cumsum(repeat)[:-1]])
    return header + np.repeat(lines, repeat).tolist(), first_line


def write_files(table: SourceTable, injected: Injected, landing: Path) -> np.ndarray:
    """Writes a file source; returns each row's physical line (duplicates: the copy's line)."""
    line_of = np.zeros(table.n, dtype=np.int64)
    bounds = np.searchsorted(table.file_code, np.arange(len(table.files) + 1))
    for code, name in enumerate(table.files):
        lo, hi = int(bounds[code]), int(bounds[code + 1])
        lines, first_line = _file_lines(table, lo, hi, injected)
        line_of[lo:hi] = first_line
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        encoding = table.encodings.get(name, "utf-8")
        payload = "\n".join(lines) + "\n" if lines else ""
        path.write_bytes(payload.encode(encoding))
    return line_of


def write_sql(table: SourceTable, landing: Path) -> None:
    """Writes the rows into a SQLite table (every column TEXT), replacing the database."""
    path = landing / table.files[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    names = list(table.columns)
    data = [text.to_numpy(table.columns[c]) for c in names]
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table.sql_table} ({', '.join(f'{c} TEXT' for c in names)})")
        conn.executemany(
            f"INSERT INTO {table.sql_table} VALUES ({', '.join('?' for _ in names)})",
            zip(*data, strict=True),
        )
    conn.close()


def duplicate_file(landing: Path, original: str, copy: str) -> None:
    """Delivers `original` a second time, byte for byte, as `copy`."""
    shutil.copyfile(landing / original, landing / copy)


def deliver(
    rng: np.random.Generator, table: SourceTable, landing: Path, log: DefectLog
) -> dict[str, int]:
    """Injects the source's defects, writes it and logs the defects; returns row counts."""
    _drop_empty_files(table)
    injected = inject_defects(rng, table)
    if table.format == "sql":
        write_sql(table, landing)
        line_of = None
    else:
        line_of = write_files(table, injected, landing)
    _log(table, injected, line_of, log)
    return {"rows": table.n + len(injected.duplicate), "defects": _defect_total(injected)}


def _drop_empty_files(table: SourceTable) -> None:
    """Files without rows are not delivered (an empty file is no delivery)."""
    used, code = np.unique(table.file_code, return_inverse=True)
    table.files = [table.files[i] for i in used]
    table.file_code = code.astype(np.int64)


def _defect_total(injected: Injected) -> int:
    return len(injected.cell_rows) + len(injected.malformed) + len(injected.duplicate)


def _log(
    table: SourceTable, injected: Injected, line_of: np.ndarray | None, log: DefectLog
) -> None:
    record_ids = table.record_id

    def base(row: int) -> dict[str, object]:
        file = table.files[int(table.file_code[row])]
        return {
            "source": table.name,
            "file": f"sql:{table.name}" if line_of is None else file,
            "line": "" if line_of is None else int(line_of[row]),
            "source_record_id": record_ids[row].as_py() or "",
        }

    for row, kind, value in zip(
        injected.cell_rows.tolist(), injected.cell_kind.tolist(), injected.bad_values, strict=True
    ):
        defect = table.defects[kind]
        log.add(
            **base(row),
            field=defect.field,
            rule=defect.rule,
            expected_action=defect.action,
            value="" if value is None else value,
        )
    for row in injected.malformed.tolist():
        log.add(
            **base(row),
            field="",
            rule=MALFORMED_LINE,
            expected_action=QUARANTINE,
            value="",
        )
    for row in injected.duplicate.tolist():
        entry = base(row)
        entry["line"] = int(line_of[row]) + 1 if line_of is not None else ""
        log.add(**entry, field="", rule=EXACT_DUPLICATE, expected_action=EXACT_DUPLICATE, value="")

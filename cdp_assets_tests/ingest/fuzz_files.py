"""Generated landed files for fuzzing the readers (tests and bench/fuzz_readers.py).

Each file is CSV, JSONL or parquet with what breaks readers: random bytes, quotes, CR/LF
mixes, legacy encodings and single non-UTF-8 lines, fields over `csv`'s limit, duplicate /
case-colliding / empty / NUL / lineage-like column names, ragged rows, growing JSONL keys.
`expected_records` counts, from the bytes alone, the records a file holds where that is known
without parsing (JSONL, CSV without quote characters): the accounting the readers must match.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.defs.ingestion.raw import ingest_into_warehouse
from cdp_assets.warehouse import Warehouse

NAMES = ["id", "email", "Email", "EMAIL", "", "na\x00me", "_line", "n" * 70, "Zoë", " id ", "x"]
PIECES = [
    "a",
    "b@x.com",
    ",",
    ";",
    '"',
    '""',
    "\r",
    "\n",
    "\r\n",
    "Zoë",
    "\x00",
    "\ufeff",
    " ",
    "1",
]
ENDINGS = ["\n", "\r\n", "\r"]
HUGE = 140_000  # over `csv`'s default field limit of 131,072 characters


def _field(rng: random.Random) -> str:
    if rng.random() < 0.01:
        return "h" * HUGE
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))


def _encode(text: str, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.6:
        return text.encode("utf-8")
    if roll < 0.75:  # one line in Latin-1 in an otherwise UTF-8 file
        lines = text.split("\n")
        k = rng.randrange(len(lines))
        return b"\n".join(
            line.encode("latin-1", "replace") if i == k else line.encode("utf-8")
            for i, line in enumerate(lines)
        )
    if roll < 0.85:
        return text.encode("cp1252", "replace")
    if roll < 0.9:
        return text.encode("utf-16")
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 5)):  # random bytes anywhere
        data.insert(rng.randint(0, len(data)), rng.randrange(256))
    return bytes(data)


def csv_file(rng: random.Random) -> bytes:
    header = [rng.choice(NAMES) for _ in range(rng.randint(1, 5))]
    lines = [",".join(header)]
    for _ in range(rng.randint(0, 12)):
        fields = [_field(rng) for _ in range(max(1, len(header) + rng.randint(-1, 1)))]
        if rng.random() < 0.5:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="").writerow(fields)
            lines.append(buffer.getvalue())
        else:
            lines.append(",".join(fields))
    ending = rng.choice(ENDINGS) if rng.random() < 0.2 else "\n"
    return _encode(ending.join(lines) + ending, rng)


def jsonl_file(rng: random.Random) -> bytes:
    lines = []
    for i in range(rng.randint(0, 12)):
        roll = rng.random()
        if roll < 0.1:
            lines.append(_field(rng))  # not JSON (or JSON that is not an object)
            continue
        keys = [rng.choice(NAMES) for _ in range(rng.randint(0, 4))]
        if roll < 0.3:
            keys.append(f"k{i}")  # a new key on each line
        obj = {k: rng.choice([_field(rng), 1, 2.5, True, None, [1, "a"], {"n": "v"}]) for k in keys}
        lines.append(json.dumps(obj, ensure_ascii=rng.random() < 0.5))
    return _encode("\n".join(lines) + ("\n" if lines else ""), rng)


def parquet_file(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))  # not parquet
    names = [rng.choice(NAMES) for _ in range(rng.randint(1, 4))]
    n = rng.randint(0, 8)
    arrays = [
        pa.array([_field(rng) if rng.random() < 0.8 else None for _ in range(n)]) for _ in names
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), buffer)
    return buffer.getvalue()


MAKERS = {"csv": csv_file, "jsonl": jsonl_file, "parquet": parquet_file}


@st.composite
def landed_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(format, bytes) of one generated file."""
    fmt = draw(st.sampled_from(sorted(MAKERS)))
    seed = draw(st.integers(0, 2**32 - 1))
    return fmt, MAKERS[fmt](random.Random(seed))


def expected_records(fmt: str, data: bytes) -> int | None:
    """Records in the file when countable from its bytes: JSONL non-blank lines; CSV
    non-blank lines but the header when no quote character, no bare CR and no UTF-16."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    data = data.removeprefix(b"\xef\xbb\xbf")  # the encoding's mark, not text of a line
    lines = [line for line in data.split(b"\n") if line.strip()]
    if fmt == "jsonl":
        return len(lines)
    if fmt == "csv" and b'"' not in data and b"\r" not in data.replace(b"\r\n", b""):
        return max(len(lines) - 1, 0)
    return None


def fuzz_config(tmp_path: Path) -> CDPConfig:
    """One source per format over `tmp_path/landing/<format>/`."""
    sources = [
        {
            "name": f"fuzz_{fmt}",
            "kind": "customers",
            "format": fmt,
            "path": f"{fmt}/*.{fmt}",
            "columns": {},  # a file lacking a mapped column is a config error, not fuzzed here
        }
        for fmt in sorted(MAKERS)
    ]
    return parse_config(
        {"landing_dir": "landing", "sources": sources},
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


@dataclass
class FuzzCounts:
    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    files_quarantined_whole: int = 0
    exact_duplicates: int = 0
    crashes: int = 0


def ingest_generated(
    tmp_path: Path, wh: Warehouse, config: CDPConfig, files: list[tuple[str, bytes]], batch: int
) -> FuzzCounts:
    """Lands `files`, runs the raw step of each format's source once, and checks every file's
    accounting (see the module docstring); the files are removed afterwards. Raises
    AssertionError on a broken account; any other exception is a crash."""
    counts = FuzzCounts(files=len(files))
    landed: dict[str, tuple[str, bytes]] = {}
    for i, (fmt, data) in enumerate(files):
        path = tmp_path / "landing" / fmt / f"b{batch:05d}_{i:04d}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        landed[path.relative_to(tmp_path / "landing").as_posix()] = (fmt, data)
    at = pd.Timestamp("2026-01-01T00:00:00Z") + pd.Timedelta(seconds=batch)
    try:
        for source in config.sources:
            result, check, _ = ingest_into_warehouse(wh, source, config, f"b{batch}", at)
            assert check.passed, (source.name, check.metadata)
            ledger = result.ledger
            assert (
                ledger["rows_read"]
                == ledger["rows_loaded"] + ledger["rows_quarantined"] + ledger["exact_duplicates"]
            ).all()
            whole = set(
                result.quarantine.loc[result.quarantine["rule"] == "unreadable_file", "file"]
            )
            for row in ledger.itertuples():
                fmt, data = landed[row.file]
                expected = 1 if row.file in whole else expected_records(fmt, data)
                if row.status == "ingested" and expected is not None:
                    assert row.rows_read == expected, (
                        row.file,
                        row.rows_read,
                        expected,
                        data[:300],
                    )
            counts.rows_read += int(ledger["rows_read"].sum())
            counts.rows_loaded += int(ledger["rows_loaded"].sum())
            counts.rows_quarantined += int(ledger["rows_quarantined"].sum())
            counts.exact_duplicates += int(ledger["exact_duplicates"].sum())
            counts.files_quarantined_whole += len(whole)
    finally:
        for name in landed:
            (tmp_path / "landing" / name).unlink()
    return counts

"""Limits that keep one bad line from stopping a source: how long a line may be, how much of
a quarantined line is kept, how many columns a source may grow to (see README, Ingestion)."""

from __future__ import annotations

# A physical line (CSV) or record (JSONL) longer than this is quarantined unread: customer
# data has no field near 1 MiB, and a 34 MiB line is a broken export, not a record.
MAX_LINE_BYTES = 1 << 20
# The text of a quarantined line kept in ops.quarantine.raw_payload (the rest is cut and the
# full size said): enough to see what went wrong without copying a 34 MiB line.
MAX_PAYLOAD_CHARS = 64 << 10
# Distinct source columns (CSV header names, JSONL keys) a source may have in raw.<source>.
# PostgreSQL allows 1,600 columns per table; real sources have tens. Mapped columns are always
# kept; a row carrying a value in a column beyond the limit is quarantined.
MAX_SOURCE_COLUMNS = 1_000


def shown_payload(text: str, size: int | None = None) -> str:
    """`text` as kept in raw_payload: cut at MAX_PAYLOAD_CHARS, saying the full size."""
    if len(text) <= MAX_PAYLOAD_CHARS:
        return text
    total = f"{size:,} bytes" if size is not None else f"{len(text):,} characters"
    return text[:MAX_PAYLOAD_CHARS] + f"… [cut: {total} in all]"

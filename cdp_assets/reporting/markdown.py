"""Frames rendered as markdown tables for asset metadata, with personal data masked."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

# Free-text scanning: at each position the alternatives are tried in order, so an email is
# recognised before the word it starts with, and dates, timestamps and identifiers holding a
# letter (SKU-1190, A0003472, 20261130T095930-70969aa3) are consumed whole — their digits are
# never read as a phone number.
_LOCAL_PART = r"[^\s@'\"`<>(),;:|\[\]\\]+"
_DOMAIN = r"[^\s@'\"`<>(),;:|\[\]\\]*"
_PII_TEXT = re.compile(
    rf"(?P<email>{_LOCAL_PART}@{_DOMAIN})"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)"
    r"|(?P<word>\d*[^\W\d]\w*)"
    # A phone: digits with single spaces, dots, dashes or parentheses between them, not glued
    # to a word, a sign, a path or a time before it, nor to a word, a decimal or a time after it.
    r"|(?P<phone>(?<![\w+/-])(?<!\d:)\+?\(?\d(?:[ ().-]{0,2}\d)+)(?!\w|[.,:]\d)"
)
_DECIMAL = re.compile(r"^\d+\.\d+$")
PHONE_DIGITS = (9, 15)  # digits in a run that is masked as a phone number


def _mask_phone(text: str) -> str:
    return text[:3] + "*" * max(len(text) - 5, 1) + text[-2:]


def _mask_email(text: str) -> str:
    local, _, domain = text.partition("@")
    trailing = len(domain) - len(domain.rstrip("."))  # the full stop ending a sentence
    domain = domain[: len(domain) - trailing]
    return f"{local[:1]}***@{domain}" + "." * trailing


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("email") is not None:
        return _mask_email(text)
    if match.group("phone") is not None:
        digits = sum(c.isdigit() for c in text)
        low, high = PHONE_DIGITS
        if low <= digits <= high and not _DECIMAL.match(text):
            return _mask_phone(text)
    return text


def mask_pii_text(text: str) -> str:
    """Every email address and phone number in free text masked, the way `mask_value` masks
    a value (`jane.doe@x.com` → `j***@x.com`, `+44 7700 900123` → `+44**********23`); dates,
    timestamps, decimals, counts and identifiers stay as they are."""
    if not text or ("@" not in text and not any(c.isdigit() for c in text)):
        return text
    return _PII_TEXT.sub(_mask_match, text)


def _cell(value: object, mask_pii: bool = True) -> str:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return ""
    text = str(value)
    if mask_pii:
        text = mask_pii_text(text)  # before truncation: a cut address is still an address
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def markdown_table(df: pd.DataFrame, max_rows: int = 20, mask_pii: bool = True) -> str:
    """A markdown table of the first `max_rows` rows; emails and phone numbers in any cell
    (or column name) are masked unless `mask_pii` is False."""
    if df.empty:
        return "_no rows_"
    head = df.head(max_rows)
    lines = [
        "| " + " | ".join(_cell(c, mask_pii) for c in head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    for row in head.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, mask_pii) for v in row) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows:,} more rows_")
    return "\n".join(lines)


def mask_value(value: object) -> object:
    """Keep the shape of a personal value, hide the rest: `jane@x.com` → `j***@x.com`."""
    if value is None or pd.isna(value):
        return value
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(text) <= 2:
        return "*" * len(text)
    if text.startswith("+") or text.replace(" ", "").isdigit():
        return text[:3] + "*" * max(len(text) - 5, 1) + text[-2:]
    return text[:1] + "***"


def masked_preview(df: pd.DataFrame, pii_columns: Iterable[str], max_rows: int = 10) -> str:
    """A markdown preview with personal-data columns masked and lineage columns left out."""
    head = df.head(max_rows).copy()
    for column in pii_columns:
        if column in head.columns:
            head[column] = head[column].map(mask_value).astype("object")
    visible = [c for c in head.columns if not str(c).startswith("_") and c != "attributes"]
    return markdown_table(head[visible], max_rows=max_rows)


def counts_table(counts: pd.Series, key: str, value: str = "rows") -> str:
    """A markdown table of a value-counts series, largest first."""
    if counts.empty:
        return "_none_"
    frame = counts.sort_values(ascending=False).rename(value).reset_index()
    frame.columns = [*([key] if isinstance(key, str) else key), value]
    return markdown_table(frame, max_rows=50)

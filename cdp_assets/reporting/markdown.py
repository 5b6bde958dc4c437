"""Frames rendered as markdown tables for asset metadata, with personal data masked."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return ""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def markdown_table(df: pd.DataFrame, max_rows: int = 20) -> str:
    """A markdown table of the first `max_rows` rows."""
    if df.empty:
        return "_no rows_"
    head = df.head(max_rows)
    lines = [
        "| " + " | ".join(_cell(c) for c in head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    for row in head.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
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

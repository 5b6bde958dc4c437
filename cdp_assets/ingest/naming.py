"""Names of source columns in `raw.<source>`: clear of the lineage columns' `_` prefix."""

from __future__ import annotations

LINEAGE_PREFIX = "_"
COLLISION_PREFIX = "src_"


def raw_column_name(name: str) -> str:
    """A source column's name in raw tables: names starting with '_' (the lineage columns'
    prefix, e.g. a source column `_line`) are kept with a `src_` prefix (`src__line`)."""
    return COLLISION_PREFIX + name if name.startswith(LINEAGE_PREFIX) else name


def raw_names(columns: list[str]) -> dict[str, str]:
    """Source column → raw column name, unique within the file."""
    renamed: dict[str, str] = {}
    taken = {c for c in columns if not c.startswith(LINEAGE_PREFIX)}
    for column in columns:
        if not column.startswith(LINEAGE_PREFIX):
            renamed[column] = column
            continue
        candidate, k = raw_column_name(column), 2
        while candidate in taken:
            candidate = f"{raw_column_name(column)}_{k}"
            k += 1
        taken.add(candidate)
        renamed[column] = candidate
    return renamed

"""Names of source columns in `raw.<source>`: names both warehouses store as they are.

A raw column name is clear of the lineage columns' `_` prefix, holds no control character
(a NUL would cut the name short in the database), fits PostgreSQL's 63-byte identifiers, and is
unique ignoring case (DuckDB compares names case-insensitively): `id,email,Email` gives
`id`, `email`, `Email_2`. A name that differs only in case from a column the source already
has (a later file writing `EMAIL`) is read into that column.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

LINEAGE_PREFIX = "_"
COLLISION_PREFIX = "src_"
MAX_NAME_BYTES = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1); longer names are cut
_REPLACEMENT = "\ufffd"


def _fit(name: str, suffix: str = "") -> str:
    """`name` cut (at a character boundary) so that name + suffix fits MAX_NAME_BYTES."""
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    encoded = name.encode("utf-8")
    if len(encoded) > room:
        name = encoded[:room].decode("utf-8", errors="ignore")
    return name + suffix


def _clean(name: str) -> str:
    """Control characters (NUL, tab, line ends) shown as U+FFFD, never dropped."""
    if name.isprintable():
        return name
    return "".join(_REPLACEMENT if unicodedata.category(c) == "Cc" else c for c in name)


def raw_column_name(name: str) -> str:
    """A source column's name in raw tables: names starting with '_' (the lineage columns'
    prefix, e.g. a source column `_line`) are kept with a `src_` prefix (`src__line`);
    control characters become U+FFFD; the name is cut to 63 UTF-8 bytes."""
    name = _clean(name)
    return _fit(COLLISION_PREFIX + name if name.startswith(LINEAGE_PREFIX) else name)


def fold(name: str) -> str:
    """The key under which two column names are the same column (case ignored)."""
    return name.casefold()


def raw_names(columns: list[str], known: Iterable[str] = ()) -> dict[str, str]:
    """Source column → raw column name, unique ignoring case within the file.

    `known`: raw columns the source already has (or maps), in order of preference; a column
    equal to one of them ignoring case takes that spelling. Names kept as they are win over
    renamed ones: a name already known exactly, then a name without the `_` prefix, then
    file order. An empty name becomes `column_<position>`.
    """
    spelled: dict[str, str] = {}
    for name in known:
        spelled.setdefault(fold(name), name)
    bases = [raw_column_name(c) if c else f"column_{i + 1}" for i, c in enumerate(columns)]

    def priority(i: int) -> tuple[bool, bool, int]:
        exact = spelled.get(fold(bases[i])) == bases[i]
        return (not exact, columns[i].startswith(LINEAGE_PREFIX), i)

    renamed: dict[str, str] = {}
    taken: set[str] = set()
    for i in sorted(range(len(columns)), key=priority):
        base = bases[i]
        candidate, k = spelled.get(fold(base), base), 2
        while fold(candidate) in taken:
            candidate = _fit(base, f"_{k}")
            candidate = spelled.get(fold(candidate), candidate)
            k += 1
        taken.add(fold(candidate))
        renamed[columns[i]] = candidate
    return {c: renamed[c] for c in columns}

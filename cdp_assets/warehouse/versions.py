"""Versions of what a step reads, so a step whose inputs did not change can say so in one query.

Every transaction that writes a table gives it a new random version in `ops.data_versions`
(`record_table_versions`, committed with the write). A step that is a function of its inputs
(the tables of its upstream assets, the configuration, the code and the analysis date) records,
when it has run, the fingerprint of those inputs under its own name (`asset:<key>`); the next
time, an equal fingerprint means it would compute what it already wrote. The fingerprint of a
step is also the version downstream steps read for it, which covers outputs that are files.

Pure SQL and hashing, no Dagster: `cdp_assets.defs.unchanged` wires it into the assets.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cdp_assets.warehouse.warehouse import (
    DATA_VERSIONS_SCHEMA,
    DATA_VERSIONS_TABLE,
    TableRef,
    WarehouseSession,
    set_data_version,
)

DATA_VERSIONS = TableRef(DATA_VERSIONS_SCHEMA, DATA_VERSIONS_TABLE)
PACKAGE = Path(__file__).resolve().parents[1]


def table_name(ref: TableRef) -> str:
    return f"table:{ref}"


def asset_name(key_path: Iterable[str]) -> str:
    return "asset:" + "/".join(key_path)


def read_versions(
    session: WarehouseSession, names: Iterable[str], additions: bool = False
) -> dict[str, str]:
    """The recorded version of each name that has one (names without one are left out).
    `additions`: for tables, the version that only writes which may add or change rows move
    (deleting rows leaves it), see `record_table_versions`."""
    found = _read_ledger(session, names)
    if not additions:
        return {name: version for name, (version, _, _) in found.items()}
    return {
        name: added if name.startswith("table:") else version
        for name, (version, _, added) in found.items()
        if added is not None or not name.startswith("table:")
    }


def recorded_inputs(session: WarehouseSession, name: str) -> dict[str, Any]:
    """What the step `name` last recorded its version from (empty when unknown)."""
    found = _read_ledger(session, [name]).get(name)
    return json.loads(found[1]) if found and found[1] else {}


def _read_ledger(
    session: WarehouseSession, names: Iterable[str]
) -> dict[str, tuple[str, str | None, str | None]]:
    wanted = sorted(set(names))
    if not wanted or not session.table_exists(DATA_VERSIONS):
        return {}
    rows = session.conn.execute(
        sa.text(
            f"SELECT name, version, inputs, additions FROM {DATA_VERSIONS.sql} WHERE name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"names": wanted},
    )
    return {name: (version, inputs, added) for name, version, inputs, added in rows}


def existing_tables(session: WarehouseSession, schemas: Iterable[str]) -> set[TableRef]:
    """The tables of `schemas` in the warehouse, work tables (`_…`) left out."""
    return {ref for ref in session.tables_in(schemas) if not ref.table.startswith("_")}


def record_version(session: WarehouseSession, name: str, parts: Mapping[str, Any]) -> str:
    """Record the fingerprint of `parts` as the version of step `name` (see the module's doc),
    with the parts themselves (`recorded_inputs`); returns the fingerprint."""
    version = fingerprint(parts)
    set_data_version(session, name, version, canonical_json(parts))
    return version


def changed_inputs(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The names of the parts that differ between two sets of a step's inputs (an upstream
    asset by its key; `as_of`, `config`, `code`), sorted."""
    changed = []
    for part in sorted(set(previous) | set(current)):
        old, new = previous.get(part), current.get(part)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif old != new:
            changed.append(part)
    return changed


def canonical_json(parts: Mapping[str, Any]) -> str:
    return json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A SHA-256 of `parts` as canonical JSON (keys sorted; values as strings)."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """A SHA-256 of the package's Python sources: a step last run by other code runs again."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


CONTENT_PREFIX = "content:"  # `ops.data_versions` rows of `ContentMemo`


@dataclass
class ContentMemo:
    """Values of a function of a table's rows (a digest of them, say), kept under the table's
    version: `value` takes the one recorded for the table's current version, or computes it.
    Every write of a table gives it a new version (`record_table_versions`), so a recorded
    value is the one the function would give now; a table without a version (written outside
    the warehouse's transactions) is computed every time. What was computed is recorded only
    by `record`, in the caller's own write transaction: a step that fails leaves nothing.
    `purpose` names the function, so that two functions of one table keep apart."""

    purpose: str
    pending: dict[str, tuple[str, Any]] = field(default_factory=dict)  # name -> version, value

    def value(self, session: WarehouseSession, ref: TableRef, compute: Callable[[], Any]) -> Any:
        table = table_name(ref)
        name = f"{CONTENT_PREFIX}{self.purpose}:{ref}"
        found = _read_ledger(session, [table, name])
        version = found[table][0] if table in found else None
        if version is not None and name in found and found[name][0] == version:
            recorded = found[name][1]
            if recorded:
                return json.loads(recorded)
        value = compute()
        if version is not None:
            self.pending[name] = (version, value)
        return value

    def record(self, session: WarehouseSession) -> None:
        for name, (version, value) in self.pending.items():
            set_data_version(session, name, version, json.dumps(value, sort_keys=True))
        self.pending.clear()

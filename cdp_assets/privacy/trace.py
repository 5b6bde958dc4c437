"""The proof that erased people are gone: every identifier value in every table (and in the
export files) is hashed with the privacy salt and compared with the suppression list."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa

from cdp_assets.activation.export_files import read_export_file
from cdp_assets.config import CDPConfig
from cdp_assets.privacy.candidates import CandidateFilter
from cdp_assets.privacy.export_trace_cache import remembered_scans
from cdp_assets.privacy.file_checksums import file_checksum
from cdp_assets.privacy.identifiers import Identifiers, hash_matches, matches, named_values
from cdp_assets.privacy.tables import (
    LAYERS,
    TableValues,
    batch_column,
    each_table,
    personal_tables,
    rows_outside,
    table_values,
)
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame
from cdp_assets.warehouse.versions import read_versions
from cdp_assets.warehouse.warehouse import REWRITES_PREFIX, quote_ident, set_data_version

if TYPE_CHECKING:
    from cdp_assets.privacy.erasure import CandidatesLeft

EXPORT_SUFFIXES = (".csv", ".parquet")


def warehouse_traces(
    session: WarehouseSession,
    config: CDPConfig,
    salt: bytes,
    suppressed: frozenset[str],
    layers: tuple[str, ...] = LAYERS,
) -> pd.DataFrame:
    """Per table of `layers` that may hold personal data: rows scanned and rows naming a
    suppressed identifier (`traces`)."""
    rows = []
    if not suppressed:  # nothing was ever erased: nothing to look for
        return pd.DataFrame(rows, columns=["table", "rows", "traces"])
    for table in each_table(session, config, layers):
        found = hash_matches(table.values, salt, suppressed, table.index)
        rows.append({"table": str(table.ref), "rows": len(table.keys), "traces": int(found.sum())})
    return pd.DataFrame(rows, columns=["table", "rows", "traces"])


def export_traces(root: Path, salt: bytes, suppressed: frozenset[str]) -> pd.DataFrame:
    """Per export data file under `root`: rows and rows naming a suppressed identifier."""
    rows = []
    if root.exists() and suppressed:
        for path in sorted(p for p in root.rglob("*") if p.suffix in EXPORT_SUFFIXES):
            if path.name.startswith("."):
                continue  # a temporary file being written
            frame = read_export_file(path)
            found = hash_matches(named_values(frame), salt, suppressed, frame.index)
            rows.append(
                {
                    "table": str(path.relative_to(root)),
                    "rows": len(frame),
                    "traces": int(found.sum()),
                }
            )
    return pd.DataFrame(rows, columns=["table", "rows", "traces"])


# --------------------------------------------------------------------------- the ledger
#
# A full scan reads and hashes every identifier value of every table: linear in the warehouse.
# The ledger records, per table, the checksum of its content when a scan found it clean, and
# the fingerprint of what it was checked against (the suppression list, the sources' config,
# the readers' version). A table whose checksum and fingerprint are unchanged since is clean
# still: it is not read again. After an erasure the suppression list grows by the hashes of
# the people just erased, whose identifiers the run knows in clear: a table that was clean
# before the run and changed only by the run's deletions is searched for those identifiers
# only (the rows that may hold one are selected in the warehouse, then hashed).
#
# Tables written batch by batch (raw and staged sources, the quarantine, the field issues)
# grow by new batches between two checks: a night's ingestion and staging append the rows of
# new batches, and retention and erasure delete rows. For them the check also records which
# batches it proved clean (`ops.erasure_trace_batches`), with the table's `rewrites:` version
# (which moves only when rows already in the table may have changed, see
# `WarehouseSession.mark_changed`) and its columns. A table whose list, rewrites version and
# columns are those of its proof is searched only in the rows of batches not proved yet
# (`rows_outside`), and, when the run's own erasure grew the list, for the identifiers just
# erased among the others. Anything else — a new table, changed columns, rewritten rows, a
# list grown by anything but the run's erasure — is scanned in full.

LEDGER = TableRef("ops", "erasure_trace_ledger")
LEDGER_DTYPES: dict[str, str] = {
    "table_name": "string",
    "content_checksum": "string",
    "checked_against": "string",
}  # no time: the same state gives the same ledger (a rerun equals an uninterrupted run)
# Bump when the readers change what they find: every table is then scanned in full again.
READERS_VERSION = "1"
REBUILT = "rebuilt"  # the checksum recorded for a table of a rebuilt layer (not taken)
# The checksum recorded for a raw or staged source table that its batch proof covers (not
# taken: its check reads the rows of the batches not proved yet, see `checksums`).
BATCH_PROVED = "batch-proved"
# Per table written batch by batch and found clean: the list it was proved against, its
# `rewrites:` version and columns then, and one row per batch proved (batch_id null: the row
# that says the table has a proof, with no batch or more).
BATCHES = TableRef("ops", "erasure_trace_batches")
BATCHES_DTYPES: dict[str, str] = {
    "table_name": "string",
    "checked_against": "string",
    "rewrites": "string",
    "columns": "string",
    "batch_id": "string",
}


@dataclass(frozen=True)
class BatchProof:
    """The batches of a table proved clean against the list of `fingerprint`, while the
    table had the `rewrites` version and the columns of digest `columns`."""

    fingerprint: str
    rewrites: str
    columns: str
    batches: frozenset[str]


def columns_digest(columns: list[str]) -> str:
    return hashlib.sha256("\x1f".join(columns).encode()).hexdigest()[:16]


def read_batch_proofs(session: WarehouseSession) -> dict[str, BatchProof]:
    if not session.table_exists(BATCHES):
        return {}
    frame = session.read_table(BATCHES, dtypes=BATCHES_DTYPES)
    proofs: dict[str, BatchProof] = {}
    for name, rows in frame.groupby("table_name", sort=True):
        first = rows.iloc[0]
        batches = frozenset(str(b) for b in rows["batch_id"].dropna())
        proofs[str(name)] = BatchProof(
            str(first["checked_against"]), str(first["rewrites"]), str(first["columns"]), batches
        )
    return proofs


def write_batch_proofs(session: WarehouseSession, proofs: dict[str, BatchProof]) -> None:
    rows = []
    for name, proof in sorted(proofs.items()):
        head = (name, proof.fingerprint, proof.rewrites, proof.columns)
        rows.append((*head, None))
        rows += [(*head, b) for b in sorted(proof.batches)]
    frame = pd.DataFrame(rows, columns=list(BATCHES_DTYPES))
    session.replace_table(BATCHES, coerce_frame(frame, BATCHES_DTYPES))


def rewrite_versions(session: WarehouseSession, refs: list[TableRef]) -> dict[str, str]:
    """Each table's `rewrites:` version; a table without one (never rewritten since the
    versions ledger knew it, or older than that version) is given one now, before anything is
    read, so that a rewrite after this point moves it."""
    names = {f"{REWRITES_PREFIX}{ref}": str(ref) for ref in refs}
    found = read_versions(session, names)
    for name in sorted(set(names) - set(found)):
        found[name] = uuid.uuid4().hex
        set_data_version(session, name, found[name])
    return {names[n]: v for n, v in found.items() if n in names}


def check_fingerprint(config: CDPConfig, suppressed: frozenset[str]) -> str:
    """What a clean scan was made against: the suppression list, the sources (columns and
    regions decide how values are read) and the readers' version."""
    digest = hashlib.sha256(READERS_VERSION.encode() + b"\x1f")
    digest.update(config.default_country.encode() + b"\x1f")
    sources = [s.model_dump(mode="json") for s in config.sources]
    digest.update(json.dumps(sources, sort_keys=True, default=str).encode() + b"\x1f")
    for value in sorted(suppressed):
        digest.update(value.encode("ascii") + b"\n")
    return digest.hexdigest()[:32]


def table_checksum(session: WarehouseSession, ref: TableRef) -> str:
    """Rows and an order-independent checksum of every column, computed in the warehouse."""
    columns = ", ".join(quote_ident(c) for c in session.columns(ref))
    if session.dialect == "postgresql":
        row = f"hashtextextended(CAST(ROW({columns}) AS text), 0)"
    else:
        row = f"hash({columns})"
    found = session.conn.execute(
        sa.text(f"SELECT COUNT(*), CAST(SUM({row}) AS VARCHAR) FROM {ref.sql}")
    ).one()
    return f"{int(found[0])}:{found[1] or 0}"


def checksums(
    session: WarehouseSession,
    layers: tuple[str, ...],
    config: CDPConfig | None = None,
    suppressed: frozenset[str] | None = None,
) -> dict[str, str]:
    """The checksum of every personal table of `layers`. With `config` and the list
    `suppressed`, a raw or staged source table whose batch proof holds against that list is
    left out: hashing every row of the largest tables each night would cost more than the
    check it saves, since `verified_traces` then reads only the rows of batches not proved
    yet — none when nothing was added — which finds whatever a changed checksum would have."""
    tables = [ref for ref in personal_tables(session) if ref.schema in layers]
    covered = _batch_proved(session, config, tables, suppressed) if config and suppressed else set()
    return {str(ref): table_checksum(session, ref) for ref in tables if str(ref) not in covered}


def _batch_proved(
    session: WarehouseSession,
    config: CDPConfig,
    tables: list[TableRef],
    suppressed: frozenset[str],
) -> set[str]:
    """The raw and staged source tables of `tables` whose batch proof holds against the list
    `suppressed` (see `_proof_holds`)."""
    sources = [ref for ref in tables if ref.schema in ("raw", "staging")]
    shapes = {str(ref): session.columns(ref) for ref in sources}
    batched = [r for r in sources if batch_column(config, r, shapes[str(r)]) is not None]
    if not batched:
        return set()
    ledger, proofs = read_ledger(session), read_batch_proofs(session)
    was = check_fingerprint(config, suppressed)
    rewrites = rewrite_versions(session, batched)
    return {
        str(ref)
        for ref in batched
        if _proof_holds(
            proofs.get(str(ref)),
            ledger.get(str(ref)),
            was,
            rewrites[str(ref)],
            columns_digest(shapes[str(ref)]),
        )
    }


def _proof_holds(
    proof: BatchProof | None,
    entry: tuple[str, str] | None,
    was: str,
    rewrites: str | None,
    digest: str,
) -> bool:
    """A table's batch proof still stands for the batches it lists: made against the list of
    fingerprint `was`, no row rewritten since (`rewrites`), the same columns."""
    return (
        proof is not None
        and entry is not None
        and entry[1] == was
        and proof.fingerprint == was
        and proof.rewrites == rewrites
        and proof.columns == digest
    )


def read_ledger(session: WarehouseSession) -> dict[str, tuple[str, str]]:
    """table → (content checksum, fingerprint it was found clean against)."""
    if not session.table_exists(LEDGER):
        return {}
    frame = session.read_table(LEDGER, dtypes=LEDGER_DTYPES)
    return {
        str(t): (str(c), str(f))
        for t, c, f in zip(
            frame["table_name"], frame["content_checksum"], frame["checked_against"], strict=True
        )
    }


def write_ledger(session: WarehouseSession, ledger: dict[str, tuple[str, str]]) -> None:
    frame = pd.DataFrame(
        [(t, c, f) for t, (c, f) in sorted(ledger.items())], columns=list(LEDGER_DTYPES)
    )
    session.replace_table(LEDGER, coerce_frame(frame, LEDGER_DTYPES))


def _checksum_now(
    session: WarehouseSession,
    ref: TableRef,
    before: dict[str, str],
    changed_by_run: set[str],
    rebuilt_layers: tuple[str, ...],
) -> str:
    """The checksum the ledger records for a table found clean: the one taken at the start of
    the run when the run did not change it; none for a rebuilt layer (its verdict holds by the
    list alone)."""
    name = str(ref)
    if ref.schema in rebuilt_layers:
        return REBUILT
    if name in before and name not in changed_by_run:
        return before[name]
    return table_checksum(session, ref)


def verified_traces(
    session: WarehouseSession,
    config: CDPConfig,
    salt: bytes,
    suppressed: frozenset[str],
    layers: tuple[str, ...],
    before: dict[str, str],
    suppressed_before: frozenset[str],
    erased_now: Identifiers,
    changed_by_run: set[str],
    rebuilt_layers: tuple[str, ...] = (),
    left: CandidatesLeft | None = None,
    batch_proved: bool = False,
) -> pd.DataFrame:
    """The trace check with the ledger (see above). `before`: the tables' checksums at the
    start of the run and `suppressed_before` the list then; `erased_now`: the identifiers the
    run erased (in clear, never stored); `changed_by_run`: the tables the run deleted rows
    from. Records in the ledger every table found clean. Returns, per table of `layers` that
    may hold personal data: rows, rows read, traces and how it was scanned (`unchanged`:
    skipped, clean since the last check; `erased_now`: searched for the identifiers just
    erased; `new_batches`: the rows of batches not proved clean yet read in full, the others
    searched for the identifiers just erased when the run erased anyone; `full`).

    `rebuilt_layers`: layers whose tables are only ever rebuilt from layers this check
    guards before they may be rebuilt (core and after wait for it): a table of theirs found
    clean against the list before the run stays clean against it whatever its checksum —
    what the nightly check, which scans the intake layers only, already relies on.

    `left`: the candidate rows the run's deletion read and kept (`CandidatesLeft`); where a
    table was written by no other transaction since, the search for the people just erased
    hashes those instead of selecting its rows again.

    `batch_proved`: `before` came from `checksums` with the list (proved source tables left
    out); every raw or staged source table whose batch proof is written then records
    `BATCH_PROVED` in the ledger, whatever path checked it, so that a run and a re-run after
    an interruption leave the same ledger."""
    columns = ["table", "rows", "rows_read", "traces", "scan"]
    if not suppressed:  # nothing was ever erased: nothing to look for
        return pd.DataFrame([], columns=columns)
    ledger = read_ledger(session)
    was = check_fingerprint(config, suppressed_before)
    now = check_fingerprint(config, suppressed)
    # Only the run's own erasure may have grown the list for the narrow search to prove it.
    added = suppressed - suppressed_before
    own = set(erased_now.hashes(salt)["identifier_hash"]) if added else set()
    narrow = CandidateFilter(erased_now, session.dialect) if added <= own else None
    tables = [ref for ref in personal_tables(session) if ref.schema in layers]
    shapes = {str(ref): session.columns(ref) for ref in tables}
    batched = {
        str(ref): column
        for ref in tables
        if (column := batch_column(config, ref, shapes[str(ref)])) is not None
    }
    # Read before any row is: a rewrite committed after this moves them.
    rewrites = rewrite_versions(session, [r for r in tables if str(r) in batched])
    proofs = read_batch_proofs(session)
    searched = _still_searched(session, left, narrow)

    def erased_now_rows(ref: TableRef) -> TableValues | None:
        """The rows that may hold an identifier just erased (`narrow` not empty)."""
        assert narrow is not None
        if str(ref) in searched:
            return searched[str(ref)]
        return table_values(session, config, ref, narrow)

    proved: dict[str, BatchProof] = {}
    rows = []
    for ref in tables:
        name = str(ref)
        # Against an empty list every table is clean.
        entry = ledger.get(name)
        clean_before = (
            not suppressed_before
            or (name in before and entry == (before[name], was))
            or (ref.schema in rebuilt_layers and entry is not None and entry[1] == was)
        )
        proof = proofs.get(name)
        digest = columns_digest(shapes[name])
        proof_holds = name in batched and _proof_holds(
            proof, entry, was, rewrites.get(name), digest
        )
        kept = proof if proof_holds else None  # the batches proved, still proved
        if clean_before and not added and name not in changed_by_run and name in before:
            count = int(before[name].split(":")[0])
            rows.append(
                {"table": name, "rows": count, "rows_read": 0, "traces": 0, "scan": "unchanged"}
            )
            if kept is None and name in batched and proof is not None and entry is not None:
                kept = _reanchored(session, ref, proof, entry, was, digest, rewrites[name])
            if kept is not None:
                proved[name] = kept
            continue
        found, read = 0, 0
        if proof_holds and not clean_before and (not added or narrow is not None):
            # Clean against the list before the run but for the batches not proved yet.
            assert kept is not None
            scope = rows_outside(ref, batched[name], BATCHES, name)
            table = table_values(session, config, ref, scope=scope)
            batches = set(kept.batches)
            if table is not None and len(table.keys):
                found += _traces(table, salt, suppressed)
                read += len(table.keys)
                batches |= _batches_of(table, batched[name])
            if added and narrow is not None and not narrow.empty:
                older = erased_now_rows(ref)
                if older is not None and len(older.keys):
                    found += _traces(older, salt, suppressed)
                    read += len(older.keys)
            scan, total = "new_batches", session.row_count(ref)
            kept = BatchProof(now, kept.rewrites, digest, frozenset(batches))
        elif clean_before and narrow is not None:
            # Clean against the list before the run, and changed only by its deletions.
            if kept is None and not suppressed_before and name in batched:
                # Against an empty list every row was clean: the batches there now (listed
                # before the search, which then covers every row of theirs) are proved
                # once the search finds none of the people just erased.
                present = _batches_present(session, ref, batched[name])
                kept = BatchProof(was, rewrites[name], digest, frozenset(present))
            table = erased_now_rows(ref) if not narrow.empty else None
            if table is None and not narrow.empty:
                continue  # no identifier column
            if table is not None and len(table.keys):
                found += _traces(table, salt, suppressed)
                read += len(table.keys)
            scan, total = "erased_now", session.row_count(ref)
            if kept is not None:
                kept = BatchProof(now, kept.rewrites, digest, kept.batches)
        else:
            table = table_values(session, config, ref)
            if table is None:
                continue  # no identifier column
            scan, total = "full", len(table.keys)
            read = total
            if name in batched:
                batches = _batches_of(table, batched[name])
                kept = BatchProof(now, rewrites[name], digest, frozenset(batches))
            if not total:
                ledger[name] = (
                    _checksum_now(session, ref, before, changed_by_run, rebuilt_layers),
                    now,
                )
                if kept is not None:
                    proved[name] = kept
                continue  # an empty table, as `warehouse_traces` leaves out
            found = _traces(table, salt, suppressed)
        rows.append(
            {"table": name, "rows": total, "rows_read": read, "traces": found, "scan": scan}
        )
        if not found:
            covered = batch_proved and kept is not None and ref.schema in ("raw", "staging")
            ledger[name] = (
                BATCH_PROVED
                if covered
                else _checksum_now(session, ref, before, changed_by_run, rebuilt_layers),
                now,
            )
            if kept is not None:
                proved[name] = kept
    write_ledger(session, ledger)
    # Proofs of tables of other layers (not checked now) stand as they were.
    others = {n: p for n, p in proofs.items() if n.split(".")[0] not in layers}
    write_batch_proofs(session, {**others, **proved})
    return pd.DataFrame(rows, columns=columns)


def _still_searched(
    session: WarehouseSession, left: CandidatesLeft | None, narrow: CandidateFilter | None
) -> dict[str, TableValues | None]:
    """The tables whose candidate rows the deletion left stand for a new search: written by
    no other transaction since it began (same version; this transaction's own writes are
    versioned at its commit), the search being for fewer values (`narrow` not None)."""
    if left is None or narrow is None or not left.tables:
        return {}
    names = {f"table:{name}": name for name in left.tables}
    now = read_versions(session, names)
    return {
        name: left.tables[name]
        for key, name in names.items()
        if now.get(key) == left.versions.get(key)
    }


def _traces(table: TableValues, salt: bytes, suppressed: frozenset[str]) -> int:
    return int(hash_matches(table.values, salt, suppressed, table.index).sum())


def _reanchored(
    session: WarehouseSession,
    ref: TableRef,
    proof: BatchProof,
    entry: tuple[str, str],
    was: str,
    digest: str,
    rewrites: str,
) -> BatchProof | None:
    """A proof whose table was rewritten (a full re-stage, say) into the very content it
    proved: the same batches, at the rewrites version read before this checksum was taken
    (a later rewrite moves it). None when anything else differs."""
    if proof.fingerprint != was or entry[1] != was or proof.columns != digest:
        return None
    if table_checksum(session, ref) != entry[0]:
        return None
    return BatchProof(was, rewrites, digest, proof.batches)


def _batches_present(session: WarehouseSession, ref: TableRef, column: str) -> set[str]:
    found = session.query(
        f"SELECT DISTINCT {quote_ident(column)} AS b FROM {ref.sql} "
        f"WHERE {quote_ident(column)} IS NOT NULL"
    )
    return {str(b) for b in found["b"]}


def _batches_of(table: TableValues, column: str) -> set[str]:
    return {str(b) for b in table.keys[column].dropna().unique()}


# --------------------------------------------------------------------------- files


def ledger_name(label: str, root: Path, path: Path) -> str:
    """A file's name in the trace ledger: `<label>/<path under its folder>`."""
    return f"{label}/{path.relative_to(root).as_posix()}"


def export_files(root: Path) -> list[Path]:
    """The data files `export_traces` reads under `root`."""
    if not root.exists():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in EXPORT_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def verified_file_traces(
    folders: dict[str, Path],
    salt: bytes,
    suppressed: frozenset[str],
    suppressed_before: frozenset[str],
    erased_now: Identifiers,
    ledger: dict[str, tuple[str, str]],
    was: str,
    now: str,
    checksum: Callable[[Path], str] = file_checksum,
) -> pd.DataFrame:
    """`export_traces` of every folder (labelled by its key), with the ledger: a file whose
    bytes were found clean against the list before the run is skipped when the list did not
    grow, and otherwise searched for the identifiers just erased (in clear); a file whose
    bytes the export steps' own scan (`export_trace_cache`, same readers) found clean against
    this very list and salt is not read again (`remembered`); any other file is read and
    hashed in full. `ledger` is updated in place for every clean file."""
    columns = ["table", "rows", "traces", "scan"]
    added = suppressed - suppressed_before
    own = set(erased_now.hashes(salt)["identifier_hash"]) if added else set()
    rows = []
    if not suppressed:
        return pd.DataFrame(rows, columns=columns)
    for label, root in folders.items():
        scanned = remembered_scans(Path(root), salt, suppressed)
        for path in export_files(Path(root)):
            name = ledger_name(label, Path(root), path)
            digest = checksum(path)
            clean_before = not suppressed_before or ledger.get(name) == (digest, was)
            if clean_before and not added:
                rows.append({"table": name, "rows": 0, "traces": 0, "scan": "unchanged"})
                ledger[name] = (digest, now)
                continue
            figures = scanned.get(digest)
            if figures is not None and figures[1] == 0:
                rows.append({"table": name, "rows": figures[0], "traces": 0, "scan": "remembered"})
                ledger[name] = (digest, now)
                continue
            frame = read_export_file(path)
            values = named_values(frame)
            if clean_before and added <= own:
                found = matches(values, erased_now, frame.index)
                scan = "erased_now"
            else:
                found = hash_matches(values, salt, suppressed, frame.index)
                scan = "full"
            traces = int(found.sum())
            rows.append({"table": name, "rows": len(frame), "traces": traces, "scan": scan})
            if not traces:
                ledger[name] = (digest, now)
    return pd.DataFrame(rows, columns=columns)

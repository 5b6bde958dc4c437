"""`ops.erasure_log`: erasure of people by any identifier, with the check that no trace of
them remains."""
# No `from __future__ import annotations`: Dagster checks the `context` annotation as a class.

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import ERASURE_KEY, PRIVACY_GROUP, staging_key
from cdp_assets.defs.resources import ExportsResource, ModelStoreResource, WarehouseResource
from cdp_assets.defs.unchanged import files_under, skip_when_inputs_unchanged
from cdp_assets.ml.model_store import ModelRegistry
from cdp_assets.privacy.erasure import (
    ERASURE_COUNTS_NOTE,
    ERASURE_LOG,
    Subject,
    erase_pending,
    identity_built,
)
from cdp_assets.privacy.export_scrub import count_rows_of_people, scrub_exports, scrub_suppressed
from cdp_assets.privacy.export_trace_cache import remembered_scans
from cdp_assets.privacy.file_checksums import FileChecksums, file_checksum
from cdp_assets.privacy.identifiers import Identifiers, hash_matches, named_values
from cdp_assets.privacy.suppression import SuppressionError, load_suppressed, privacy_salt
from cdp_assets.privacy.tables import LAYERS, personal_tables
from cdp_assets.privacy.trace import (
    check_fingerprint,
    checksums,
    export_traces,
    ledger_name,
    read_ledger,
    verified_file_traces,
    verified_traces,
    write_ledger,
)
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse.versions import read_versions, table_name

CHECK_NO_TRACE = "no_erased_identifiers_remain"
INTAKE_LAYERS = ("raw", "staging", "ops")


# The folders' names in the trace ledger (`ops.erasure_trace_ledger`): `<label>/<path>`.
EXPORTS_LABEL = "exports"
MODEL_STORE_LABEL = "model_store"


def erasure_deps(config: CDPConfig) -> list[dg.AssetKey]:
    """Erasure runs after every source is staged, so that it also removes what just arrived."""
    return [staging_key(s) for s in config.sources]


def _people(subjects: list[Subject]) -> dict[str, tuple[set[str], set[str], set[str]]]:
    return {
        s.request.request_id: (
            set(s.identifiers.values["customer_id"]),
            set(s.identifiers.values["email"]),
            set(s.identifiers.values["phone"]),
        )
        for s in subjects
    }


def _scrub_exports(root: Path, subjects: list[Subject], dry_run: bool = False) -> dict[str, int]:
    """Rows removed from the export files, per request (with `dry_run`, counted: each file is
    read once for every request; otherwise removed, every request's rows in one pass)."""
    people = _people(subjects)
    if dry_run:
        return count_rows_of_people(root, people)
    ids, emails, phones = set(), set(), set()
    for person_ids, person_emails, person_phones in people.values():
        ids |= person_ids
        emails |= person_emails
        phones |= person_phones
    if people:
        scrub_exports(root, ids, emails, phones)
    return dict.fromkeys(people, 0)


def _erase_from_model_store(
    store: ModelRegistry, subjects: list[Subject], dry_run: bool = False
) -> None:
    """Their rows leave every training snapshot of the model store (counted per request),
    under every id they ever had: a snapshot may predate a merge that absorbed one. Each
    snapshot is read once for the counts of all of them, and rewritten at most once."""
    groups = {str(i): s.every_customer_id for i, s in enumerate(subjects)}
    counts = store.count_customers(groups)
    for i, subject in enumerate(subjects):
        for path, rows in counts[str(i)].items():
            subject.rows[f"model_store/{path}"] = rows
    if not dry_run and any(counts.values()):
        store.erase_customers(set().union(*groups.values()))


def _scrub_files(
    exports_root: Path, store: ModelRegistry, dry_run: bool = False
) -> Callable[[list[Subject]], dict[str, int]]:
    def scrub(subjects: list[Subject]) -> dict[str, int]:
        exported = _scrub_exports(exports_root, subjects, dry_run)
        _erase_from_model_store(store, subjects, dry_run)
        return exported

    return scrub


def finish_interrupted_scrubs(
    exports_root: Path,
    store: ModelRegistry,
    salt: bytes,
    suppressed: frozenset[str],
    known_clean: Callable[[Path], bool] | None = None,
    snapshots_clean: Callable[[Path], bool] | None = None,
    read_clean: Callable[[Path], None] | None = None,
) -> int:
    """Rows of people already erased that are still in the export files or training
    snapshots — left by a run that died after committing its erasure, before rewriting the
    files — removed now; returns how many. Export files and training snapshots the trace
    ledger found clean against this very list (`known_clean`, `snapshots_clean`) are not
    read; each export file read and found clean is passed to `read_clean`."""
    if not suppressed:
        return 0
    scrubbed = scrub_suppressed(exports_root, salt, suppressed, known_clean, read_clean)
    removed = sum(scrubbed.values())
    ids = pd.Series(sorted(store.snapshot_customer_ids(snapshots_clean)), dtype="string")
    frame = pd.DataFrame({"customer_id": ids})
    erased = set(ids[hash_matches(named_values(frame), salt, suppressed, frame.index)])
    return removed + sum(store.erase_customers(erased).values())


class ReadClean:
    """Ledger entries for the export files the scrub of earlier erasures read and found clean
    against the list of `fingerprint`: their bytes, as read, need no second read by the trace
    check (a file rewritten since has other bytes, and is read again)."""

    def __init__(
        self, root: Path, fingerprint: str, checksum: Callable[[Path], str] = file_checksum
    ) -> None:
        self.root, self.fingerprint, self.checksum = root, fingerprint, checksum
        self.entries: dict[str, tuple[str, str]] = {}

    def __call__(self, path: Path) -> None:
        name = ledger_name(EXPORTS_LABEL, self.root, path)
        self.entries[name] = (self.checksum(path), self.fingerprint)


def _known_clean(
    exports_root: Path,
    ledger: dict[str, tuple[str, str]],
    fingerprint: str,
    remembered: Mapping[str, tuple[int, int]] | None = None,
    label: str = EXPORTS_LABEL,
    checksum_of: Callable[[Path], str] = file_checksum,
) -> Callable[[Path], bool]:
    """Whether a file's bytes (an export file, or with `label` MODEL_STORE_LABEL and the
    store's folder a training snapshot) were found clean against the list of `fingerprint`:
    by this check (the ledger, whose names are `<label>/<path under the folder>`), or by the
    export steps' scan against the same list (`remembered`: file sha256 → rows, traces; see
    `export_trace_cache`)."""

    def clean(path: Path) -> bool:
        entry = ledger.get(ledger_name(label, exports_root, path))
        checksum = checksum_of(path)
        if entry is not None and entry == (checksum, fingerprint):
            return True
        figures = (remembered or {}).get(checksum)
        return figures is not None and figures[1] == 0

    return clean


def snapshots_known_clean(
    store_folder: Path,
    ledger: dict[str, tuple[str, str]],
    fingerprint: str,
    remembered: Mapping[str, tuple[int, int]],
    checksum_of: Callable[[Path], str] = file_checksum,
) -> Callable[[Path], bool]:
    """`_known_clean` of the training snapshots: found clean by this check (the ledger) or by
    the training step's own scan against the same list (`remembered`, the model store's
    `export_trace_cache`: the same readers). Without the second, the night after a training
    read every customer id of the new snapshots (3.5 s at 1,000,000 people) to finish scrubs
    that no run left."""
    return _known_clean(
        store_folder, ledger, fingerprint, remembered, MODEL_STORE_LABEL, checksum_of
    )


def _file_traces(
    folders: dict[str, Path],
    salt: bytes,
    suppressed: frozenset[str],
    check: "FileCheck | None" = None,
) -> pd.DataFrame:
    """Traces in the export files and in the model store's training snapshots (with `check`,
    through the trace ledger: see `verified_file_traces`)."""
    if check is not None:
        return verified_file_traces(
            folders, salt, suppressed, *check.args(), checksum=check.checksum
        )
    parts = []
    for label, folder in folders.items():
        found = export_traces(folder, salt, suppressed)
        parts.append(found.assign(table=label + "/" + found["table"].astype(str)))
    return pd.concat(parts, ignore_index=True)


class FileCheck:
    """What the file trace check needs from the run: the list before it, the identifiers it
    erased, and the ledger with the fingerprints before and after."""

    def __init__(
        self,
        before: frozenset[str],
        erased_now: Identifiers,
        ledger: dict[str, tuple[str, str]],
        was: str,
        now: str,
        checksum: Callable[[Path], str] = file_checksum,
    ) -> None:
        self.before, self.erased_now, self.ledger = before, erased_now, ledger
        self.was, self.now, self.checksum = was, now, checksum

    def args(self) -> tuple:
        return (self.before, self.erased_now, self.ledger, self.was, self.now)


def _by_scan(found: pd.DataFrame) -> dict[str, int]:
    if "scan" not in found.columns:
        return {}
    return {str(k): int(v) for k, v in found["scan"].value_counts().sort_index().items()}


def _trace_check(traces: pd.DataFrame, files: pd.DataFrame, suppressed: int) -> dg.AssetCheckResult:
    """Scans are skipped while the suppression list is empty: there is nothing to find."""
    found = traces[traces["traces"] > 0]
    in_files = files[files["traces"] > 0]
    return dg.AssetCheckResult(
        check_name=CHECK_NO_TRACE,
        asset_key=ERASURE_KEY,
        passed=found.empty and in_files.empty,
        metadata={
            "identifiers_on_suppression_list": suppressed,
            "tables_scanned": len(traces),
            "layers_scanned": ", ".join(sorted({t.split(".")[0] for t in traces["table"]})),
            "rows_scanned": int(traces["rows"].sum()),
            "tables_by_scan": dg.MetadataValue.json(_by_scan(traces)),
            "rows_read_in_full": int(traces.loc[traces["scan"] == "full", "rows"].sum()),
            "rows_read": int(traces["rows_read"].sum()) if "rows_read" in traces else 0,
            "files_scanned": len(files),
            "files_by_scan": dg.MetadataValue.json(_by_scan(files)),
            "rows_with_an_erased_identifier": int(traces["traces"].sum() + files["traces"].sum()),
            "where": dg.MetadataValue.md(markdown_table(pd.concat([found, in_files]))),
        },
        description="every identifier value in every warehouse table (of raw, staging and ops "
        "when no request was processed: new data enters there), every export file and every "
        "training snapshot, hashed with the privacy salt, is absent from ops.suppression_list. "
        "Through the trace ledger (ops.erasure_trace_ledger): a table or file unchanged since "
        "it was found clean against the same list is not read again (scan `unchanged`); one "
        "clean before this run and changed only by its deletions is searched for the "
        "identifiers just erased (`erased_now`); one written batch by batch whose rows "
        "already checked were not rewritten since is read in the batches not proved clean yet "
        "(`new_batches`, plus the identifiers just erased elsewhere); an export file the "
        "export steps' scan found clean against this list is not read again (`remembered`); "
        "any other is read in full (`full`). rows_scanned counts every row so covered, "
        "rows_read those read.",
    )


def erasure_inputs(resources: Mapping[str, Any]) -> dict[str, Any]:
    """What the erasure step reads besides its upstream assets: every table its nightly trace
    check covers (the personal tables of raw, staging and ops, by the version only additions
    move: retention's deletes bring no identifier back; None when one has none), whether
    identity has run (held requests wait for it), and the model store's files. Unchanged, with no new request staged, the last proof
    that no erased identifier is anywhere still holds. Export files are not among them: the
    export steps write them after this step, each checking against the suppression list
    itself (`no_erased_people_in_exports`), and only this step removes people from them."""
    with resources["warehouse"].get().transaction() as session:
        tables = [t for t in personal_tables(session) if t.schema in INTAKE_LAYERS]
        versions = read_versions(session, [table_name(t) for t in tables], additions=True)
        # Requests wait until identity has built its tables (after this step): once it has,
        # the step must run to take them up.
        built = identity_built(session)
    known = len(versions) == len(tables)
    return {
        "tables": {str(t): versions[table_name(t)] for t in tables} if known else None,
        "identity_built": built,
        "model_store": files_under(resources["model_store"].local_folder),
    }


def _ledger_of(warehouse: WarehouseResource) -> dict[str, tuple[str, str]]:
    with warehouse.get().transaction() as session:
        return read_ledger(session)


def build_erasure_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=ERASURE_KEY,
        deps=erasure_deps(config),
        group_name=PRIVACY_GROUP,
        kinds={"python"},
        tags={"cdp/layer": "ops"},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NO_TRACE,
                asset=ERASURE_KEY,
                blocking=True,
                description="no identifier of an erased person remains in any table or export; blocks "
                "downstream assets when it fails",
            )
        ],
    )
    @skip_when_inputs_unchanged(
        config,
        extra=erasure_inputs,
        uses_as_of=False,
        writes_its_inputs=True,
        deletions_keep_inputs=True,
    )
    def erasure_log(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
        exports: ExportsResource,
    ):
        """Processes the staged erasure requests (by email, phone, customer id or source record
        id): finds the person through the identity tables, deletes every row holding any of
        their identifiers from every table of every layer (raw rows and quarantined lines
        included), from the export files and from the training snapshots of the model store,
        adds salted hashes of their identifiers to
        ops.suppression_list so that a file delivered again does not bring them back, and logs
        each request here with hashed identifiers, times, and tables and rows touched."""
        try:
            salt = privacy_salt(config)
            store = model_store.get()
            with warehouse.get().transaction() as session:
                # fails on a changed salt before deleting
                already = load_suppressed(session, salt)
                ledger = read_ledger(session)
            # each file's bytes hashed once in this step, and not again while they stay put
            checksums_of = FileChecksums(remember=(exports.path, model_store.local_folder))
            clean = _known_clean(
                exports.path,
                ledger,
                check_fingerprint(config, already),
                remembered_scans(exports.path, salt, already),
                checksum_of=checksums_of,
            )
            snapshots_clean = snapshots_known_clean(
                model_store.local_folder,
                ledger,
                check_fingerprint(config, already),
                remembered_scans(model_store.local_folder, salt, already),
                checksums_of,
            )
            read_clean = ReadClean(exports.path, check_fingerprint(config, already), checksums_of)
            finished = finish_interrupted_scrubs(
                exports.path, store, salt, already, clean, snapshots_clean, read_clean
            )
            with warehouse.get().transaction() as session:
                before_list = load_suppressed(session, salt)
                # Without a new erasure only new data can carry an erased identifier, and it
                # enters through raw, staging and ops; later layers are rebuilt from them
                # (their ledger entries hold by the list alone: no checksum needed).
                before = checksums(session, INTAKE_LAYERS, config, before_list)
                # The files are counted in the transaction and rewritten after its commit: a
                # run dying in between leaves rows that the next run's first step removes,
                # and the log keeps the counts of the run that erased them.
                counted = _scrub_files(exports.path, store, dry_run=True)
                done = erase_pending(session, config, salt, context.run.run_id, counted)
                suppressed = load_suppressed(session, salt)
                layers = LAYERS if done.erasing else INTAKE_LAYERS
                erased_now = Identifiers()
                for subject in done.erasing:
                    erased_now.update(subject.identifiers)
                traces = verified_traces(
                    session,
                    config,
                    salt,
                    suppressed,
                    layers,
                    before,
                    before_list,
                    erased_now,
                    set(done.deleted),
                    rebuilt_layers=tuple(x for x in LAYERS if x not in INTAKE_LAYERS),
                    left=done.left,
                    batch_proved=True,
                )
                logged = session.row_count(ERASURE_LOG)
            _scrub_files(exports.path, store)(done.erasing)
            check = FileCheck(
                before_list,
                erased_now,
                {**_ledger_of(warehouse), **read_clean.entries},
                check_fingerprint(config, before_list),
                check_fingerprint(config, suppressed),
                checksums_of,
            )
            files = _file_traces(
                {EXPORTS_LABEL: exports.path, MODEL_STORE_LABEL: model_store.local_folder},
                salt,
                suppressed,
                check,
            )
            with warehouse.get().transaction() as session:
                write_ledger(session, {**read_ledger(session), **check.ledger})
            checksums_of.save()
        except SuppressionError as exc:
            raise dg.Failure(description=str(exc)) from None
        log, deleted = done.log, done.deleted
        context.log.info(
            f"{len(done.requests)} erasure requests: {sum(deleted.values()):,} rows deleted from "
            f"{len(deleted)} tables, {done.added} identifiers suppressed"
            + (f"; {len(done.held)} held until identity has run" if done.held else "")
        )
        shown = log[["request_id", "status", "customers_erased", "identifiers", "rows_deleted"]]
        ambiguous = log[log["status"] == "ambiguous"]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": logged,
                "dagster/table_name": str(ERASURE_LOG),
                "requests_processed": len(done.requests),
                "requests_held_until_identity_runs": len(done.held),
                "people_erased": int((log["status"] == "erased").sum()),
                "requests_without_match": int((log["status"] == "no_match").sum()),
                "requests_ambiguous": len(ambiguous),
                "ambiguous_requests": dg.MetadataValue.md(
                    markdown_table(
                        ambiguous[["request_id", "people_matched", "resolution_hint"]],
                        max_rows=50,
                    )
                ),
                "rows_deleted": sum(deleted.values()),
                "how_to_read": ERASURE_COUNTS_NOTE,
                "export_rows_removed": sum(done.exported.values()),
                "rows_left_by_an_interrupted_run_removed": finished,
                "identifiers_suppressed": len(suppressed),
                "requests": dg.MetadataValue.md(markdown_table(shown, max_rows=50)),
                "rows_deleted_by_table": dg.MetadataValue.md(
                    markdown_table(
                        pd.DataFrame(sorted(deleted.items()), columns=["table", "rows"]),
                        max_rows=80,
                    )
                ),
                "tables_touched": dg.MetadataValue.json(json.loads(json.dumps(deleted))),
            },
            check_results=[_trace_check(traces, files, len(suppressed))],
        )

    return erasure_log

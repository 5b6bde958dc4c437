"""Staging a source into the warehouse: only the raw batches not staged yet, merged into the
staged table with the outcome of staging every batch from scratch.

Which batches are staged is kept in two ops tables:

- `ops.staged_batches`: one row per (source, raw `_batch_id`) staged, with its row count;
- `ops.staging_state`: one row per source with the fingerprint of what staging read — the
  staging settings of its config (mapping, defaults, formats, time zone, country, quality
  rules, currencies, campaigns), the raw table's columns, and the staging code itself.

A run compares them with the raw table (`plan_staging`): a changed fingerprint, a missing state
row or staged table, or a request (`force_full`) stages everything again (`stage_everything`);
otherwise only the new batches are staged (`stage_new_batches`). Nothing new costs two small
reads: when every batch of raw ingestion's file ledger (ops.ingested_files) is staged, the raw
table is not read; else one `GROUP BY _batch_id` over it finds the new batches.

An increment gives what a full staging of old and new batches gives (a test proves it),
because staging is row-local except for three things, each settled against the staged table:

- latest version per record id: the new rows' winners contest the staged version of the same
  record id (`settle_versions`, the same order `supersede` uses); a staged version that loses
  leaves the staged table, its field issues go, and it gets a `superseded_record` issue; the
  `superseded_record` issues of a record name its final winner;
- quarantine and field issues are per row: the new rows' are appended;
- customers' shared identifiers count over the whole staged table: recomputed in SQL
  (`refresh_shared_identifiers`).

What is not re-judged: a staged row's `future_date` was judged by the wall clock when it was
staged (`now`); an increment judges only the new rows by the clock at that run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import (
    ISSUE_DTYPES,
    QUARANTINE_DTYPES,
    RECORD_ID_FIELD,
    staging_contract,
)
from cdp_assets.ingest.naming import raw_column_name
from cdp_assets.quality.catalog import ACTION_SUPERSEDED
from cdp_assets.staging.chunks import RawChunks, StagingTotals, check_chunk, chunk_count
from cdp_assets.staging.mapping import LINEAGE, in_recency_order, mapped_text
from cdp_assets.staging.stage import (
    DUPLICATE_IDENTIFIER,
    IDENTIFIER_DTYPES,
    SHARED_IDENTIFIERS,
    SUPERSEDED_RECORD,
    StagingResult,
    shared_identifier_issues,
    stage_source,
    superseded_reason,
    versions_use_updated_at,
)
from cdp_assets.staging.versions import supersede
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame
from cdp_assets.warehouse.warehouse import quote_ident

QUARANTINE = TableRef("ops", "quarantine")
ISSUES = TableRef("ops", "data_quality_issues")
STAGED_BATCHES = TableRef("ops", "staged_batches")
STAGING_STATE = TableRef("ops", "staging_state")
INGESTED_FILES = TableRef("ops", "ingested_files")  # raw ingestion's file ledger

FULL = "full"
INCREMENTAL = "incremental"
NOTHING_NEW = "no new batches"

STAGED_BATCH_DTYPES: dict[str, str] = {
    "source": "string",
    "batch_id": "string",  # raw `_batch_id`
    "rows_in": "Int64",  # raw rows of the batch when it was staged
    "staged_at": "datetime64[us, UTC]",  # the staging clock of the run that staged it
    "mode": "string",  # full | incremental
}
STAGING_STATE_DTYPES: dict[str, str] = {
    "source": "string",
    "config_fingerprint": "string",  # sha256 of the source's staging settings
    "columns_fingerprint": "string",  # sha256 of the raw table's columns, in order
    "code_version": "string",  # sha256 of the staging code (`staging_code_version`)
    "staged_at": "datetime64[us, UTC]",
    "mode": "string",  # the mode of the last run that staged rows
}
# Source settings that staging never reads: changing them re-stages nothing.
_NOT_STAGING_SETTINGS = {
    "path",
    "url",
    "url_env",
    "table",
    "query",
    "encoding",
    "delimiter",
    "quotechar",
    "trust",
    "customer_ref_source",
    "quarantine_warn_share",
    "quarantine_fail_share",
    "retention_days",
}
_PACKAGE = Path(__file__).resolve().parents[1]
# The code whose change can change a staged row: staging, its field rules, the contracts.
_CODE_FILES = ("staging/*.py", "quality/*.py", "contracts/canonical.py", "ingest/naming.py")


# ------------------------------------------------------------------------------ fingerprints


def _sha256(value: object) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_fingerprint(source: SourceConfig, config: CDPConfig) -> str:
    """What of cdp.yaml staging reads for `source`: its mapping, defaults, date formats, time
    zone and country, and the project's currencies, time zone, country, quality rules and (for
    campaign events) campaign names."""
    return _sha256(
        {
            "source": source.model_dump(mode="json", exclude=_NOT_STAGING_SETTINGS),
            "base_currency": config.base_currency,
            "fx_rates": config.fx_rates,
            "timezone": config.timezone,
            "default_country": config.default_country,
            "quality": config.quality.model_dump(mode="json"),
            "campaigns": sorted(c.name for c in config.campaigns),
        }
    )


def staging_code_version() -> str:
    """A hash of the staging code's source files: any edit re-stages every source once."""
    digest = hashlib.sha256()
    for pattern in _CODE_FILES:
        for path in sorted(_PACKAGE.glob(pattern)):
            digest.update(path.relative_to(_PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class StagingPlan:
    """What a staging run of one source does, and why."""

    mode: str  # FULL | INCREMENTAL | NOTHING_NEW
    reason: str
    batches: dict[str, int]  # raw batch id → rows: every batch (full) or the new ones
    config_fingerprint: str
    columns_fingerprint: str
    code_version: str
    # Batches of the file ledger that left no raw row (duplicate files only): recorded as
    # staged, so that the next run finds nothing new without reading the raw table.
    empty_batches: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(self.batches.values())


def _raw_batches(session: WarehouseSession, raw: TableRef) -> dict[str, int]:
    if not session.table_exists(raw):
        return {}
    counts = session.query(f"SELECT _batch_id, COUNT(*) AS n FROM {raw.sql} GROUP BY _batch_id")
    return {str(b): int(n) for b, n in zip(counts["_batch_id"], counts["n"], strict=True)}


def _state(session: WarehouseSession, source: SourceConfig) -> pd.Series | None:
    state = session.read_table(
        STAGING_STATE, dtypes=STAGING_STATE_DTYPES, where="source = :s", params={"s": source.name}
    )
    return state.iloc[0] if len(state) else None


def _staged_batch_ids(session: WarehouseSession, source: SourceConfig) -> set[str]:
    ledger = session.read_table(
        STAGED_BATCHES,
        dtypes=STAGED_BATCH_DTYPES,
        where="source = :s",
        params={"s": source.name},
    )
    return set(ledger["batch_id"].dropna())


def _full_reason(
    session: WarehouseSession,
    source: SourceConfig,
    state: pd.Series | None,
    fingerprints: tuple[str, str, str],
) -> str | None:
    """Why the source must be staged from scratch; None when an increment will do."""
    config_fp, columns_fp, code = fingerprints
    if state is None:
        return "first staging of this source (no row in ops.staging_state)"
    if not session.table_exists(TableRef("staging", source.name)):
        return f"staging.{source.name} does not exist"
    if state["code_version"] != code:
        return "the staging code changed since the last staging"
    if state["config_fingerprint"] != config_fp:
        return "the source's staging settings in cdp.yaml changed since the last staging"
    if state["columns_fingerprint"] != columns_fp:
        return f"raw.{source.name} has other columns than at the last staging"
    return None


def _ingested_batch_ids(session: WarehouseSession, source: SourceConfig) -> set[str] | None:
    """The batch ids raw ingestion recorded for the source in its file ledger
    (ops.ingested_files, written in the transaction that appends the raw rows); None when the
    ledger holds no row of the source (raw rows written otherwise)."""
    if not session.table_exists(INGESTED_FILES):
        return None
    ids = session.query(
        f"SELECT DISTINCT batch_id FROM {INGESTED_FILES.sql} WHERE source = :s",
        {"s": source.name},
    )["batch_id"]
    return set(ids.dropna().astype(str)) or None


def _increment(
    session: WarehouseSession, source: SourceConfig, raw: TableRef
) -> tuple[str, str, dict[str, int], tuple[str, ...]]:
    """(mode, reason, new batches, empty ledger batches) once a full staging is not needed.
    When every batch of the file ledger is staged, the raw table is not read at all."""
    staged = _staged_batch_ids(session, source)
    ingested = _ingested_batch_ids(session, source)
    if ingested is not None and ingested <= staged:
        return NOTHING_NEW, "every ingested batch (ops.ingested_files) is staged already", {}, ()
    batches = {b: n for b, n in sorted(_raw_batches(session, raw).items()) if b not in staged}
    empty = tuple(sorted((ingested or set()) - staged - set(batches)))
    if not batches:
        return NOTHING_NEW, "every raw batch is staged already", {}, empty
    return INCREMENTAL, f"{len(batches)} raw batch(es) not staged yet", batches, empty


def plan_staging(
    session: WarehouseSession, source: SourceConfig, config: CDPConfig, *, force_full: bool
) -> StagingPlan:
    """Full, incremental or nothing to do, from the raw table, the file ledger and the
    staging ledger."""
    raw = TableRef("raw", source.name)
    columns = session.columns(raw) if session.table_exists(raw) else []
    fingerprints = (config_fingerprint(source, config), _sha256(columns), staging_code_version())
    reason = (
        "full re-stage requested (run tag cdp/full_restage)"
        if force_full
        else _full_reason(session, source, _state(session, source), fingerprints)
    )
    if reason is None:
        mode, reason, batches, empty = _increment(session, source, raw)
        return StagingPlan(mode, reason, batches, *fingerprints, empty_batches=empty)
    batches = _raw_batches(session, raw)
    empty = tuple(sorted((_ingested_batch_ids(session, source) or set()) - set(batches)))
    return StagingPlan(FULL, reason, batches, *fingerprints, empty_batches=empty)


# ------------------------------------------------------------------------------ reading raw


def read_planned_rows(
    session: WarehouseSession,
    source: SourceConfig,
    plan: StagingPlan,
    directory: Path,
    chunk_rows: int,
) -> RawChunks:
    """The raw rows the plan stages (every row, or the new batches'), in record-id chunks."""
    ref = TableRef("raw", source.name)
    if not session.table_exists(ref):
        # Nothing landed yet: an empty frame with the mapped columns stages to an empty table.
        columns = {raw_column_name(c): pd.Series(dtype="string") for c in source.columns.values()}
        frame = pd.DataFrame(columns)
        for column, dtype in {"_file": "string", "_line": "Int64", "_batch_id": "string"}.items():
            frame[column] = pd.Series(dtype=dtype)
        frame["_ingested_at"] = pd.Series(dtype="datetime64[us, UTC]")
        frame["_row_hash"] = pd.Series(dtype="Int64")
        return RawChunks.of_frame(frame)
    count = chunk_count(plan.rows, chunk_rows)
    schema = session.arrow_schema(ref)
    if plan.mode == FULL:
        where, params = "1 = 1", {}
    else:
        params = {f"b{i}": b for i, b in enumerate(sorted(plan.batches))}
        where = "_batch_id IN (" + ", ".join(f":{p}" for p in params) + ")"
    batches = session.read_batches_where(ref, where, params)
    return RawChunks.split(batches, schema, source, count, directory)


# ------------------------------------------------------------------------------- the ledger


def _staged_at(now: dt.datetime) -> pd.Timestamp:
    return pd.Timestamp(now).tz_convert("UTC").floor("us")


def record_batches(
    session: WarehouseSession, source: SourceConfig, plan: StagingPlan, now: dt.datetime
) -> None:
    """The batches staged (all of them, after a full staging), the empty ones included."""
    session.ensure_schema("ops")
    if not session.table_exists(STAGED_BATCHES):
        session.create_table(STAGED_BATCHES, coerce_frame(pd.DataFrame(), STAGED_BATCH_DTYPES))
    if plan.mode == FULL:
        session.delete_where(STAGED_BATCHES, "source = :s", {"s": source.name})
    batches = {**plan.batches, **dict.fromkeys(plan.empty_batches, 0)}
    rows = pd.DataFrame(
        {
            "source": source.name,
            "batch_id": list(batches),
            "rows_in": list(batches.values()),
            "staged_at": _staged_at(now),
            "mode": FULL if plan.mode == FULL else INCREMENTAL,
        }
    )
    session.append(STAGED_BATCHES, coerce_frame(rows, STAGED_BATCH_DTYPES))


def record_plan(
    session: WarehouseSession, source: SourceConfig, plan: StagingPlan, now: dt.datetime
) -> None:
    """The batches staged and the fingerprints of what staged them."""
    record_batches(session, source, plan, now)
    staged_at = _staged_at(now)
    if not session.table_exists(STAGING_STATE):
        session.create_table(STAGING_STATE, coerce_frame(pd.DataFrame(), STAGING_STATE_DTYPES))
    session.delete_where(STAGING_STATE, "source = :s", {"s": source.name})
    state = pd.DataFrame(
        {
            "source": [source.name],
            "config_fingerprint": [plan.config_fingerprint],
            "columns_fingerprint": [plan.columns_fingerprint],
            "code_version": [plan.code_version],
            "staged_at": [staged_at],
            "mode": [plan.mode],
        }
    )
    session.append(STAGING_STATE, coerce_frame(state, STAGING_STATE_DTYPES))


# --------------------------------------------------------------------------- full staging


def _ensure_ops_tables(session: WarehouseSession) -> None:
    session.ensure_schema("ops")
    if not session.table_exists(QUARANTINE):
        session.create_table(QUARANTINE, coerce_frame(pd.DataFrame(), QUARANTINE_DTYPES))
    if not session.table_exists(ISSUES):
        session.create_table(ISSUES, coerce_frame(pd.DataFrame(), ISSUE_DTYPES))


def stage_everything(
    session: WarehouseSession,
    source: SourceConfig,
    config: CDPConfig,
    now: dt.datetime,
    chunks: RawChunks,
) -> StagingTotals:
    """Stages every raw row chunk by chunk, writing each chunk's staged rows and issues as it
    goes; the staged table, the source's staging quarantine and its issues are replaced in the
    session's transaction, so readers see the old ones until it commits."""
    _ensure_ops_tables(session)
    session.delete_where(QUARANTINE, "source = :s AND stage = 'staging'", {"s": source.name})
    session.delete_where(ISSUES, "source = :s", {"s": source.name})
    replacement = session.replacement(TableRef("staging", source.name))
    totals = StagingTotals()
    identifier_rows: list[pd.DataFrame] = []
    for chunk, raw in enumerate(chunks.frames()):
        result = stage_source(raw, source, config, now, shared_identifiers=chunks.count == 1)
        del raw
        check_chunk(source, result.staged["record_id"], chunk, chunks.count)
        replacement.append(result.staged)
        session.append(ISSUES, result.issues)
        if result.identifier_rows is not None:
            identifier_rows.append(result.identifier_rows)
        totals.add(result)
        del result  # not alive while the next chunk stages
    if identifier_rows:
        shared = shared_identifier_issues(
            pd.concat(identifier_rows, ignore_index=True),
            source.name,
            config.quality.duplicate_identifier_limit,
        )
        session.append(ISSUES, shared)
        totals.add_issues(shared)
    replacement.finish()
    session.append(QUARANTINE, totals.quarantine)
    # The source's quarantine and issues of every batch were deleted and written again: rows of
    # batches already there before, not only new ones (the erasure check must read them all).
    session.mark_changed(QUARANTINE)
    session.mark_changed(ISSUES)
    return totals


# ------------------------------------------------------------------------- versions settled


@dataclass
class Settlement:
    """The new rows' winners against the staged versions of the same record ids."""

    new_kept: np.ndarray  # bool per new staged row: still the latest version
    old_lost: pd.DataFrame  # staged rows that lost: record_id and lineage
    superseded: pd.DataFrame  # ISSUE_DTYPES: a superseded_record issue per losing row
    reasons: pd.Series  # per contested record id: the superseded reason naming its winner


def _contest_columns(source: SourceConfig) -> list[str]:
    updated = ["updated_at"] if versions_use_updated_at(source) else []
    return ["record_id", *LINEAGE, *updated]


def settle_versions(existing: pd.DataFrame, new: pd.DataFrame, source: SourceConfig) -> Settlement:
    """Latest version per record id between the staged rows (`existing`) and the winners of
    the new rows (`new`), both in the staging contract: the order of `supersede` over the
    rows' lineage in recency order (and `updated_at`, where versions use it)."""
    columns = _contest_columns(source)
    contest = pd.concat(
        [
            existing[columns].assign(_new=False, _row=np.arange(len(existing))),
            new[columns].assign(_new=True, _row=np.arange(len(new))),
        ],
        ignore_index=True,
    )
    contest = in_recency_order(contest, source)
    updated = contest["updated_at"] if "updated_at" in columns else None
    versions = supersede(contest["record_id"], np.ones(len(contest), dtype=bool), updated)
    lost = versions.superseded
    is_new = contest["_new"].to_numpy(bool)
    new_kept = np.ones(len(new), dtype=bool)
    new_kept[contest.loc[lost & is_new, "_row"].to_numpy(np.int64)] = False

    won = contest.loc[~lost]
    reasons = pd.Series(
        [
            superseded_reason(r, f, ln, b)
            for r, f, ln, b in zip(
                won["record_id"].to_numpy(object),
                won["_file"].to_numpy(object),
                won["_line"].to_numpy(object),
                won["_batch_id"].to_numpy(object),
                strict=True,
            )
        ],
        index=won["record_id"].to_numpy(object),
        dtype="string",
    )
    losers = contest.loc[lost].reset_index(drop=True)
    superseded = pd.DataFrame(
        {
            "source": source.name,
            "record_id": losers["record_id"],
            "file": losers["_file"],
            "line": losers["_line"],
            "batch_id": losers["_batch_id"],
            "field": RECORD_ID_FIELD[source.kind],
            "value": losers["record_id"],
            "rule": SUPERSEDED_RECORD,
            "action": ACTION_SUPERSEDED,
            "reason": reasons.reindex(losers["record_id"].to_numpy(object)).to_numpy(object),
        }
    )
    old_lost = contest.loc[lost & ~is_new, ["record_id", "_file", "_line", "_batch_id"]]
    return Settlement(
        new_kept=new_kept,
        old_lost=old_lost.reset_index(drop=True),
        superseded=coerce_frame(superseded, ISSUE_DTYPES),
        reasons=reasons,
    )


def _lineage_keys(frame: pd.DataFrame, file: str, line: str, batch: str) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [
            frame[file].astype("string"),
            frame[line].astype("Int64"),
            frame[batch].astype("string"),
        ]
    )


def settled_issues(issues: pd.DataFrame, new_lost: pd.DataFrame, s: Settlement) -> pd.DataFrame:
    """The new rows' issues once settled: none for a row that lost to a staged version but
    its superseded_record issue, and every superseded_record issue naming its record's winner."""
    lost_rows = _lineage_keys(new_lost, "_file", "_line", "_batch_id")
    of_lost = _lineage_keys(issues, "file", "line", "batch_id").isin(lost_rows)
    kept = issues.loc[~of_lost | (issues["action"] == ACTION_SUPERSEDED).to_numpy(bool)].copy()
    superseded = (kept["rule"] == SUPERSEDED_RECORD).to_numpy(bool) & kept["record_id"].isin(
        s.reasons.index
    ).to_numpy(bool)
    if superseded.any():
        kept.loc[superseded, "reason"] = s.reasons.reindex(
            kept.loc[superseded, "record_id"].to_numpy(object)
        ).to_numpy(object)
    return coerce_frame(pd.concat([kept, s.superseded], ignore_index=True), ISSUE_DTYPES)


# ------------------------------------------------------------------------ incremental staging


def _work_table(source: SourceConfig, what: str) -> TableRef:
    return TableRef("staging", f"_{what}_{source.name}"[:63])


def _put(session: WarehouseSession, ref: TableRef, frame: pd.DataFrame) -> None:
    """A work table of this transaction holding `frame` (dropped by `_drop`)."""
    session.replace_table(ref, frame)


def _drop(session: WarehouseSession, ref: TableRef) -> None:
    session.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {ref.sql}")


def _staged_versions(
    session: WarehouseSession, source: SourceConfig, record_ids: pd.Series
) -> pd.DataFrame:
    """The staged rows of these record ids (staging contract)."""
    contract = staging_contract(source.kind)
    work = _work_table(source, "ids")
    _put(session, work, pd.DataFrame({"record_id": record_ids.astype("string").unique()}))
    staged = TableRef("staging", source.name)
    found = session.query(
        f"SELECT s.* FROM {staged.sql} s JOIN {work.sql} w ON s.record_id = w.record_id"
    )
    _drop(session, work)
    return coerce_frame(found, contract)


_LOST_DTYPES = {"record_id": "string", "_file": "string", "_line": "Int64", "_batch_id": "string"}


def _execute(session: WarehouseSession, sql: str, params: dict[str, object] | None = None) -> None:
    session.conn.execute(sa.text(sql), params or {})


def _retire(session: WarehouseSession, source: SourceConfig, s: Settlement) -> None:
    """Staged versions that lost leave the staged table with their issues; the superseded
    issues of their records name the new winner."""
    work = _work_table(source, "lost")
    _put(session, work, coerce_frame(s.old_lost, _LOST_DTYPES))
    staged = TableRef("staging", source.name)
    _execute(
        session,
        f"DELETE FROM {staged.sql} AS t USING {work.sql} AS w WHERE t._file = w._file "
        "AND t._line = w._line AND t._batch_id = w._batch_id",
    )
    _execute(
        session,
        f"DELETE FROM {ISSUES.sql} AS i USING {work.sql} AS w WHERE i.source = :s "
        "AND i.file = w._file AND i.line = w._line AND i.batch_id = w._batch_id "
        "AND i.action <> :superseded",
        {"s": source.name, "superseded": ACTION_SUPERSEDED},
    )
    _drop(session, work)
    changed = s.reasons.reindex(s.old_lost["record_id"].unique())
    reasons = pd.DataFrame({"record_id": changed.index.astype(str), "reason": changed.to_numpy()})
    work = _work_table(source, "reasons")
    _put(session, work, coerce_frame(reasons, {"record_id": "string", "reason": "string"}))
    _execute(
        session,
        f"UPDATE {ISSUES.sql} SET reason = w.reason FROM {work.sql} AS w "
        f"WHERE {ISSUES.sql}.source = :s AND {ISSUES.sql}.rule = :rule "
        f"AND {ISSUES.sql}.record_id = w.record_id",
        {"s": source.name, "rule": SUPERSEDED_RECORD},
    )
    _drop(session, work)
    # Staged rows were only deleted; of the issues, some were deleted and the others had their
    # `reason` (which names the winner's record id, file, line and batch: the record id is the
    # row's own `record_id`) rewritten — a column no reader of identifiers reads.
    session.mark_changed(staged, deletions_only=True)
    session.mark_changed(ISSUES, rows_rewritten=False)


def _merge_chunk(
    session: WarehouseSession, source: SourceConfig, result: StagingResult
) -> StagingResult:
    """One chunk of new rows, staged on its own, settled against the staged table and
    written; returns what it added (staged rows, quarantine, issues)."""
    staged, issues = result.staged, result.issues
    existing = _staged_versions(session, source, staged["record_id"]) if len(staged) else None
    if existing is not None and len(existing):
        settlement = settle_versions(existing, staged, source)
        new_lost = staged.loc[~settlement.new_kept]
        staged = staged.loc[settlement.new_kept].reset_index(drop=True)
        issues = settled_issues(issues, new_lost, settlement)
        if len(settlement.old_lost):
            _retire(session, source, settlement)
    session.append(TableRef("staging", source.name), staged)
    session.append(ISSUES, issues)
    session.append(QUARANTINE, result.quarantine)
    return StagingResult(
        staged=staged,
        quarantine=result.quarantine,
        issues=issues,
        rows_in=result.rows_in,
        superseded=int((issues["action"] == ACTION_SUPERSEDED).sum()),
    )


def stage_new_batches(
    session: WarehouseSession,
    source: SourceConfig,
    config: CDPConfig,
    now: dt.datetime,
    chunks: RawChunks,
) -> StagingTotals:
    """Stages the new batches' rows (`chunks`) into the staged table, quarantine and issues,
    with the outcome of a full staging of old and new batches."""
    _ensure_ops_tables(session)
    totals = StagingTotals()
    for chunk, raw in enumerate(chunks.frames()):
        result = stage_source(raw, source, config, now, shared_identifiers=False)
        del raw
        check_chunk(source, result.staged["record_id"], chunk, chunks.count)
        totals.add(_merge_chunk(session, source, result))
        del result
    if source.kind == "customers":
        totals.add_issues(refresh_shared_identifiers(session, source, config))
    return totals


# ---------------------------------------------------------------------- shared identifiers


def _shared_rows(
    session: WarehouseSession, source: SourceConfig, identifier: str, field_name: str, limit: int
) -> pd.DataFrame:
    """Staged records holding an `identifier` value held by more than `limit` of them, with
    the raw text of `field_name` (IDENTIFIER_DTYPES)."""
    staged = TableRef("staging", source.name)
    raw = TableRef("raw", source.name)
    column = source.columns.get(field_name)
    raw_column = raw_column_name(column) if column else None
    join_raw = (
        raw_column is not None and session.table_exists(raw) and raw_column in session.columns(raw)
    )
    key = quote_ident(identifier)
    value = f"r.{quote_ident(raw_column)}" if join_raw else "NULL"
    raw_join = (
        f"LEFT JOIN {raw.sql} r ON r._file = s._file AND r._line = s._line "
        "AND r._batch_id = s._batch_id"
        if join_raw
        else ""
    )
    rows = session.query(
        f"SELECT s.record_id, s._file AS file, s._line AS line, s._batch_id AS batch_id, "
        f"s.{key} AS key, {value} AS raw_value FROM {staged.sql} s "
        f"JOIN (SELECT {key} AS shared FROM {staged.sql} WHERE {key} IS NOT NULL "
        f"GROUP BY {key} HAVING COUNT(*) > :limit) c ON s.{key} = c.shared {raw_join}",
        {"limit": limit},
    )
    raw_text = pd.DataFrame({raw_column or "_none": rows["raw_value"].astype("string")})
    value_text, _ = mapped_text(raw_text, source, field_name)
    if value_text is None:
        value_text = pd.Series(pd.NA, index=rows.index, dtype="string")
    rows["identifier"] = identifier
    rows["value"] = value_text
    return coerce_frame(rows, IDENTIFIER_DTYPES)


def refresh_shared_identifiers(
    session: WarehouseSession, source: SourceConfig, config: CDPConfig
) -> pd.DataFrame:
    """Customers: the `duplicate_identifier` issues of the source, recomputed over the whole
    staged table in SQL (an email key or phone held by more than
    `quality.duplicate_identifier_limit` staged records flags each of them). Returns them."""
    limit = config.quality.duplicate_identifier_limit
    session.delete_where(
        ISSUES, "source = :s AND rule = :r", {"s": source.name, "r": DUPLICATE_IDENTIFIER}
    )
    rows = pd.concat(
        [_shared_rows(session, source, i, f, limit) for i, f, _ in SHARED_IDENTIFIERS],
        ignore_index=True,
    )
    issues = shared_identifier_issues(rows, source.name, limit)
    session.append(ISSUES, issues)
    return issues

"""`staging.<source>`: typed, normalised, validated rows in the canonical schema of the kind."""

import datetime as dt
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import (
    ISSUE_DTYPES,
    QUARANTINE_DTYPES,
    RAW_LINEAGE_DTYPES,
    pii_columns,
)
from cdp_assets.defs.catalog import ISSUES, QUARANTINE, STAGING_GROUP, raw_key, staging_key
from cdp_assets.defs.resources import WarehouseResource, staging_clock
from cdp_assets.ingest import raw_column_name
from cdp_assets.reporting.markdown import counts_table, markdown_table, masked_preview
from cdp_assets.staging import StagingError, stage_source
from cdp_assets.staging import chunks as staging_chunks
from cdp_assets.staging.chunks import RawChunks, StagingTotals, check_chunk, chunk_count
from cdp_assets.staging.stage import shared_identifier_issues
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame


def _read_raw(
    session: WarehouseSession, source: SourceConfig, directory: Path, chunk_rows: int
) -> RawChunks:
    """raw.<source>, streamed once and split into chunks of about `chunk_rows` rows."""
    ref = TableRef("raw", source.name)
    if not session.table_exists(ref):
        # Nothing landed yet: an empty frame with the mapped columns stages to an empty table.
        columns = {raw_column_name(c): pd.Series(dtype="string") for c in source.columns.values()}
        frame = pd.DataFrame(columns)
        for column, dtype in RAW_LINEAGE_DTYPES.items():
            frame[column] = pd.Series(dtype=dtype)
        return RawChunks.of_frame(frame)
    count = chunk_count(session.row_count(ref), chunk_rows)
    schema = session.arrow_schema(ref)
    return RawChunks.split(session.read_batches(ref), schema, source, count, directory)


def _clear(session: WarehouseSession, source: SourceConfig) -> None:
    """This source's staging quarantine and issues go: the new ones replace them."""
    session.ensure_schema("ops")
    if not session.table_exists(QUARANTINE):
        session.create_table(QUARANTINE, coerce_frame(pd.DataFrame(), QUARANTINE_DTYPES))
    session.delete_where(QUARANTINE, "source = :s AND stage = 'staging'", {"s": source.name})
    if not session.table_exists(ISSUES):
        session.create_table(ISSUES, coerce_frame(pd.DataFrame(), ISSUE_DTYPES))
    session.delete_where(ISSUES, "source = :s", {"s": source.name})


def _stage_and_write(
    session: WarehouseSession,
    source: SourceConfig,
    config: CDPConfig,
    now: dt.datetime,
    chunks: RawChunks,
) -> StagingTotals:
    """Stages chunk by chunk, writing each chunk's staged rows and issues as it goes; the
    staged table, the source's staging quarantine and its issues change in the session's
    transaction, so readers see the old ones until it commits."""
    _clear(session, source)
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
    return totals


def _metadata(source: SourceConfig, totals: StagingTotals) -> dict[str, object]:
    quarantine, rows_in = totals.quarantine, totals.rows_in
    meta: dict[str, object] = {
        "dagster/row_count": totals.rows_staged,
        "dagster/table_name": f"staging.{source.name}",
        "rows_in": rows_in,
        "rows_staged": totals.rows_staged,
        "rows_quarantined": len(quarantine),
        "records_superseded": totals.superseded,
        "field_issues": totals.issues - totals.superseded,
        "quarantine_share": round(len(quarantine) / rows_in, 5) if rows_in else 0.0,
        "pii_columns": ", ".join(pii_columns(source.kind)),
        "preview": dg.MetadataValue.md(masked_preview(totals.preview, pii_columns(source.kind))),
    }
    if len(quarantine):
        meta["quarantine_by_rule"] = dg.MetadataValue.md(
            counts_table(quarantine["rule"].value_counts(), "rule")
        )
        meta["quarantine_sample"] = dg.MetadataValue.md(
            markdown_table(quarantine[["file", "line", "rule", "reason"]], max_rows=10)
        )
    if totals.issues:
        meta["issues_by_field_and_rule"] = dg.MetadataValue.md(
            counts_table(totals.issue_counts, ["field", "rule", "action"])
        )
    return meta


def build_staging_asset(source: SourceConfig, config: CDPConfig) -> dg.AssetsDefinition:
    key = staging_key(source)

    @dg.asset(
        key=key,
        deps=[raw_key(source)],
        group_name=STAGING_GROUP,
        kinds={"python", "pandas"},
        description=(
            f"`{source.name}` in the canonical `{source.kind}` schema: typed, normalised "
            "(emails with a matching key, E.164 phones, UTC timestamps, base-currency amounts), "
            "validated, latest version per record id. Rows that cannot stand are in "
            "ops.quarantine with rule and reason; nulled or flagged fields in "
            "ops.data_quality_issues."
        ),
        metadata={"source_kind": source.kind, "trust": source.trust},
        tags={"cdp/layer": "staging", "cdp/source_kind": source.kind, "cdp/pii": "true"},
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
        ),
    )
    def _staging(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        now = staging_clock()  # "future" is after the wall clock, whatever the analysis date
        chunk_rows = staging_chunks.CHUNK_ROWS  # read at run time: tests lower it
        with tempfile.TemporaryDirectory(prefix="cdp_staging_") as directory:
            with wh.transaction() as session:
                chunks = _read_raw(session, source, Path(directory), chunk_rows)
            try:
                with wh.transaction() as session:
                    # A concurrent staging of this source (PostgreSQL) waits for this one.
                    session.take_turns(f"stage:{source.name}")
                    totals = _stage_and_write(session, source, config, now, chunks)
            except StagingError as exc:
                raise dg.Failure(description=str(exc)) from None
        context.log.info(
            f"{source.name}: {totals.rows_in:,} raw rows → {totals.rows_staged:,} staged, "
            f"{len(totals.quarantine):,} quarantined, {totals.superseded:,} superseded "
            f"(staged at {now:%Y-%m-%d %H:%M} UTC, {chunks.count} chunk{'s' if chunks.count > 1 else ''})"
        )
        return dg.MaterializeResult(metadata=_metadata(source, totals))

    return _staging

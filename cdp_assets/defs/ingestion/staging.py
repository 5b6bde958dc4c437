"""`staging.<source>`: typed, normalised, validated rows in the canonical schema of the kind."""

import datetime as dt
import tempfile
from pathlib import Path

import dagster as dg

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import pii_columns
from cdp_assets.defs.catalog import STAGING_GROUP, raw_key, staging_key
from cdp_assets.defs.resources import WarehouseResource, staging_clock
from cdp_assets.reporting.markdown import counts_table, markdown_table, masked_preview
from cdp_assets.staging import StagingError
from cdp_assets.staging import chunks as staging_chunks
from cdp_assets.staging.chunks import StagingTotals
from cdp_assets.staging.increments import (
    FULL,
    NOTHING_NEW,
    StagingPlan,
    plan_staging,
    read_planned_rows,
    record_batches,
    record_plan,
    stage_everything,
    stage_new_batches,
)
from cdp_assets.staging.mapping import check_mapped_columns_exist
from cdp_assets.warehouse import TableRef, Warehouse

FULL_RESTAGE_TAG = "cdp/full_restage"  # run tag: "true" stages every raw batch again


def _wants_full_restage(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(FULL_RESTAGE_TAG, "").strip().lower() in ("true", "1", "yes")


def _plan_metadata(plan: StagingPlan, staged_total: int) -> dict[str, object]:
    return {
        "staging": plan.mode,
        "staging_reason": plan.reason,
        "batches_staged": len(plan.batches),
        "rows_staged": staged_total,
    }


def _metadata(
    source: SourceConfig, plan: StagingPlan, totals: StagingTotals | None, staged_total: int
) -> dict[str, object]:
    meta: dict[str, object] = {
        "dagster/row_count": staged_total,
        "dagster/table_name": f"staging.{source.name}",
        **_plan_metadata(plan, staged_total),
        "pii_columns": ", ".join(pii_columns(source.kind)),
    }
    if totals is None:  # nothing new: the tables are as the last run left them
        meta.update({"rows_in": 0, "rows_quarantined": 0, "records_superseded": 0})
        return meta
    quarantine, rows_in = totals.quarantine, totals.rows_in
    meta.update(
        {
            "rows_in": rows_in,
            "rows_added": totals.rows_staged,  # latest versions written by this run
            "rows_quarantined": len(quarantine),
            "records_superseded": totals.superseded,
            "field_issues": totals.issues - totals.superseded,
            **({"quarantine_share": round(len(quarantine) / rows_in, 5)} if rows_in else {}),
            "preview": dg.MetadataValue.md(
                masked_preview(totals.preview, pii_columns(source.kind))
            ),
        }
    )
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


def stage_into_warehouse(
    wh: Warehouse,
    source: SourceConfig,
    config: CDPConfig,
    now: dt.datetime,
    *,
    force_full: bool = False,
) -> tuple[StagingPlan, StagingTotals | None, int]:
    """The staging step without Dagster: plan (full, incremental or nothing new), read the
    planned raw rows, stage and write them with the ledger, in one transaction; returns the
    plan, what was staged (None when nothing was new) and the staged table's rows."""
    chunk_rows = staging_chunks.CHUNK_ROWS  # read at run time: tests lower it
    staged = TableRef("staging", source.name)
    with tempfile.TemporaryDirectory(prefix="cdp_staging_") as directory:
        try:
            with wh.transaction() as session:
                # A concurrent staging of this source (PostgreSQL) waits for this one.
                session.take_turns(f"stage:{source.name}")
                plan = plan_staging(session, source, config, force_full=force_full)
                if plan.mode == NOTHING_NEW:
                    if plan.empty_batches:
                        record_batches(session, source, plan, now)
                    return plan, None, session.row_count(staged)
                raw = TableRef("raw", source.name)
                if session.table_exists(raw):
                    check_mapped_columns_exist(source, session.columns(raw))
                chunks = read_planned_rows(session, source, plan, Path(directory), chunk_rows)
                stage = stage_everything if plan.mode == FULL else stage_new_batches
                totals = stage(session, source, config, now, chunks)
                record_plan(session, source, plan, now)
                return plan, totals, session.row_count(staged)
        except StagingError as exc:
            raise dg.Failure(description=str(exc)) from None


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
            "ops.data_quality_issues. Each run stages only the raw batches not staged before "
            "(ops.staged_batches) with the outcome of a full staging; a changed config, raw "
            f"columns or staging code, or the run tag `{FULL_RESTAGE_TAG}=true`, stage "
            "everything again."
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
        now = staging_clock()  # "future" is after the wall clock, whatever the analysis date
        plan, totals, staged_total = stage_into_warehouse(
            warehouse.get(), source, config, now, force_full=_wants_full_restage(context)
        )
        if totals is None:
            context.log.info(f"{source.name}: no new batches; {staged_total:,} rows staged")
        else:
            context.log.info(
                f"{source.name} ({plan.mode}: {plan.reason}): {totals.rows_in:,} raw rows of "
                f"{len(plan.batches):,} batch(es) → {totals.rows_staged:,} latest versions, "
                f"{len(totals.quarantine):,} quarantined, {totals.superseded:,} superseded; "
                f"{staged_total:,} rows staged (at {now:%Y-%m-%d %H:%M} UTC)"
            )
        return dg.MaterializeResult(metadata=_metadata(source, plan, totals, staged_total))

    return _staging

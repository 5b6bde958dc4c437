"""`staging.<source>`: typed, normalised, validated rows in the canonical schema of the kind."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.canonical import (
    CANONICAL_FIELDS,
    ISSUE_DTYPES,
    QUARANTINE_DTYPES,
    RAW_LINEAGE_DTYPES,
    RECORD_KEY,
    pii_columns,
    staging_contract,
)
from cdp_assets.config import CDPConfig, SourceConfig, as_of_date
from cdp_assets.defs.ingestion.raw import QUARANTINE, raw_key
from cdp_assets.defs.resources import WAREHOUSE_POOL, WarehouseResource, warehouse_kind
from cdp_assets.ingest import raw_column_name
from cdp_assets.reporting.markdown import counts_table, markdown_table, masked_preview
from cdp_assets.staging import StagingError, StagingResult, stage_source
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame
from cdp_assets.warehouse.warehouse import sql_type

ISSUES = TableRef("ops", "data_quality_issues")
STAGING_GROUP = "staging"

KEY_UNIQUE = "record_key_unique"
REQUIRED_PRESENT = "required_fields_present"
QUARANTINE_SHARE = "quarantine_share"
CONTRACT = "columns_match_contract"
STAGING_CONSERVATION = "staging_conservation"


def staging_key(source: SourceConfig) -> dg.AssetKey:
    return dg.AssetKey(["staging", source.name])


def _read_raw(session: WarehouseSession, source: SourceConfig) -> pd.DataFrame:
    ref = TableRef("raw", source.name)
    if not session.table_exists(ref):
        # Nothing landed yet: an empty frame with the mapped columns stages to an empty table.
        columns = {raw_column_name(c): pd.Series(dtype="string") for c in source.columns.values()}
        frame = pd.DataFrame(columns)
        for column, dtype in RAW_LINEAGE_DTYPES.items():
            frame[column] = pd.Series(dtype=dtype)
        return frame
    return session.read_table(ref)


def _write(session: WarehouseSession, source: SourceConfig, result: StagingResult) -> None:
    """Staged table, this source's staging quarantine and its issues: one transaction."""
    session.replace_table(TableRef("staging", source.name), result.staged)
    session.ensure_schema("ops")
    if not session.table_exists(QUARANTINE):
        session.create_table(QUARANTINE, coerce_frame(pd.DataFrame(), QUARANTINE_DTYPES))
    session.delete_where(QUARANTINE, "source = :s AND stage = 'staging'", {"s": source.name})
    session.append(QUARANTINE, result.quarantine)
    if not session.table_exists(ISSUES):
        session.create_table(ISSUES, coerce_frame(pd.DataFrame(), ISSUE_DTYPES))
    session.delete_where(ISSUES, "source = :s", {"s": source.name})
    session.append(ISSUES, result.issues)


def _checks(
    session: WarehouseSession,
    source: SourceConfig,
    config: CDPConfig,
    rows_in: int,
    superseded: int,
) -> list[dg.AssetCheckResult]:
    ref = TableRef("staging", source.name)
    key_cols = ", ".join(f'"{c}"' for c in RECORD_KEY[source.kind])
    total = session.row_count(ref)
    distinct = int(
        session.scalar(f"SELECT COUNT(*) FROM (SELECT DISTINCT {key_cols} FROM {ref.sql}) k")
    )
    results = [
        dg.AssetCheckResult(
            check_name=KEY_UNIQUE,
            passed=total == distinct,
            metadata={"rows": total, "distinct_keys": distinct, "key": key_cols},
        )
    ]

    required = [f.name for f in CANONICAL_FIELDS[source.kind] if f.required]
    nulls = {
        name: int(session.scalar(f'SELECT COUNT(*) FROM {ref.sql} WHERE "{name}" IS NULL'))
        for name in required
    }
    results.append(
        dg.AssetCheckResult(
            check_name=REQUIRED_PRESENT,
            passed=not any(nulls.values()),
            metadata={f"null_{k}": v for k, v in nulls.items()},
        )
    )

    read = (
        int(
            session.scalar(
                "SELECT COALESCE(SUM(rows_read), 0) FROM ops.ingested_files WHERE source = :s",
                {"s": source.name},
            )
            or 0
        )
        if session.table_exists(TableRef("ops", "ingested_files"))
        else 0
    )
    quarantined = int(
        session.scalar(
            f"SELECT COUNT(*) FROM {QUARANTINE.sql} WHERE source = :s", {"s": source.name}
        )
    )
    share = quarantined / read if read else 0.0
    warn = source.quarantine_warn_share
    fail = source.quarantine_fail_share
    warn = config.quality.quarantine_warn_share if warn is None else warn
    fail = config.quality.quarantine_fail_share if fail is None else fail
    severity = dg.AssetCheckSeverity.ERROR if share > fail else dg.AssetCheckSeverity.WARN
    results.append(
        dg.AssetCheckResult(
            check_name=QUARANTINE_SHARE,
            passed=share <= warn,
            severity=severity,
            metadata={
                "rows_read": read,
                "rows_quarantined": quarantined,
                "quarantine_share": round(share, 5),
                "warn_above": warn,
                "fail_above": fail,
            },
        )
    )

    dialect = session.dialect
    expected = {c: sql_type(t, dialect) for c, t in staging_contract(source.kind).items()}
    actual_cols = session.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position",
        {"schema": ref.schema, "table": ref.table},
    )
    actual = list(actual_cols["column_name"])
    results.append(
        dg.AssetCheckResult(
            check_name=CONTRACT,
            passed=actual == list(expected),
            metadata={
                "missing": ", ".join(c for c in expected if c not in actual) or "none",
                "unexpected": ", ".join(c for c in actual if c not in expected) or "none",
            },
        )
    )

    staged_quarantine = int(
        session.scalar(
            f"SELECT COUNT(*) FROM {QUARANTINE.sql} WHERE source = :s AND stage = 'staging'",
            {"s": source.name},
        )
    )
    results.append(
        dg.AssetCheckResult(
            check_name=STAGING_CONSERVATION,
            passed=rows_in == total + staged_quarantine + superseded,
            metadata={
                "raw_rows": rows_in,
                "staged": total,
                "quarantined": staged_quarantine,
                "superseded": superseded,
            },
        )
    )
    return results


def _metadata(source: SourceConfig, result: StagingResult, rows_in: int) -> dict[str, object]:
    staged, quarantine, issues = result.staged, result.quarantine, result.issues
    superseded = int((issues["action"] == "superseded").sum()) if len(issues) else 0
    meta: dict[str, object] = {
        "dagster/row_count": len(staged),
        "dagster/table_name": f"staging.{source.name}",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name, dtype, tags={"pii": ""} if name in pii_columns(source.kind) else {}
                )
                for name, dtype in staging_contract(source.kind).items()
            ]
        ),
        "rows_in": rows_in,
        "rows_staged": len(staged),
        "rows_quarantined": len(quarantine),
        "records_superseded": superseded,
        "field_issues": len(issues) - superseded,
        "quarantine_share": round(len(quarantine) / rows_in, 5) if rows_in else 0.0,
        "pii_columns": ", ".join(pii_columns(source.kind)),
        "preview": dg.MetadataValue.md(masked_preview(staged, pii_columns(source.kind))),
    }
    if len(quarantine):
        meta["quarantine_by_rule"] = dg.MetadataValue.md(
            counts_table(quarantine["rule"].value_counts(), "rule")
        )
        meta["quarantine_sample"] = dg.MetadataValue.md(
            markdown_table(quarantine[["file", "line", "rule", "reason"]], max_rows=10)
        )
    if len(issues):
        meta["issues_by_field_and_rule"] = dg.MetadataValue.md(
            counts_table(
                issues.groupby(["field", "rule", "action"]).size(), ["field", "rule", "action"]
            )
        )
    return meta


def build_staging_asset(source: SourceConfig, config: CDPConfig) -> dg.AssetsDefinition:
    key = staging_key(source)
    check_specs = [
        dg.AssetCheckSpec(
            KEY_UNIQUE,
            asset=key,
            blocking=True,
            description=f"record key ({', '.join(RECORD_KEY[source.kind])}) is unique",
        ),
        dg.AssetCheckSpec(
            REQUIRED_PRESENT,
            asset=key,
            blocking=True,
            description="required canonical fields have no nulls",
        ),
        dg.AssetCheckSpec(
            QUARANTINE_SHARE,
            asset=key,
            blocking=True,
            description="share of rows read that were quarantined is under the "
            "configured warn (WARN) and fail (ERROR) thresholds",
        ),
        dg.AssetCheckSpec(
            CONTRACT,
            asset=key,
            blocking=True,
            description="columns equal the staging contract of the kind",
        ),
        dg.AssetCheckSpec(
            STAGING_CONSERVATION,
            asset=key,
            blocking=True,
            description="raw rows = staged + quarantined + superseded versions",
        ),
    ]

    @dg.asset(
        key=key,
        deps=[raw_key(source)],
        group_name=STAGING_GROUP,
        kinds={"python", "pandas", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        description=(
            f"`{source.name}` in the canonical `{source.kind}` schema: typed, normalised "
            "(emails with a matching key, E.164 phones, UTC timestamps, base-currency amounts), "
            "validated, latest version per record id. Rows that cannot stand are in "
            "ops.quarantine with rule and reason; nulled or flagged fields in "
            "ops.data_quality_issues."
        ),
        metadata={"source_kind": source.kind, "trust": source.trust},
        tags={"cdp/layer": "staging", "cdp/source_kind": source.kind, "cdp/pii": "true"},
        check_specs=check_specs,
        automation_condition=dg.AutomationCondition.eager()
        & dg.AutomationCondition.all_deps_blocking_checks_passed(),
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
        ),
    )
    def _staging(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        with wh.transaction() as session:
            raw = _read_raw(session, source)
        as_of = as_of_date(config)
        try:
            result = stage_source(raw, source, config, as_of)
        except StagingError as exc:
            raise dg.Failure(description=str(exc)) from None
        superseded = (
            int((result.issues["action"] == "superseded").sum()) if len(result.issues) else 0
        )
        with wh.transaction() as session:
            _write(session, source, result)
            checks = _checks(session, source, config, len(raw), superseded)
        context.log.info(
            f"{source.name}: {len(raw):,} raw rows → {len(result.staged):,} staged, "
            f"{len(result.quarantine):,} quarantined, {superseded:,} superseded (as of {as_of})"
        )
        return dg.MaterializeResult(
            metadata=_metadata(source, result, len(raw)), check_results=checks
        )

    return _staging

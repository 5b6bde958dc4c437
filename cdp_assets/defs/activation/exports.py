"""`activation.audience_exports`: consent-checked audience files for each destination.

Write, check, publish: the files are staged, the blocking checks' validations run on what was
staged, and only when they pass are the exports logged and then published; a failing check
publishes nothing (the previous `latest.json` stays). The log row is committed before the
publish rename, so a run killed in between leaves a staged export the next run publishes
(`recover_exports`); one killed before the commit leaves one it removes."""
# No `from __future__ import annotations`: Dagster checks the `context` annotation as a class.

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import pandas as pd

from cdp_assets.activation.audience_selection import apply_consent, exclusion_counts, export_rows
from cdp_assets.activation.consent_audit import rows_without_consent
from cdp_assets.activation.export_files import (
    EXPORT_SCHEMA_VERSION,
    ExportResult,
    Recovery,
    discard_export,
    publish_export,
    recover_staged_exports,
    stage_export,
)
from cdp_assets.config import CDPConfig, ExportDestination, resolve_path
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES
from cdp_assets.defs.catalog import (
    ACTIVATION_GROUP,
    CUSTOMER_360,
    CUSTOMER_360_KEY,
    EXPORTS,
    EXPORTS_KEY,
    MEMBERSHIP,
    MEMBERSHIP_KEY,
)
from cdp_assets.defs.resources import ExportsResource, WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import files_in, skip_when_inputs_unchanged
from cdp_assets.privacy.export_scrub import repair_manifests
from cdp_assets.privacy.export_trace_cache import cached_export_traces
from cdp_assets.privacy.identifiers import hash_matches, named_values
from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
from cdp_assets.reporting.markdown import counts_table, markdown_table
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame

CHECK_CONSENT = "exported_people_consented"
CHECK_NO_ERASED = "no_erased_people_in_exports"
EXPORT_LOG_DTYPES: dict[str, str] = {
    "run_id": "string",
    "exported_at": "datetime64[us, UTC]",
    "as_of": "datetime64[us]",
    "destination": "string",
    "audience": "string",
    "channel": "string",
    "format": "string",
    "export_id": "string",
    "unchanged": "boolean",
    "members": "Int64",
    "rows": "Int64",
    "additions": "Int64",
    "removals": "Int64",
    "excluded": "string",  # JSON {reason: count}
    "manifest": "string",  # path relative to the exports folder
}


def current_members(session: WarehouseSession, as_of: dt.date) -> pd.DataFrame:
    """(audience, customer_id) of activation.audience_membership as of `as_of` (not the
    latest run's: a backfill of a past date is followed by today's run in the history)."""
    if not session.table_exists(MEMBERSHIP):
        return pd.DataFrame({"audience": [], "customer_id": []}, dtype="string")
    return session.query(
        f"SELECT audience, customer_id FROM {MEMBERSHIP.sql} "
        f"WHERE as_of = CAST('{as_of.isoformat()}' AS TIMESTAMP)"
    )


# What the exports, their consent audit and the suppression test read of customer_360.
PROFILE_COLUMNS = (
    "customer_id", "email", "phone", "first_name", "email_consent", "sms_consent", "ads_consent",
)  # fmt: skip


def export_profile_dtypes(config: CDPConfig) -> dict[str, str]:
    """The customer_360 columns the exports need (those above and every destination's extra
    `fields`), in contract order with their contract dtypes."""
    wanted = set(PROFILE_COLUMNS) | {f for d in config.exports.destinations for f in d.fields}
    return {c: t for c, t in CUSTOMER_360_DTYPES.items() if c in wanted}


def read_export_profiles(session: WarehouseSession, config: CDPConfig) -> pd.DataFrame:
    """customer_360's rows, only the columns the exports need (a column the table lacks, e.g.
    written by an older version, comes back as nulls, as a full read would give it)."""
    dtypes = export_profile_dtypes(config)
    if not session.table_exists(CUSTOMER_360):
        return session.read_table(CUSTOMER_360, dtypes=dtypes)
    present = set(session.arrow_schema(CUSTOMER_360).names)
    columns = [c for c in dtypes if c in present]
    return session.read_table(CUSTOMER_360, columns=columns or None, dtypes=dtypes)


def with_suppression(profiles: pd.DataFrame, config: CDPConfig, session: WarehouseSession):
    """customer_360 rows with `suppressed`: any identifier on the suppression list."""
    salt = privacy_salt(config)
    suppressed = load_suppressed(session, salt)
    identifiers = named_values(profiles[["customer_id", "email", "phone"]])
    flags = hash_matches(identifiers, salt, suppressed, profiles.index)
    return profiles.assign(suppressed=pd.array(flags, dtype="boolean")), salt, suppressed


def _audience_folders(config: CDPConfig) -> list[tuple[str, str]]:
    """(destination, audience) of every folder audience exports write."""
    return [
        (d.name, audience)
        for d in config.exports.destinations
        for audience in _audiences_of(d, config)
    ]


def _audiences_of(destination: ExportDestination, config: CDPConfig) -> list[str]:
    return list(destination.audiences) or [a.name for a in config.analytics.audiences]


def logged_export_ids(session: WarehouseSession, log: TableRef) -> set[str]:
    """The export ids a log table (audience or campaign exports) has rows for."""
    if not session.table_exists(log):
        return set()
    ids = session.query(f"SELECT DISTINCT export_id FROM {log.sql}")["export_id"]
    return set(ids.dropna().astype(str))


def recover_exports(
    root: Path, folders: Iterable[tuple[str, str]], session: WarehouseSession, log: TableRef
) -> tuple[Recovery, list[str]]:
    """Before a run stages anything: manifests left stale by an interrupted erasure scrub
    are repaired, and exports an interrupted run left staged in `folders` (destination,
    audience) are published when `log` has their row, removed when not."""
    repaired = repair_manifests(root)
    return recover_staged_exports(root, folders, logged_export_ids(session, log)), repaired


def finish_exports(staged: list[ExportResult], passed: bool) -> list[ExportResult]:
    """Publish the staged exports when their checks passed, else remove them all."""
    if passed:
        return [publish_export(result) for result in staged]
    for result in staged:
        discard_export(result)
    return []


def recovery_metadata(recovery: Recovery, repaired: list[str], published: bool) -> dict:
    return {
        "published": published,
        "recovered_exports_published": len(recovery.published),
        "staged_exports_discarded": len(recovery.discarded),
        "manifests_repaired": len(repaired),
    }


def export_log_row(
    result: ExportResult,
    destination: ExportDestination,
    members: int,
    excluded: dict[str, int],
    run_id: str,
    as_of: dt.date,
    root_relative: str,
) -> dict[str, object]:
    return {
        "run_id": run_id,
        "exported_at": pd.Timestamp.now(tz="UTC").floor("us"),
        "as_of": pd.Timestamp(as_of),
        "destination": destination.name,
        "audience": result.audience,
        "channel": destination.channel,
        "format": destination.format,
        "export_id": result.export_id,
        "unchanged": result.unchanged,
        "members": members,
        "rows": result.rows,
        "additions": result.additions,
        "removals": result.removals,
        "excluded": json.dumps(excluded, sort_keys=True),
        "manifest": f"{root_relative}/{result.export_id}/manifest.json",
    }


def _stage_audience_exports(
    config: CDPConfig,
    root: Path,
    profiles: pd.DataFrame,
    members: pd.DataFrame,
    as_of: dt.date,
    run_id: str,
) -> tuple[list[tuple[ExportDestination, ExportResult]], list[dict], dict[str, int]]:
    """Stage one export per destination × audience: ((destination, staged export) pairs,
    their log rows, people left out per reason). A failure part-way leaves staged folders
    that the next run removes (they have no log row)."""
    results: list[tuple[ExportDestination, ExportResult]] = []
    log: list[dict] = []
    reasons: dict[str, int] = {}
    for destination in config.exports.destinations:
        for audience in _audiences_of(destination, config):
            ids = members.loc[members["audience"] == audience, "customer_id"]
            chosen = profiles[profiles["customer_id"].isin(ids)]
            eligible, excluded = apply_consent(chosen, destination.channel)
            counts = exclusion_counts(excluded, destination.channel)
            rows = export_rows(eligible, destination.channel, destination.fields)
            result = stage_export(
                root, destination.name, audience, destination.channel, destination.format,
                rows, as_of, counts,
            )  # fmt: skip
            results.append((destination, result))
            relative = f"{destination.name}/{audience}"
            log.append(
                export_log_row(result, destination, len(chosen), counts, run_id, as_of, relative)
            )
            for reason, n in counts.items():
                reasons[reason] = reasons.get(reason, 0) + n
    return results, log, reasons


def build_exports_asset(config: CDPConfig) -> dg.AssetsDefinition:
    root = resolve_path(config, config.exports.dir)
    formats = {d.format for d in config.exports.destinations} or {"csv"}

    @dg.asset(
        key=EXPORTS_KEY,
        deps=[CUSTOMER_360_KEY, MEMBERSHIP_KEY],
        group_name=ACTIVATION_GROUP,
        kinds={"python", *formats},
        tags={"cdp/layer": "activation"},
        metadata={"exports_dir": str(root), "schema_version": EXPORT_SCHEMA_VERSION},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_CONSENT,
                asset=EXPORTS_KEY,
                blocking=True,
                description="every row of every file written has the channel's consent; blocks "
                "when it fails",
            ),
            dg.AssetCheckSpec(
                CHECK_NO_ERASED,
                asset=EXPORTS_KEY,
                blocking=True,
                description="no export file holds an identifier on the suppression list; blocks when "
                "it fails",
            ),
        ],
    )
    @skip_when_inputs_unchanged(
        config,
        extra=lambda resources: {
            "files": files_in(resources["exports"].path, _audience_folders(config))
        },
    )
    def audience_exports(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, exports: ExportsResource
    ):
        """For each audience × destination in cdp.yaml (exports.destinations): a full file, the
        additions and removals since the last export, and a manifest (rows, checksums, schema
        version, as_of), written atomically under the exports folder; an audience whose file
        would not change issues no new export. Consent is enforced per
        channel — email needs a confirmed opt-in, SMS an SMS opt-in, ads leaves out anyone
        opted out — and erased or suppressed people never appear. Ads files carry SHA-256
        hashes of the normalised email and E.164 phone only. One row per export in
        activation.audience_exports."""
        as_of = analysis_date(context, config)
        run_id = context.run.run_id
        root = exports.path
        with warehouse.get().transaction() as session:
            recovery, repaired = recover_exports(root, _audience_folders(config), session, EXPORTS)
            profiles = read_export_profiles(session, config)
            members = current_members(session, as_of)
            profiles, salt, suppressed = with_suppression(profiles, config, session)
            results, log, reasons = _stage_audience_exports(
                config, root, profiles, members, as_of, run_id
            )
            # The blocking checks' validations, on the staged files, before publishing.
            violations = rows_without_consent(
                ((d.channel, r.directory / f"full.{d.format}") for d, r in results), profiles
            )
            # Files scanned on an earlier run with the same suppression list are remembered.
            trace_scan = cached_export_traces(root, salt, suppressed)
            traces = trace_scan.traces
            passed = violations == 0 and int(traces["traces"].sum()) == 0
            frame = coerce_frame(
                pd.DataFrame(log, columns=list(EXPORT_LOG_DTYPES)), EXPORT_LOG_DTYPES
            )
            if passed:
                # The table lists exports issued; an unchanged audience issues none. Committed
                # before the publish rename: see the module docstring.
                session.append(EXPORTS, frame[~frame["unchanged"].fillna(False)])
            total = session.row_count(EXPORTS) if session.table_exists(EXPORTS) else 0
        finish_exports([r for _, r in results], passed)
        shown = frame[
            ["destination", "audience", "channel", "members", "rows", "additions", "removals"]
            + ["unchanged", "excluded"]
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": total,
                "dagster/table_name": str(EXPORTS),
                "exports": dg.MetadataValue.md(markdown_table(shown, max_rows=60)),
                "files_written": int((~frame["unchanged"].fillna(False)).sum())
                if len(frame) and passed
                else 0,
                "rows_exported": int(frame["rows"].sum()) if len(frame) and passed else 0,
                "left_out_by_reason": dg.MetadataValue.md(
                    counts_table(pd.Series(reasons, dtype="int64"), "reason", "people")
                ),
                "suppressed_customers_in_360": int(profiles["suppressed"].sum()),
                "exports_dir": str(root),
                **recovery_metadata(recovery, repaired, passed),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_CONSENT,
                    passed=violations == 0,
                    metadata={"rows_without_consent": violations, "files": len(results)},
                ),
                dg.AssetCheckResult(
                    check_name=CHECK_NO_ERASED,
                    passed=int(traces["traces"].sum()) == 0,
                    metadata={
                        "files_scanned": len(traces),
                        "rows_scanned": int(traces["rows"].sum()),
                        "rows_of_erased_people": int(traces["traces"].sum()),
                        "files_rescanned": trace_scan.scanned,
                        "files_remembered": trace_scan.remembered,
                    },
                ),
            ],
        )

    return audience_exports

"""`activation.audience_exports`: consent-checked audience files for each destination.

Write, check, publish: the files are staged, the blocking checks' validations run on what was
staged, and only when they pass are the exports logged and then published; a failing check
publishes nothing (the previous `latest.json` stays). The log row is committed before the
publish rename, so a run killed in between leaves a staged export the next run publishes
(`recover_exports`); one killed before the commit leaves one it removes."""
# No `from __future__ import annotations`: Dagster checks the `context` annotation as a class.

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from cdp_assets.activation.audience_selection import (
    apply_consent,
    exclusion_counts,
    export_rows,
    rows_of_customers,
    with_ad_hashes,
)
from cdp_assets.activation.consent_audit import rows_without_consent
from cdp_assets.activation.consent_sources import consent_source_note
from cdp_assets.activation.export_files import (
    EXPORT_SCHEMA_VERSION,
    ExportResult,
    Recovery,
    discard_export,
    publish_export,
    recover_staged_exports,
    stage_export,
)
from cdp_assets.activation.export_inputs import (
    ExportInputs,
    inputs_digest,
    remember_inputs,
    reusable_export,
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
from cdp_assets.privacy.export_trace_cache import (
    TraceScan,
    cached_export_traces,
    suppression_fingerprint,
)
from cdp_assets.privacy.identifiers import hash_matches, named_values
from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
from cdp_assets.reporting.markdown import counts_table, markdown_table
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame
from cdp_assets.warehouse.versions import code_digest
from cdp_assets.warehouse.warehouse import quote_ident

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


def export_figures(log: pd.DataFrame, published: bool) -> dict[str, int]:
    """The run's figures from its export log (EXPORT_LOG_DTYPES): the exports written and
    their rows (none when the checks stopped publication), and the rows of the unchanged
    exports, whose files an earlier run wrote and which stay in place."""
    unchanged = log["unchanged"].fillna(False).astype(bool)
    written = log.loc[~unchanged] if published else log.iloc[0:0]
    return {
        "files_written": len(written),
        "rows_exported": int(written["rows"].sum()),
        "rows_in_unchanged_exports": int(log.loc[unchanged, "rows"].sum()),
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


def sql_text(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


NO_CUSTOMERS_SQL = "SELECT CAST(NULL AS VARCHAR) WHERE 1 = 0"


def audience_members_sql(
    session: WarehouseSession, as_of: dt.date, audiences: Iterable[str]
) -> str:
    """SQL selecting the customer_id of every member of `audiences` as of `as_of`."""
    if not session.table_exists(MEMBERSHIP):
        return NO_CUSTOMERS_SQL
    names = ", ".join(sql_text(a) for a in sorted(set(audiences))) or "NULL"
    return (
        f"SELECT customer_id FROM {MEMBERSHIP.sql} "
        f"WHERE as_of = CAST('{as_of.isoformat()}' AS TIMESTAMP) AND audience IN ({names})"
    )


def read_export_profiles(
    session: WarehouseSession,
    config: CDPConfig,
    dtypes: dict[str, str] | None = None,
    of_customers: str | None = None,
) -> pd.DataFrame:
    """customer_360's rows, only the columns the exports need (`dtypes`, by default
    `export_profile_dtypes`; a column the table lacks, e.g. written by an older version, comes
    back as nulls, as a full read would give it); with `of_customers` (SQL selecting
    customer_id), only those customers' rows: a file can only hold an audience's members, and
    suppression and ads hashes are then computed for them only."""
    dtypes = dtypes or export_profile_dtypes(config)
    if not session.table_exists(CUSTOMER_360):
        return session.read_table(CUSTOMER_360, dtypes=dtypes)
    present = set(session.arrow_schema(CUSTOMER_360).names)
    columns = [c for c in dtypes if c in present]
    where = f"customer_id IN ({of_customers})" if of_customers is not None else None
    return session.read_table(CUSTOMER_360, columns=columns or None, dtypes=dtypes, where=where)


def with_suppression(profiles: pd.DataFrame, config: CDPConfig, session: WarehouseSession):
    """customer_360 rows with `suppressed`: any identifier on the suppression list."""
    salt = privacy_salt(config)
    suppressed = load_suppressed(session, salt)
    identifiers = named_values(profiles[["customer_id", "email", "phone"]])
    flags = hash_matches(identifiers, salt, suppressed, profiles.index)
    flagged = with_ad_hashes(profiles.assign(suppressed=pd.array(flags, dtype="boolean")))
    return flagged, salt, suppressed


def member_row_digests(
    session: WarehouseSession, config: CDPConfig, as_of: dt.date
) -> dict[str, tuple[int, str]]:
    """Per audience as of `as_of`: (members with a customer_360 row, MD5 of those rows' export
    columns in customer_id order), computed in the warehouse, so that an audience whose
    members and their columns did not change is known without reading them."""
    if not (session.table_exists(MEMBERSHIP) and session.table_exists(CUSTOMER_360)):
        return {}
    present = set(session.arrow_schema(CUSTOMER_360).names)
    columns = [c for c in export_profile_dtypes(config) if c in present]
    cells = " || chr(31) || ".join(
        f"COALESCE('v' || CAST(c.{quote_ident(c)} AS VARCHAR), 'n')" for c in columns
    )
    found = session.query(
        f"SELECT m.audience, COUNT(*) AS members, "
        f"MD5(STRING_AGG({cells}, chr(30) ORDER BY {cells})) AS digest "
        f"FROM (SELECT DISTINCT audience, customer_id FROM {MEMBERSHIP.sql} "
        f"WHERE as_of = CAST('{as_of.isoformat()}' AS TIMESTAMP)) m "
        f"JOIN {CUSTOMER_360.sql} c ON c.customer_id = m.customer_id GROUP BY m.audience"
    )
    return {
        str(a): (int(n), str(d))
        for a, n, d in zip(found["audience"], found["members"], found["digest"], strict=True)
    }


def export_digest(
    destination: ExportDestination,
    audience: str,
    members: dict[str, tuple[int, str]],
    suppression: str,
    code: str,
) -> str:
    """What an export's files are a function of: its members' rows, the suppression list,
    the destination's settings, the file schema and the code."""
    return inputs_digest(
        {
            "members": list(members.get(audience, (0, "none"))),
            "suppression": suppression,
            "destination": destination.model_dump(mode="json"),
            "schema_version": EXPORT_SCHEMA_VERSION,
            "code": code,
        }
    )


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


@dataclass
class StagedExports:
    """What `_stage_audience_exports` did: per export its destination, result and inputs
    (`built`: False when the latest export was reused without building a row), the log rows
    and the people left out per reason."""

    results: list[tuple[ExportDestination, ExportResult, ExportInputs, bool]]
    log: list[dict]
    reasons: dict[str, int]

    def built(self) -> list[tuple[ExportDestination, ExportResult]]:
        return [(d, r) for d, r, _, built in self.results if built]


def _build_one(
    root: Path,
    destination: ExportDestination,
    audience: str,
    profiles: pd.DataFrame,
    members: pd.DataFrame,
    as_of: dt.date,
    digest: str,
) -> tuple[ExportResult, ExportInputs]:
    ids = members.loc[members["audience"] == audience, "customer_id"]
    chosen = rows_of_customers(profiles, ids)
    eligible, excluded = apply_consent(chosen, destination.channel)
    counts = exclusion_counts(excluded, destination.channel)
    rows = export_rows(eligible, destination.channel, destination.fields)
    result = stage_export(
        root, destination.name, audience, destination.channel, destination.format,
        rows, as_of, counts,
    )  # fmt: skip
    return result, ExportInputs(digest, len(chosen), counts)


def _stage_audience_exports(
    config: CDPConfig,
    root: Path,
    load: Callable[[], tuple[pd.DataFrame, pd.DataFrame]],
    digests: dict[tuple[str, str], str],
    as_of: dt.date,
    run_id: str,
) -> StagedExports:
    """Stage one export per destination × audience; an export whose inputs' digest is the one
    its latest export was built from is reused as it is, and `load` (profiles, members) is
    only called when one must be built. A failure part-way leaves staged folders that the
    next run removes (they have no log row)."""
    staged = StagedExports([], [], {})
    loaded: tuple[pd.DataFrame, pd.DataFrame] | None = None
    for destination in config.exports.destinations:
        for audience in _audiences_of(destination, config):
            digest = digests[(destination.name, audience)]
            reused = reusable_export(root, destination.name, audience, destination.channel, digest)
            if reused is not None:
                result, inputs = reused
            else:
                loaded = loaded or load()
                result, inputs = _build_one(
                    root, destination, audience, *loaded, as_of=as_of, digest=digest
                )
            staged.results.append((destination, result, inputs, reused is None))
            relative = f"{destination.name}/{audience}"
            staged.log.append(
                export_log_row(
                    result, destination, inputs.members, inputs.excluded, run_id, as_of, relative
                )
            )
            for reason, n in inputs.excluded.items():
                staged.reasons[reason] = staged.reasons.get(reason, 0) + n
    return staged


def no_erased_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CHECK_NO_ERASED,
        asset=key,
        blocking=True,
        description="no export file holds an identifier on the suppression list; blocks when "
        "it fails",
    )


def no_erased_people(scan: TraceScan) -> bool:
    return int(scan.traces["traces"].sum()) == 0


def no_erased_result(scan: TraceScan) -> dg.AssetCheckResult:
    """The check of an export step's scan of every file under the exports folder (the staged
    files included) against the suppression list. The scan is remembered: the erasure step's
    nightly check does not read those files again."""
    traces = scan.traces
    return dg.AssetCheckResult(
        check_name=CHECK_NO_ERASED,
        passed=no_erased_people(scan),
        metadata={
            "files_scanned": len(traces),
            "rows_scanned": int(traces["rows"].sum()),
            "rows_of_erased_people": int(traces["traces"].sum()),
            "files_rescanned": scan.scanned,
            "files_remembered": scan.remembered,
        },
    )


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
            no_erased_spec(EXPORTS_KEY),
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
            salt = privacy_salt(config)
            suppressed = load_suppressed(session, salt)
            suppression = suppression_fingerprint(salt, suppressed)
            code = code_digest()
            rows_digests = member_row_digests(session, config, as_of)
            digests = {
                (d.name, a): export_digest(d, a, rows_digests, suppression, code)
                for d in config.exports.destinations
                for a in _audiences_of(d, config)
            }
            profiles: list[pd.DataFrame] = []

            def load() -> tuple[pd.DataFrame, pd.DataFrame]:
                exported = [
                    a for d in config.exports.destinations for a in _audiences_of(d, config)
                ]
                members_sql = audience_members_sql(session, as_of, exported)
                read = read_export_profiles(session, config, of_customers=members_sql)
                profiles.append(with_suppression(read, config, session)[0])
                return profiles[0], current_members(session, as_of)

            staged = _stage_audience_exports(config, root, load, digests, as_of, run_id)
            built = staged.built()
            # The blocking checks' validations, on the staged files, before publishing. A
            # reused export was checked when it was built, and its members' rows (consent
            # included) and the suppression list are what they were then.
            violations = (
                rows_without_consent(
                    ((d.channel, r.directory / f"full.{d.format}") for d, r in built),
                    profiles[0],
                )
                if built
                else 0
            )
            # Files scanned on an earlier run with the same suppression list are remembered.
            trace_scan = cached_export_traces(root, salt, suppressed)
            passed = violations == 0 and no_erased_people(trace_scan)
            frame = coerce_frame(
                pd.DataFrame(staged.log, columns=list(EXPORT_LOG_DTYPES)), EXPORT_LOG_DTYPES
            )
            if passed:
                # The table lists exports issued; an unchanged audience issues none. Committed
                # before the publish rename: see the module docstring.
                session.append(EXPORTS, frame[~frame["unchanged"].fillna(False)])
            total = session.row_count(EXPORTS) if session.table_exists(EXPORTS) else 0
        published = finish_exports([r for _, r, _, _ in staged.results], passed)
        if passed:
            for (_, _, inputs, _), result in zip(staged.results, published, strict=True):
                remember_inputs(result, inputs)
        results = staged.results
        reasons = staged.reasons
        shown = frame[
            ["destination", "audience", "channel", "members", "rows", "additions", "removals"]
            + ["unchanged", "excluded"]
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": total,
                "dagster/table_name": str(EXPORTS),
                "exports": dg.MetadataValue.md(markdown_table(shown, max_rows=60)),
                **export_figures(frame, passed),
                "left_out_by_reason": dg.MetadataValue.md(
                    counts_table(pd.Series(reasons, dtype="int64"), "reason", "people")
                ),
                **(
                    {"suppressed_audience_members": int(profiles[0]["suppressed"].sum())}
                    if profiles
                    else {}
                ),
                "exports_not_rebuilt": sum(1 for *_, built in results if not built),
                "channels_without_consent_source": consent_source_note(
                    config, (d.channel for d in config.exports.destinations)
                ),
                "exports_dir": str(root),
                **recovery_metadata(recovery, repaired, passed),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_CONSENT,
                    passed=violations == 0,
                    metadata={"rows_without_consent": violations, "files": len(results)},
                ),
                no_erased_result(trace_scan),
            ],
        )

    return audience_exports

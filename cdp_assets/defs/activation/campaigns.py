"""`activation.campaign_assignments` and `activation.campaign_exports`: who is in which arm
of each campaign, and the arms' export files with what each arm gets."""

from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import pandas as pd

from cdp_assets.activation.audience_selection import (
    apply_consent,
    exclusion_counts,
    export_rows,
    rows_of_customers,
)
from cdp_assets.activation.campaign_assignment import (
    ASSIGNMENT_DTYPES,
    assign_campaigns,
    not_exported_arms,
)
from cdp_assets.activation.campaign_offers import held_out_addresses, with_offer, without_held_out
from cdp_assets.activation.consent_audit import rows_without_consent
from cdp_assets.activation.consent_sources import consent_source_note
from cdp_assets.activation.export_files import ExportResult, read_export_file, stage_export
from cdp_assets.config import CampaignConfig, CDPConfig, ExportDestination
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES
from cdp_assets.defs.activation.exports import (
    EXPORT_LOG_DTYPES,
    NO_CUSTOMERS_SQL,
    current_members,
    export_log_row,
    finish_exports,
    no_erased_people,
    no_erased_result,
    no_erased_spec,
    read_export_profiles,
    recover_exports,
    recovery_metadata,
    sql_text,
    with_suppression,
)
from cdp_assets.defs.catalog import (
    ACTIVATION_GROUP,
    CAMPAIGN_ASSIGNMENTS,
    CAMPAIGN_ASSIGNMENTS_KEY,
    CAMPAIGN_EXPORTS,
    CAMPAIGN_EXPORTS_KEY,
    CAMPAIGN_RECIPIENTS,
    CUSTOMER_360_KEY,
    MEMBERSHIP_KEY,
)
from cdp_assets.defs.resources import ExportsResource, WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import files_in, skip_when_inputs_unchanged
from cdp_assets.privacy.export_trace_cache import cached_export_traces
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession, coerce_frame

CHECK_NO_CONTROL = "no_control_member_exported"
CHECK_CONSENT = "exported_people_consented"
CAMPAIGN_LOG_DTYPES = EXPORT_LOG_DTYPES | {"campaign": "string", "arm": "string"}
RECIPIENT_DTYPES: dict[str, str] = {
    "campaign": "string",
    "arm": "string",
    "customer_id": "string",
    "destination": "string",
    "first_exported_at": "datetime64[us, UTC]",
}


def build_assignments_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=CAMPAIGN_ASSIGNMENTS_KEY,
        deps=[MEMBERSHIP_KEY],
        group_name=ACTIVATION_GROUP,
        kinds={"python", "pandas"},
        tags={"cdp/layer": "activation"},
    )
    @skip_when_inputs_unchanged(config)
    def campaign_assignments(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Every customer assigned to an arm of a campaign in cdp.yaml (campaigns): a keyed
        hash of the campaign and customer id placed on the arms' shares, so the assignment is
        reproducible; the global control group (activation.global_control_share) is held out
        of every campaign. A customer keeps their arm for the campaign's life; members who join
        the audience later are assigned on the run they join, while the campaign is active."""
        as_of = analysis_date(context, config)
        settings = config.activation
        with warehouse.get().transaction() as session:
            previous = (
                session.read_table(CAMPAIGN_ASSIGNMENTS, dtypes=ASSIGNMENT_DTYPES)
                if session.table_exists(CAMPAIGN_ASSIGNMENTS)
                else None
            )
            assignments = assign_campaigns(
                config.campaigns,
                current_members(session, as_of),
                previous,
                as_of,
                settings.assignment_salt,
                settings.global_control_share,
                config.timezone,
            )
            session.replace_table(CAMPAIGN_ASSIGNMENTS, assignments)
        sizes = assignments.groupby(["campaign", "arm"]).size().rename("customers").reset_index()
        new = len(assignments) - (0 if previous is None else len(previous))
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": len(assignments),
                "assigned_this_run": new,
                "active_campaigns": ", ".join(
                    c.name for c in config.campaigns if c.active_on(as_of)
                )
                or "none",
                "arms": dg.MetadataValue.md(markdown_table(sizes, max_rows=60)),
            }
        )

    return campaign_assignments


def _arm_members(
    assignments: pd.DataFrame, members: pd.DataFrame, campaign: CampaignConfig, arm: str
) -> pd.Series:
    """Customers of `arm` who are in the campaign's audience today."""
    mine = assignments[(assignments["campaign"] == campaign.name) & (assignments["arm"] == arm)]
    audience = members.loc[members["audience"] == campaign.audience, "customer_id"]
    return rows_of_customers(mine, audience)["customer_id"]


def _held_out(
    assignments: pd.DataFrame, profiles: pd.DataFrame, campaign: CampaignConfig
) -> pd.DataFrame:
    """customer_360 rows of the campaign's control arm and global control group."""
    ids = assignments.loc[
        (assignments["campaign"] == campaign.name)
        & assignments["arm"].isin(not_exported_arms(campaign)),
        "customer_id",
    ]
    return rows_of_customers(profiles, ids)


def _control_rows_exported(
    written: list[tuple[CampaignConfig, ExportDestination, ExportResult]],
    assignments: pd.DataFrame,
    profiles: pd.DataFrame,
) -> int:
    """Rows of this run's campaign files that reach a control or global-control member of
    that campaign, re-read from the files: by customer id, or by an address (ads: a hash of
    one) that member has."""
    found = 0
    for campaign, destination, result in written:
        held_out = _held_out(assignments, profiles, campaign)
        full = read_export_file(result.directory / f"full.{destination.format}")
        kept = without_held_out(
            full, destination.channel, held_out_addresses(held_out, destination.channel)
        )
        by_id = (
            len(rows_of_customers(full, held_out["customer_id"]))
            if "customer_id" in full.columns
            else 0
        )
        found += max(int(by_id), len(full) - len(kept))
    return found


def _campaign_folders(campaigns: Iterable[CampaignConfig]) -> list[tuple[str, str]]:
    """(destination, `<campaign>__<arm>`) of every arm file the campaigns may write."""
    return [
        (name, f"{campaign.name}__{arm.name}")
        for campaign in campaigns
        for name in campaign.destinations
        for arm in campaign.arms
        if arm.name not in not_exported_arms(campaign)
    ]


def _recipients(
    session: WarehouseSession, new: list[pd.DataFrame], exported_at: pd.Timestamp
) -> int:
    """Appends the customers exported for the first time per campaign, arm and destination."""
    if not new:
        return (
            session.row_count(CAMPAIGN_RECIPIENTS)
            if session.table_exists(CAMPAIGN_RECIPIENTS)
            else 0
        )
    frame = pd.concat(new, ignore_index=True).assign(first_exported_at=exported_at)
    frame = coerce_frame(frame, RECIPIENT_DTYPES).drop_duplicates(
        ["campaign", "arm", "customer_id", "destination"]
    )
    if session.table_exists(CAMPAIGN_RECIPIENTS):
        known = session.read_table(CAMPAIGN_RECIPIENTS, dtypes=RECIPIENT_DTYPES)
        keys = ["campaign", "arm", "customer_id", "destination"]
        frame = frame.merge(known[keys], on=keys, how="left", indicator=True)
        frame = frame[frame["_merge"] == "left_only"].drop(columns="_merge")
    session.append(CAMPAIGN_RECIPIENTS, frame)
    return session.row_count(CAMPAIGN_RECIPIENTS)


def build_campaign_exports_asset(config: CDPConfig) -> dg.AssetsDefinition:
    destinations = {d.name: d for d in config.exports.destinations}
    formats = {destinations[n].format for c in config.campaigns for n in c.destinations}

    @dg.asset(
        key=CAMPAIGN_EXPORTS_KEY,
        deps=[CAMPAIGN_ASSIGNMENTS_KEY, CUSTOMER_360_KEY, MEMBERSHIP_KEY],
        group_name=ACTIVATION_GROUP,
        kinds={"python", *formats},
        tags={"cdp/layer": "activation"},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NO_CONTROL,
                asset=CAMPAIGN_EXPORTS_KEY,
                blocking=True,
                description="no member of a control arm or of the global control group is in "
                "any campaign file; blocks when it fails",
            ),
            dg.AssetCheckSpec(
                CHECK_CONSENT,
                asset=CAMPAIGN_EXPORTS_KEY,
                blocking=True,
                description="every row of every campaign file has the channel's consent; blocks when "
                "it fails",
            ),
            no_erased_spec(CAMPAIGN_EXPORTS_KEY),
        ],
    )
    @skip_when_inputs_unchanged(
        config,
        extra=lambda resources: {
            "files": files_in(resources["exports"].path, _campaign_folders(config.campaigns))
        },
    )
    def campaign_exports(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, exports: ExportsResource
    ):
        """For each active campaign × destination × arm that gets something (never the control
        arm, never the global control group): the arm's members still in the audience, with
        the channel's consent, without any address a held-out member shares (a couple's email,
        a household's phone), and the arm's offer (coupon code, discount, the customer's
        recommendations) as columns, written like audience exports (full, additions, removals,
        manifest) under `<destination>/<campaign>__<arm>/`. Files are staged, checked (no
        control member, consent, no identifier on the suppression list) and published only when
        the three checks pass. Who received what first, when, in activation.campaign_recipients;
        one row per export in activation.campaign_exports."""
        as_of = analysis_date(context, config)
        root: Path = exports.path
        now = pd.Timestamp.now(tz="UTC").floor("us")
        active = [c for c in config.campaigns if c.active_on(as_of)]
        with warehouse.get().transaction() as session:
            recovery, repaired = recover_exports(
                root, _campaign_folders(config.campaigns), session, CAMPAIGN_EXPORTS
            )
            # Only the customers assigned to an active campaign: arm members, controls and
            # the global control group (suppression and ads hashes are computed per row).
            campaigns_sql = ", ".join(sql_text(c.name) for c in active) or "NULL"
            assigned_sql = (
                f"SELECT customer_id FROM {CAMPAIGN_ASSIGNMENTS.sql} "
                f"WHERE campaign IN ({campaigns_sql})"
                if session.table_exists(CAMPAIGN_ASSIGNMENTS)
                else NO_CUSTOMERS_SQL
            )
            profiles = read_export_profiles(
                session, config, dtypes=CUSTOMER_360_DTYPES, of_customers=assigned_sql
            )
            profiles, salt, suppressed = with_suppression(profiles, config, session)
            members = current_members(session, as_of)
            assignments = session.read_table(CAMPAIGN_ASSIGNMENTS, dtypes=ASSIGNMENT_DTYPES)
            log, written, recipients = [], [], []
            for campaign in active:
                held_out = _held_out(assignments, profiles, campaign)
                for name in campaign.destinations:
                    destination = destinations[name]
                    withheld = held_out_addresses(held_out, destination.channel)
                    for arm in campaign.arms:
                        if arm.name in not_exported_arms(campaign):
                            continue
                        ids = _arm_members(assignments, members, campaign, arm.name)
                        chosen = rows_of_customers(profiles, ids)
                        eligible, excluded = apply_consent(chosen, destination.channel)
                        counts = exclusion_counts(excluded, destination.channel)
                        rows = export_rows(eligible, destination.channel, destination.fields)
                        rows = without_held_out(rows, destination.channel, withheld)
                        rows = with_offer(rows, profiles, campaign, arm.name)
                        label = f"{campaign.name}__{arm.name}"
                        result = stage_export(
                            root, name, label, destination.channel, destination.format,
                            rows, as_of, counts,
                        )  # fmt: skip
                        written.append((campaign, destination, result))
                        log.append(
                            export_log_row(
                                result,
                                destination,
                                len(chosen),
                                counts,
                                context.run.run_id,
                                as_of,
                                f"{name}/{label}",
                            )  # fmt: skip
                            | {"campaign": campaign.name, "arm": arm.name}
                        )
                        recipients.append(
                            pd.DataFrame({"customer_id": eligible["customer_id"]}).assign(
                                campaign=campaign.name, arm=arm.name, destination=name
                            )
                        )
            # The blocking checks' validations, on the staged files, before publishing.
            leaked = _control_rows_exported(written, assignments, profiles)
            violations = rows_without_consent(
                ((d.channel, r.directory / f"full.{d.format}") for _, d, r in written), profiles
            )
            # Every file under the folder, the staged ones included, against the list; the
            # scan is remembered, so the erasure step's nightly check does not read them.
            trace_scan = cached_export_traces(root, salt, suppressed)
            passed = leaked == 0 and violations == 0 and no_erased_people(trace_scan)
            frame = coerce_frame(
                pd.DataFrame(log, columns=list(CAMPAIGN_LOG_DTYPES)), CAMPAIGN_LOG_DTYPES
            )
            if passed:  # committed before the publish rename (see defs.activation.exports)
                session.append(CAMPAIGN_EXPORTS, frame[~frame["unchanged"].fillna(False)])
                recipient_rows = _recipients(session, recipients, now)
            else:
                recipient_rows = _recipients(session, [], now)
            total = (
                session.row_count(CAMPAIGN_EXPORTS) if session.table_exists(CAMPAIGN_EXPORTS) else 0
            )
        finish_exports([r for _, _, r in written], passed)
        shown = frame[["campaign", "arm", "destination", "channel", "members", "rows"]]
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": total,
                "campaign_recipients": recipient_rows,
                "files_written": int((~frame["unchanged"].fillna(False)).sum())
                if len(frame) and passed
                else 0,
                "exports": dg.MetadataValue.md(markdown_table(shown, max_rows=60)),
                "channels_without_consent_source": consent_source_note(
                    config,
                    (destinations[n].channel for c in config.campaigns for n in c.destinations),
                ),
                **recovery_metadata(recovery, repaired, passed),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_NO_CONTROL,
                    passed=leaked == 0,
                    metadata={"control_rows_in_files": leaked, "files": len(written)},
                ),
                dg.AssetCheckResult(
                    check_name=CHECK_CONSENT,
                    passed=violations == 0,
                    metadata={"rows_without_consent": violations, "files": len(written)},
                ),
                no_erased_result(trace_scan),
            ],
        )

    return campaign_exports

"""`activation.audience_membership` and `activation.audience_changes`: who is in which
audience, run by run."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.analytics.audiences import (
    audience_frame,
    audience_members,
    score_frame,
    score_tables_used,
    size_jumps,
    update_membership,
)
from cdp_assets.analytics.rfm import RFM_DTYPES
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.defs.catalog import (
    ACTIVATION_GROUP,
    CHANGES,
    CHANGES_KEY,
    FEATURES,
    FEATURES_KEY,
    MEMBERSHIP,
    MEMBERSHIP_KEY,
    RFM,
    RFM_KEY,
    score_key,
    table_ref,
)
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table

CHECK_SIZES_STABLE = "audience_sizes_stable"


def build_audiences_asset(config: CDPConfig) -> dg.AssetsDefinition:
    names = [a.name for a in config.analytics.audiences]
    # Predictive audiences: rules over model scores are evaluated after scoring.
    score_keys = [score_key(t) for t in score_tables_used(config.analytics.audiences)]

    @dg.multi_asset(
        name="audiences",
        specs=[
            dg.AssetSpec(
                MEMBERSHIP_KEY,
                deps=[FEATURES_KEY, RFM_KEY, *score_keys],
                group_name=ACTIVATION_GROUP,
                kinds={"pandas"},
                description="Members of every audience in cdp.yaml (analytics.audiences), one "
                "row per member per run, with the date the current membership began: the "
                "history of who was in which audience when.",
            ),
            dg.AssetSpec(
                CHANGES_KEY,
                deps=[FEATURES_KEY, RFM_KEY, *score_keys],
                group_name=ACTIVATION_GROUP,
                kinds={"pandas"},
                description="Each run's additions to and removals from every audience.",
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_SIZES_STABLE,
                asset=MEMBERSHIP_KEY,
                description="no audience's size moves by more than "
                "analytics.audience_change_warn_share between runs (warn)",
            )
        ],
        can_subset=True,
    )
    @skip_when_inputs_unchanged(config)
    def audiences(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Evaluates the audience rules (parsed, never evaluated as code) over features and RFM
        segments, and keeps the membership history and changes (either, or both: each is
        the same function of the history before the analysis date and today's members)."""
        as_of = analysis_date(context, config)
        selected = context.selected_asset_keys
        with warehouse.get().transaction() as session:
            features = session.read_table(FEATURES, dtypes=FEATURE_DTYPES)
            rfm = session.read_table(RFM, dtypes=RFM_DTYPES)
            history = session.read_table(MEMBERSHIP) if session.table_exists(MEMBERSHIP) else None
            changes = session.read_table(CHANGES) if session.table_exists(CHANGES) else None
            scores = {
                key.path[-1]: session.read_table(table_ref(key))
                for key in score_keys
                if session.table_exists(table_ref(key))
            }
            customers = audience_frame(features, rfm, score_frame(scores, as_of))
            current = audience_members(config.analytics.audiences, customers)
            membership, all_changes = update_membership(history, current, as_of, changes)
            if MEMBERSHIP_KEY in selected:
                session.replace_table(MEMBERSHIP, membership)
            if CHANGES_KEY in selected:
                session.replace_table(CHANGES, all_changes)
        if MEMBERSHIP_KEY in selected:
            warn_share = config.analytics.audience_change_warn_share
            yield _membership_result(
                membership, size_jumps(membership, as_of, warn_share, names), as_of, warn_share
            )
        if CHANGES_KEY in selected:
            yield _changes_result(all_changes, as_of)

    return audiences


def size_table(jumps: pd.DataFrame) -> pd.DataFrame:
    """`size_jumps` as people read it: the change as a signed percentage ("+13.5 %"), "new"
    for an audience empty at the previous run that has members now, blank on a first run."""
    change = [
        _change_text(share, before, size)
        for share, before, size in zip(
            jumps["change_share"], jumps["previous_size"], jumps["size"], strict=True
        )
    ]
    return jumps.drop(columns="change_share").assign(change=change)[
        ["audience", "previous_size", "size", "change", "warn"]
    ]


def _change_text(share: float, before: object, size: int) -> str:
    if pd.isna(before):
        return ""
    if before == 0:
        return "new" if size > 0 else "0 %"
    return f"{share * 100:+.1f} %"


def _membership_result(
    membership: pd.DataFrame, jumps: pd.DataFrame, as_of: dt.date, warn_share: float
) -> dg.MaterializeResult:
    table = size_table(jumps)
    jumped = table[table["warn"]]
    return dg.MaterializeResult(
        asset_key=MEMBERSHIP_KEY,
        metadata={
            "dagster/row_count": len(membership),
            "as_of": str(as_of),
            "sizes": dg.MetadataValue.md(markdown_table(table, max_rows=40)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_SIZES_STABLE,
                asset_key=MEMBERSHIP_KEY,
                passed=jumped.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "jumped": ", ".join(jumped["audience"]) or "none",
                    "warn_above": f"{warn_share:.0%} change in size, or members in an "
                    "audience empty at the previous run",
                    "jumps": dg.MetadataValue.md(
                        markdown_table(jumped.drop(columns="warn"), max_rows=40)
                    ),
                },
            )
        ],
    )


def _changes_result(all_changes: pd.DataFrame, as_of: dt.date) -> dg.MaterializeResult:
    today = all_changes[pd.to_datetime(all_changes["as_of"]) == pd.Timestamp(as_of)]
    per_audience = today.groupby(["audience", "change"]).size().rename("customers").reset_index()
    return dg.MaterializeResult(
        asset_key=CHANGES_KEY,
        metadata={
            "dagster/row_count": len(all_changes),
            "as_of": str(as_of),
            "this_run": dg.MetadataValue.md(markdown_table(per_audience, max_rows=40)),
        },
    )

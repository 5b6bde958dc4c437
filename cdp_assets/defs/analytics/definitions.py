"""`analytics` and `activation` wiring: features, RFM, cohorts, audiences, NPS, support."""

import dagster as dg
import pandas as pd

from cdp_assets.analytics.audience_rules import check_rules
from cdp_assets.analytics.audiences import (
    audience_columns,
    audience_frame,
    audience_members,
    size_jumps,
    update_membership,
)
from cdp_assets.analytics.cohorts import (
    acquisition_comparison,
    cohorts,
    customer_acquisition,
    retention_heatmap,
)
from cdp_assets.analytics.features import customer_features, existing_core_tables
from cdp_assets.analytics.nps import comment_themes, nps_summary
from cdp_assets.analytics.rfm import RFM_DTYPES, rfm_grid_plot, rfm_scores, segment_summary
from cdp_assets.analytics.support import support_summary
from cdp_assets.config import CDPConfig, as_of_date
from cdp_assets.contracts.features import FEATURE_DESCRIPTIONS, FEATURE_DTYPES
from cdp_assets.defs.identity.definitions import CORE_AUTOMATION, PROFILES_KEY
from cdp_assets.defs.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
    project_config,
    warehouse_kind,
)
from cdp_assets.identity.facts import FACT_COLUMNS
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import TableRef

ANALYTICS_GROUP = "analytics"
ACTIVATION_GROUP = "activation"
FEATURES = TableRef("analytics", "customer_features")
RFM = TableRef("analytics", "rfm")
MEMBERSHIP = TableRef("activation", "audience_membership")
CHANGES = TableRef("activation", "audience_changes")
FEATURES_KEY = dg.AssetKey(["analytics", "customer_features"])
RFM_KEY = dg.AssetKey(["analytics", "rfm"])
MEMBERSHIP_KEY = dg.AssetKey(["activation", "audience_membership"])


def _core_keys(config: CDPConfig) -> list[dg.AssetKey]:
    keys = [PROFILES_KEY]
    for kind, (table, _) in FACT_COLUMNS.items():
        if config.sources_of_kind(kind):
            keys.append(dg.AssetKey(["core", table]))
    if config.sources_of_kind("order_items") and config.sources_of_kind("orders"):
        keys.append(dg.AssetKey(["core", "order_items"]))
    return keys


def _kinds(config: CDPConfig) -> set[str]:
    return {"sql", "pandas", warehouse_kind(config)}


def build_features_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=FEATURES_KEY,
        deps=_core_keys(config),
        group_name=ANALYTICS_GROUP,
        kinds=_kinds(config),
        pool=WAREHOUSE_POOL,
        automation_condition=CORE_AUTOMATION,
        metadata={"column_descriptions": dg.MetadataValue.json(FEATURE_DESCRIPTIONS)},
        check_specs=[
            dg.AssetCheckSpec(
                "one_row_per_customer",
                asset=FEATURES_KEY,
                blocking=True,
                description="one feature row per customer profile, customer_id unique",
            )
        ],
    )
    def customer_features_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """One row per customer as of the analysis date, computed in SQL from facts before the
        end of that day only: recency, frequency and net monetary value, order value, tenure
        and purchase gaps, categories and channels, web engagement over 30/90 days (sessions,
        product views, add-to-carts, abandoned carts), support (tickets, unresolved, SLA
        breaches), latest NPS and CSAT, loyalty and consent. Column descriptions in metadata."""
        as_of = as_of_date(config)
        wh = warehouse.get()
        with wh.transaction() as session:
            tables = existing_core_tables(session)
            features = customer_features(session, as_of, config.analytics.support_sla_hours, tables)
            session.replace_table(FEATURES, features)
            profiles = session.row_count(TableRef("core", "customer_profiles"))
        unique = features["customer_id"].is_unique
        buyers = int((features["frequency"] > 0).sum())
        context.log.info(f"{len(features):,} customers' features as of {as_of}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(features),
                "as_of": str(as_of),
                "customers_with_purchases": buyers,
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(c, t, description=FEATURE_DESCRIPTIONS[c])
                        for c, t in FEATURE_DTYPES.items()
                    ]
                ),
                "summary": dg.MetadataValue.md(
                    markdown_table(
                        features.describe()
                        .T.reset_index()
                        .round(2)
                        .rename(columns={"index": "feature"}),
                        max_rows=40,
                    )
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="one_row_per_customer",
                    passed=unique and len(features) == profiles,
                    metadata={"rows": len(features), "profiles": profiles, "unique": unique},
                )
            ],
        )

    return customer_features_asset


def build_rfm_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=RFM_KEY,
        deps=[FEATURES_KEY],
        group_name=ANALYTICS_GROUP,
        kinds={"pandas", "matplotlib", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        automation_condition=CORE_AUTOMATION,
        check_specs=[
            dg.AssetCheckSpec("scores_within_1_to_5", asset=RFM_KEY, blocking=True),
            dg.AssetCheckSpec("segment_shares_sum_to_100", asset=RFM_KEY, blocking=True),
        ],
    )
    def rfm(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Recency, frequency and monetary scores 1-5 (quintiles; equal values share a score)
        of every customer with a purchase, the score string and the named segment from the
        R x F map in cdp.yaml (analytics.rfm_segments). Segment sizes and revenue shares, and
        the R x F grid, in metadata."""
        wh = warehouse.get()
        with wh.transaction() as session:
            features = session.read_table(FEATURES, dtypes=FEATURE_DTYPES)
            scores = rfm_scores(features, config.analytics.rfm_segments)
            session.replace_table(RFM, scores)
        summary = segment_summary(scores)
        in_range = bool(scores[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all())
        total_share = float(summary["share"].sum()) if len(summary) else 1.0
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(scores),
                "segments": dg.MetadataValue.md(markdown_table(summary.round(4), max_rows=20)),
                "rfm_grid": dg.MetadataValue.md(
                    rfm_grid_plot(scores, config.analytics.rfm_segments)
                ),
            },
            check_results=[
                dg.AssetCheckResult(check_name="scores_within_1_to_5", passed=in_range),
                dg.AssetCheckResult(
                    check_name="segment_shares_sum_to_100",
                    passed=scores.empty or abs(total_share - 1.0) < 1e-9,
                    metadata={"share_sum": round(total_share * 100, 6)},
                ),
            ],
        )

    return rfm


def build_cohorts_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="cohort_analysis",
        specs=[
            dg.AssetSpec(
                ["analytics", "cohorts"],
                deps=_core_keys(config),
                group_name=ANALYTICS_GROUP,
                kinds=_kinds(config) | {"matplotlib"},
                automation_condition=CORE_AUTOMATION,
                description="Monthly acquisition cohorts by months since the first purchase: "
                "active customers, retention rate, revenue and cumulative revenue per customer, "
                "with a retention heatmap.",
            ),
            dg.AssetSpec(
                ["analytics", "acquisition_value"],
                deps=_core_keys(config),
                group_name=ANALYTICS_GROUP,
                kinds=_kinds(config),
                automation_condition=CORE_AUTOMATION,
                description="Holiday-acquired customers (analytics.holiday_windows) against "
                "everyone else, and loyalty members against non-members: value and repeat rate "
                "within 60, 90 and 180 days of the first purchase.",
            ),
        ],
        pool=WAREHOUSE_POOL,
    )
    def cohort_analysis(warehouse: WarehouseResource):
        """Cohorts and acquisition-window comparisons, aggregated in the warehouse."""
        as_of = as_of_date(config)
        analytics = config.analytics
        with warehouse.get().transaction() as session:
            tables = existing_core_tables(session)
            table = cohorts(session, as_of, tables)
            acquisition = customer_acquisition(
                session, as_of, analytics.value_horizons_days, tables
            )
            comparison = acquisition_comparison(
                acquisition,
                as_of,
                analytics.holiday_windows,
                analytics.value_horizons_days,
                config.timezone,
            )
            session.replace_table(TableRef("analytics", "cohorts"), table)
            session.replace_table(TableRef("analytics", "acquisition_value"), comparison)
        yield dg.MaterializeResult(
            asset_key=["analytics", "cohorts"],
            metadata={
                "dagster/row_count": len(table),
                "cohorts": int(table["cohort_month"].nunique()) if len(table) else 0,
                "retention_heatmap": dg.MetadataValue.md(retention_heatmap(table)),
            },
        )
        yield dg.MaterializeResult(
            asset_key=["analytics", "acquisition_value"],
            metadata={
                "dagster/row_count": len(comparison),
                "comparison": dg.MetadataValue.md(markdown_table(comparison.round(3), max_rows=30)),
            },
        )

    return cohort_analysis


def build_audiences_asset(config: CDPConfig) -> dg.AssetsDefinition:
    names = [a.name for a in config.analytics.audiences]

    @dg.multi_asset(
        name="audiences",
        specs=[
            dg.AssetSpec(
                MEMBERSHIP_KEY,
                deps=[FEATURES_KEY, RFM_KEY],
                group_name=ACTIVATION_GROUP,
                kinds={"pandas", warehouse_kind(config)},
                automation_condition=CORE_AUTOMATION,
                description="Members of every audience in cdp.yaml (analytics.audiences), one "
                "row per member per run, with the date the current membership began: the "
                "history of who was in which audience when.",
            ),
            dg.AssetSpec(
                ["activation", "audience_changes"],
                deps=[FEATURES_KEY, RFM_KEY],
                group_name=ACTIVATION_GROUP,
                kinds={"pandas", warehouse_kind(config)},
                automation_condition=CORE_AUTOMATION,
                description="Each run's additions to and removals from every audience.",
            ),
        ],
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                "audience_sizes_stable",
                asset=MEMBERSHIP_KEY,
                description="no audience's size moves by more than "
                "analytics.audience_change_warn_share between runs (warn)",
            )
        ],
    )
    def audiences(warehouse: WarehouseResource):
        """Evaluates the audience rules (parsed, never evaluated as code) over features and RFM
        segments, and keeps the membership history and changes."""
        as_of = as_of_date(config)
        with warehouse.get().transaction() as session:
            features = session.read_table(FEATURES, dtypes=FEATURE_DTYPES)
            rfm = session.read_table(RFM, dtypes=RFM_DTYPES)
            history = session.read_table(MEMBERSHIP) if session.table_exists(MEMBERSHIP) else None
            changes = session.read_table(CHANGES) if session.table_exists(CHANGES) else None
            current = audience_members(config.analytics.audiences, audience_frame(features, rfm))
            membership, all_changes = update_membership(history, current, as_of, changes)
            session.replace_table(MEMBERSHIP, membership)
            session.replace_table(CHANGES, all_changes)
        jumps = size_jumps(membership, as_of, config.analytics.audience_change_warn_share, names)
        today = all_changes[pd.to_datetime(all_changes["as_of"]) == pd.Timestamp(as_of)]
        yield dg.MaterializeResult(
            asset_key=MEMBERSHIP_KEY,
            metadata={
                "dagster/row_count": len(membership),
                "sizes": dg.MetadataValue.md(markdown_table(jumps.round(4), max_rows=40)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="audience_sizes_stable",
                    asset_key=MEMBERSHIP_KEY,
                    passed=not bool(jumps["warn"].any()),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"jumped": ", ".join(jumps.loc[jumps["warn"], "audience"]) or "none"},
                )
            ],
        )
        yield dg.MaterializeResult(
            asset_key=["activation", "audience_changes"],
            metadata={
                "dagster/row_count": len(all_changes),
                "this_run": dg.MetadataValue.md(
                    markdown_table(
                        today.groupby(["audience", "change"])
                        .size()
                        .rename("customers")
                        .reset_index(),
                        max_rows=40,
                    )
                ),
            },
        )

    return audiences


def build_nps_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="survey_insight",
        specs=[
            dg.AssetSpec(
                ["analytics", "nps"],
                deps=[dg.AssetKey(["core", "survey_responses"]), RFM_KEY],
                group_name=ANALYTICS_GROUP,
                kinds={"pandas", warehouse_kind(config)},
                automation_condition=CORE_AUTOMATION,
                description="NPS (promoters 9-10 minus detractors 0-6) and CSAT overall, by "
                "month and by RFM segment.",
            ),
            dg.AssetSpec(
                ["analytics", "nps_themes"],
                deps=[dg.AssetKey(["core", "survey_responses"])],
                group_name=ANALYTICS_GROUP,
                kinds={"scikit-learn", warehouse_kind(config)},
                automation_condition=CORE_AUTOMATION,
                description="What promoters and detractors write: the top TF-IDF terms and "
                "two-word phrases of their comments.",
            ),
        ],
        pool=WAREHOUSE_POOL,
    )
    def survey_insight(warehouse: WarehouseResource):
        """NPS, CSAT and comment themes from core.survey_responses."""
        as_of = as_of_date(config)
        with warehouse.get().transaction() as session:
            responses = session.read_table(TableRef("core", "survey_responses"))
            rfm = session.read_table(RFM, dtypes=RFM_DTYPES)
            summary = nps_summary(responses, rfm[["customer_id", "rfm_segment"]], as_of)
            themes = comment_themes(responses)
            session.replace_table(TableRef("analytics", "nps"), summary)
            session.replace_table(TableRef("analytics", "nps_themes"), themes)
        overall = summary[summary["breakdown"] == "overall"]
        yield dg.MaterializeResult(
            asset_key=["analytics", "nps"],
            metadata={
                "dagster/row_count": len(summary),
                "nps": float(overall["nps"].iloc[0]) if len(overall) else None,
                "by_segment": dg.MetadataValue.md(
                    markdown_table(summary[summary["breakdown"] == "segment"].round(2))
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key=["analytics", "nps_themes"],
            metadata={
                "dagster/row_count": len(themes),
                "themes": dg.MetadataValue.md(markdown_table(themes.round(4), max_rows=30)),
            },
        )

    return survey_insight


def build_support_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=["analytics", "support_summary"],
        deps=[dg.AssetKey(["core", "support_tickets"])],
        group_name=ANALYTICS_GROUP,
        kinds={"pandas", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        automation_condition=CORE_AUTOMATION,
    )
    def support_summary_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Support volume by category and channel, median resolution time, SLA breach rate
        (analytics.support_sla_hours) and the most common issues."""
        as_of = as_of_date(config)
        with warehouse.get().transaction() as session:
            tickets = session.read_table(TableRef("core", "support_tickets"))
            summary = support_summary(tickets, as_of, config.analytics.support_sla_hours)
            session.replace_table(TableRef("analytics", "support_summary"), summary)
        overall = summary[summary["breakdown"] == "overall"]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(summary),
                "sla_breach_rate": float(overall["sla_breach_rate"].iloc[0])
                if len(overall)
                else None,
                "summary": dg.MetadataValue.md(markdown_table(summary.round(3), max_rows=40)),
            }
        )

    return support_summary_asset


@dg.definitions
def analytics() -> dg.Definitions:
    config = project_config()
    if not config.sources_of_kind("customers") and not config.sources_of_kind("orders"):
        return dg.Definitions()
    # A bad audience rule is a configuration error at load time, naming the audience.
    check_rules(config.analytics.audiences, audience_columns())
    assets = [
        build_features_asset(config),
        build_rfm_asset(config),
        build_audiences_asset(config),
    ]
    if config.sources_of_kind("orders"):
        assets.append(build_cohorts_asset(config))
    if config.sources_of_kind("survey_responses"):
        assets.append(build_nps_asset(config))
    if config.sources_of_kind("support_tickets"):
        assets.append(build_support_asset(config))
    return dg.Definitions(assets=assets)

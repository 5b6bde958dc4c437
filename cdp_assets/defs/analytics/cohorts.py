"""`analytics.cohorts` and `analytics.acquisition_value`: cohorts and acquisition windows."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.analytics.cohorts import (
    acquisition_comparison,
    cohorts,
    customer_acquisition,
    retention_heatmap,
)
from cdp_assets.analytics.features import existing_core_tables
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import ANALYTICS_GROUP, core_keys, table_ref
from cdp_assets.defs.charts import chart
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession

COHORTS_KEY = dg.AssetKey(["analytics", "cohorts"])
ACQUISITION_KEY = dg.AssetKey(["analytics", "acquisition_value"])


def build_cohorts_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="cohort_analysis",
        specs=[
            dg.AssetSpec(
                COHORTS_KEY,
                deps=core_keys(config),
                group_name=ANALYTICS_GROUP,
                kinds={"sql", "pandas", "matplotlib"},
                description="Monthly acquisition cohorts by months since the first purchase: "
                "active customers, retention rate, revenue and cumulative revenue per customer, "
                "with a retention heatmap.",
            ),
            dg.AssetSpec(
                ACQUISITION_KEY,
                deps=core_keys(config),
                group_name=ANALYTICS_GROUP,
                kinds={"sql", "pandas"},
                description="Holiday-acquired customers (analytics.holiday_windows) against "
                "everyone else, and loyalty members against non-members: value and repeat rate "
                "within 60, 90 and 180 days of the first purchase.",
            ),
        ],
        can_subset=True,
    )
    @skip_when_inputs_unchanged(config)
    def cohort_analysis(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Cohorts and acquisition-window comparisons (either, or both), aggregated in the
        warehouse."""
        as_of = analysis_date(context, config)
        selected = context.selected_asset_keys
        with warehouse.get().transaction() as session:
            tables = existing_core_tables(session)
            if COHORTS_KEY in selected:
                table = cohorts(session, as_of, tables)
                session.replace_table(table_ref(COHORTS_KEY), table)
            if ACQUISITION_KEY in selected:
                comparison = _acquisition_value(session, config, as_of, tables)
                session.replace_table(table_ref(ACQUISITION_KEY), comparison)
        if COHORTS_KEY in selected:
            yield dg.MaterializeResult(
                asset_key=COHORTS_KEY,
                metadata={
                    "as_of": str(as_of),
                    "dagster/row_count": len(table),
                    "cohorts": int(table["cohort_month"].nunique()) if len(table) else 0,
                    **chart(
                        "cohort retention heatmap",
                        "Of the customers whose first purchase was in each month (rows), the "
                        "share who bought again N months later (columns); month 0 shows the "
                        "cohort's size.",
                        retention_heatmap(table),
                    ),
                },
            )
        if ACQUISITION_KEY in selected:
            yield dg.MaterializeResult(
                asset_key=ACQUISITION_KEY,
                metadata={
                    "as_of": str(as_of),
                    "dagster/row_count": len(comparison),
                    "comparison": dg.MetadataValue.md(
                        markdown_table(comparison.round(3), max_rows=30)
                    ),
                },
            )

    return cohort_analysis


def _acquisition_value(
    session: WarehouseSession, config: CDPConfig, as_of: dt.date, tables: frozenset[str]
) -> pd.DataFrame:
    analytics = config.analytics
    acquisition = customer_acquisition(session, as_of, analytics.value_horizons_days, tables)
    return acquisition_comparison(
        acquisition,
        as_of,
        analytics.holiday_windows,
        analytics.value_horizons_days,
        config.timezone,
    )

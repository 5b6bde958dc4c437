"""`analytics.support_summary`: support volume, resolution times and SLA breaches."""

import dagster as dg

from cdp_assets.analytics.support import support_summary
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import ANALYTICS_GROUP, SUPPORT_TICKETS_KEY, table_ref
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import TableRef


def build_support_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=["analytics", "support_summary"],
        deps=[SUPPORT_TICKETS_KEY],
        group_name=ANALYTICS_GROUP,
        kinds={"pandas"},
    )
    @skip_when_inputs_unchanged(config)
    def support_summary_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Support volume by category and channel, median resolution time, SLA breach rate
        (analytics.support_sla_hours) and the most common issues."""
        as_of = analysis_date(context, config)
        with warehouse.get().transaction() as session:
            tickets = session.read_table(table_ref(SUPPORT_TICKETS_KEY))
            summary = support_summary(tickets, as_of, config.analytics.support_sla_hours)
            session.replace_table(TableRef("analytics", "support_summary"), summary)
        overall = summary[summary["breakdown"] == "overall"]
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": len(summary),
                "sla_breach_rate": float(overall["sla_breach_rate"].iloc[0])
                if len(overall)
                else None,
                "summary": dg.MetadataValue.md(markdown_table(summary.round(3), max_rows=40)),
            }
        )

    return support_summary_asset

"""`analytics.nps` and `analytics.nps_themes`: what customers say in surveys."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.analytics.nps import comment_themes, nps_summary
from cdp_assets.analytics.rfm import RFM_DTYPES
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    ANALYTICS_GROUP,
    RFM,
    RFM_KEY,
    SURVEY_RESPONSES_KEY,
    table_ref,
)
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table

NPS_KEY = dg.AssetKey(["analytics", "nps"])
THEMES_KEY = dg.AssetKey(["analytics", "nps_themes"])


def build_nps_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="survey_insight",
        specs=[
            dg.AssetSpec(
                NPS_KEY,
                deps=[SURVEY_RESPONSES_KEY, RFM_KEY],
                group_name=ANALYTICS_GROUP,
                kinds={"pandas"},
                description="NPS (promoters 9-10 minus detractors 0-6) and CSAT overall, by "
                "month and by RFM segment.",
            ),
            dg.AssetSpec(
                THEMES_KEY,
                deps=[SURVEY_RESPONSES_KEY],
                group_name=ANALYTICS_GROUP,
                kinds={"scikit-learn"},
                description="What promoters and detractors write: the top TF-IDF terms and "
                "two-word phrases of their comments.",
            ),
        ],
        can_subset=True,
    )
    @skip_when_inputs_unchanged(config)
    def survey_insight(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """NPS, CSAT and comment themes from core.survey_responses (either, or both)."""
        as_of = analysis_date(context, config)
        selected = context.selected_asset_keys
        with warehouse.get().transaction() as session:
            responses = session.read_table(table_ref(SURVEY_RESPONSES_KEY))
            if NPS_KEY in selected:
                rfm = session.read_table(RFM, dtypes=RFM_DTYPES)
                summary = nps_summary(responses, rfm[["customer_id", "rfm_segment"]], as_of)
                session.replace_table(table_ref(NPS_KEY), summary)
            if THEMES_KEY in selected:
                themes = comment_themes(responses)
                session.replace_table(table_ref(THEMES_KEY), themes)
        if NPS_KEY in selected:
            yield _nps_result(summary, as_of)
        if THEMES_KEY in selected:
            yield _themes_result(themes, as_of)

    return survey_insight


def _nps_result(summary: pd.DataFrame, as_of: dt.date) -> dg.MaterializeResult:
    overall = summary[summary["breakdown"] == "overall"]
    return dg.MaterializeResult(
        asset_key=NPS_KEY,
        metadata={
            "dagster/row_count": len(summary),
            "as_of": str(as_of),
            "nps": float(overall["nps"].iloc[0]) if len(overall) else None,
            "by_segment": dg.MetadataValue.md(
                markdown_table(summary[summary["breakdown"] == "segment"].round(2))
            ),
        },
    )


def _themes_result(themes: pd.DataFrame, as_of: dt.date) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        asset_key=THEMES_KEY,
        metadata={
            "dagster/row_count": len(themes),
            "as_of": str(as_of),
            "themes": dg.MetadataValue.md(markdown_table(themes.round(4), max_rows=30)),
        },
    )

"""`activation/insights_report`: the self-contained HTML customer insights report.

In the activation group, so the nightly job rebuilds it and `score_models` refreshes it after
the scores it shows (that job takes the activation assets downstream of the scores)."""

import dagster as dg

from cdp_assets.config import CDPConfig, resolve_path
from cdp_assets.defs.catalog import (
    ACTIVATION_GROUP,
    CAMPAIGN_RESULTS_KEY,
    FEATURES_KEY,
    RFM_KEY,
    SALES_FORECAST_KEY,
    core_keys,
    score_key,
)
from cdp_assets.defs.column_schema import WRITES_FILE, WRITES_TAG
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import files_under, skip_when_inputs_unchanged
from cdp_assets.privacy.suppression import privacy_salt
from cdp_assets.reporting.insights.report import build_report, key_figures, write_report

INSIGHTS_REPORT_KEY = dg.AssetKey(["activation", "insights_report"])
COHORTS_KEY = dg.AssetKey(["analytics", "cohorts"])
ACQUISITION_KEY = dg.AssetKey(["analytics", "acquisition_value"])
NPS_KEY = dg.AssetKey(["analytics", "nps"])
THEMES_KEY = dg.AssetKey(["analytics", "nps_themes"])


def report_inputs(config: CDPConfig) -> list[dg.AssetKey]:
    """The assets whose tables the report reads, among those this configuration builds."""
    keys = list(core_keys(config))
    if not (config.sources_of_kind("customers") or config.sources_of_kind("orders")):
        return keys
    keys += [FEATURES_KEY, RFM_KEY]
    if config.sources_of_kind("survey_responses"):
        keys += [NPS_KEY, THEMES_KEY]
    if config.sources_of_kind("orders"):
        keys += [COHORTS_KEY, ACQUISITION_KEY, score_key("churn_scores"), score_key("customer_ltv")]
        keys.append(SALES_FORECAST_KEY)
        if config.campaigns:
            keys.append(CAMPAIGN_RESULTS_KEY)
    return keys


def build_insights_report_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=INSIGHTS_REPORT_KEY,
        deps=report_inputs(config),
        group_name=ACTIVATION_GROUP,
        kinds={"html", "matplotlib"},
        tags={WRITES_TAG: WRITES_FILE},
    )
    @skip_when_inputs_unchanged(
        config,
        extra=lambda _: {"files": files_under(resolve_path(config, config.reporting.report_dir))},
    )
    def insights_report(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """A self-contained HTML page for people who do not use Dagster (every chart and style
        inlined, customers under pseudonyms): headline figures, RFM segments and their movement,
        retention, acquisition value, lifetime value, churn risk, NPS/CSAT, support SLA,
        campaign results and the sales forecast. Written to `reporting.report_dir` as a dated
        copy and `customer_insights_latest.html`; a section whose input does not exist says so."""
        as_of = analysis_date(context, config)
        salt = privacy_salt(config)
        with warehouse.get().transaction() as session:
            report = build_report(session, config, as_of, salt)
        folder = resolve_path(config, config.reporting.report_dir)
        try:
            dated, latest = write_report(report, folder)
        except OSError as exc:
            raise dg.Failure(description=str(exc)) from None
        context.log.info(f"insights report written to {dated}")
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "path": dg.MetadataValue.path(str(dated)),
                "latest": dg.MetadataValue.path(str(latest)),
                "sections_rendered": len(report.rendered),
                "sections_skipped": len(report.skipped),
                "rendered": ", ".join(report.rendered) or "-",
                "skipped": ", ".join(report.skipped) or "-",
                **key_figures(report),
            }
        )

    return insights_report

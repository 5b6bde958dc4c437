"""`analytics` wiring: features, RFM, cohorts, NPS and support figures."""

import dagster as dg

from cdp_assets.analytics.audience_rules import check_rules
from cdp_assets.analytics.audiences import audience_columns, score_columns, score_tables_used
from cdp_assets.config import ConfigError
from cdp_assets.defs.analytics.campaign_results import build_campaign_results_asset
from cdp_assets.defs.analytics.cohorts import build_cohorts_asset
from cdp_assets.defs.analytics.features import build_features_asset, build_features_checks
from cdp_assets.defs.analytics.rfm import build_rfm_asset, build_rfm_checks
from cdp_assets.defs.analytics.support import build_support_asset
from cdp_assets.defs.analytics.survey import build_nps_asset
from cdp_assets.defs.resources import project_config


@dg.definitions
def analytics() -> dg.Definitions:
    config = project_config()
    if not config.sources_of_kind("customers") and not config.sources_of_kind("orders"):
        return dg.Definitions()
    # A bad audience rule is a configuration error at load time, naming the audience.
    check_rules(config.analytics.audiences, audience_columns(score_columns()))
    used = score_tables_used(config.analytics.audiences)
    if used and not config.sources_of_kind("orders"):
        raise ConfigError(
            "analytics.audiences: rules over model scores need the models, which need an "
            "orders source"
        )
    if "uplift_scores" in used and not any(c.control_arm for c in config.campaigns):
        raise ConfigError(
            "analytics.audiences: rules over uplift scores need the uplift model, which learns "
            "from campaigns with a control arm (campaigns)"
        )
    assets = [build_features_asset(config), build_rfm_asset(config)]
    if config.sources_of_kind("orders"):
        assets.append(build_cohorts_asset(config))
    if config.sources_of_kind("survey_responses"):
        assets.append(build_nps_asset(config))
    if config.sources_of_kind("support_tickets"):
        assets.append(build_support_asset(config))
    if config.campaigns and config.sources_of_kind("orders"):
        assets.append(build_campaign_results_asset(config))
    return dg.Definitions(assets=assets, asset_checks=[build_features_checks(), build_rfm_checks()])

"""`ml` wiring: weekly training with champion/challenger promotion, nightly scoring with the
promoted model, and the checks around both."""

import dagster as dg

from cdp_assets.defs.catalog import has_models, has_order_items
from cdp_assets.defs.ml.classifier_scoring import build_scoring_asset
from cdp_assets.defs.ml.classifier_training import build_training_asset
from cdp_assets.defs.ml.classifiers import CLASSIFIERS
from cdp_assets.defs.ml.demand import build_product_demand_asset, build_stockout_risk_asset
from cdp_assets.defs.ml.forecast import build_sales_forecast_asset
from cdp_assets.defs.ml.jobs import model_jobs
from cdp_assets.defs.ml.ltv import build_ltv_scoring_asset, build_ltv_training_asset
from cdp_assets.defs.ml.recommendations import build_recommendations_asset
from cdp_assets.defs.ml.uplift import build_uplift_scoring_asset, build_uplift_training_asset
from cdp_assets.defs.resources import project_config


@dg.definitions
def ml() -> dg.Definitions:
    config = project_config()
    if not has_models(config):
        return dg.Definitions()
    assets: list[dg.AssetsDefinition] = []
    for spec in CLASSIFIERS:
        if not spec.applies_to(config):
            continue  # e.g. no lead scoring when only orders make people known
        assets += [build_training_asset(config, spec), build_scoring_asset(config, spec)]
    assets += [build_ltv_training_asset(config), build_ltv_scoring_asset(config)]
    if has_order_items(config):
        assets.append(build_recommendations_asset(config))
        assets.append(build_product_demand_asset(config))
        if config.sources_of_kind("inventory"):
            assets.append(build_stockout_risk_asset(config))
    assets.append(build_sales_forecast_asset(config))
    if any(c.control_arm for c in config.campaigns):
        assets += [build_uplift_training_asset(config), build_uplift_scoring_asset(config)]
    return dg.Definitions.merge(dg.Definitions(assets=assets), model_jobs(config))

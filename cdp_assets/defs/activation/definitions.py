"""`activation` wiring: audience membership, the customer 360 table, the audience exports and
the customer insights report."""

import dagster as dg

from cdp_assets.defs.activation.audiences import build_audiences_asset
from cdp_assets.defs.activation.campaigns import (
    build_assignments_asset,
    build_campaign_exports_asset,
)
from cdp_assets.defs.activation.customer_360 import build_customer_360_asset
from cdp_assets.defs.activation.exports import build_exports_asset
from cdp_assets.defs.activation.insights import build_insights_report_asset
from cdp_assets.defs.resources import project_config


@dg.definitions
def activation() -> dg.Definitions:
    config = project_config()
    assets = [build_customer_360_asset(config)]
    # Audiences are evaluated over features and RFM, which need customers or orders.
    if config.sources_of_kind("customers") or config.sources_of_kind("orders"):
        assets.append(build_audiences_asset(config))
    if config.exports.destinations:
        assets.append(build_exports_asset(config))
    if config.campaigns:
        assets += [build_assignments_asset(config), build_campaign_exports_asset(config)]
    assets.append(build_insights_report_asset(config))
    return dg.Definitions(assets=assets)

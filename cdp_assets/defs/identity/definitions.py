"""`core` layer wiring: identity resolution, golden profiles and resolved facts."""

import dagster as dg

from cdp_assets.defs.catalog import fact_key, has_order_items
from cdp_assets.defs.identity.facts import build_fact_asset, build_order_items_asset
from cdp_assets.defs.identity.profiles import build_profile_checks, build_profiles_asset
from cdp_assets.defs.identity.resolution import build_identity_asset
from cdp_assets.defs.identity.staged import fact_sources
from cdp_assets.defs.resources import project_config
from cdp_assets.identity.facts import IDENTITY_KINDS


@dg.definitions
def identity() -> dg.Definitions:
    config = project_config()
    if not config.sources_of_kind("customers") and not fact_sources(config):
        return dg.Definitions()
    fact_kinds = [kind for kind in IDENTITY_KINDS if config.sources_of_kind(kind)]
    assets = [build_identity_asset(config)]
    assets += [build_fact_asset(config, kind) for kind in fact_kinds]
    if has_order_items(config):
        assets.append(build_order_items_asset(config))
    assets.append(build_profiles_asset(config, [fact_key(kind) for kind in fact_kinds]))
    return dg.Definitions(assets=assets, asset_checks=[build_profile_checks()])

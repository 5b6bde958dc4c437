"""Privacy wiring: erasure (asset, job, sensor, trace check) and retention."""

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import ERASURE_JOB, ERASURE_KEY, raw_key, staging_key
from cdp_assets.defs.privacy.erasure import build_erasure_asset
from cdp_assets.defs.privacy.erasure_sensor import build_erasure_sensor
from cdp_assets.defs.privacy.retention import build_retention_asset
from cdp_assets.defs.privacy.storage_trace import build_storage_trace_check
from cdp_assets.defs.resources import project_config


def erasure_selection(config: CDPConfig) -> list[dg.AssetKey]:
    keys = [ERASURE_KEY]
    for source in config.sources_of_kind("erasure_requests"):
        keys[:0] = [raw_key(source), staging_key(source)]
    return keys


@dg.definitions
def privacy() -> dg.Definitions:
    config = project_config()
    assets = []
    jobs, sensors, checks = [], [], []
    if config.sources_of_kind("erasure_requests"):
        assets.append(build_erasure_asset(config))
        checks.append(build_storage_trace_check(config))
        job = dg.define_asset_job(
            ERASURE_JOB,
            selection=erasure_selection(config),
            description="Ingest new erasure requests and erase the people they name from every "
            "layer and export; then prove no trace of them remains.",
        )
        jobs.append(job)
        sensors.append(build_erasure_sensor(config, job))
    retention = build_retention_asset(config)
    if retention is not None:
        assets.append(retention)
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=jobs, sensors=sensors)

"""Ingestion wiring built from cdp.yaml: raw and staging assets per source, the ingestion job
and the landing-files sensor."""

from __future__ import annotations

import dagster as dg

from cdp_assets.defs.catalog import INGESTION_JOB, RAW_GROUP, STAGING_GROUP
from cdp_assets.defs.ingestion.raw import build_raw_asset
from cdp_assets.defs.ingestion.sensors import build_landing_sensor
from cdp_assets.defs.ingestion.staging import build_staging_asset
from cdp_assets.defs.ingestion.staging_checks import build_staging_checks
from cdp_assets.defs.resources import project_config


@dg.definitions
def ingestion() -> dg.Definitions:
    config = project_config()
    assets, checks = [], []
    for source in config.sources:
        assets.append(build_raw_asset(source, config))
        assets.append(build_staging_asset(source, config))
        checks.append(build_staging_checks(source, config))
    ingest_job = dg.define_asset_job(
        INGESTION_JOB,
        selection=dg.AssetSelection.groups(RAW_GROUP, STAGING_GROUP),
        description="Read new landing files and SQL snapshots of every source, then stage them.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[ingest_job],
        sensors=[build_landing_sensor(config, ingest_job)],
    )

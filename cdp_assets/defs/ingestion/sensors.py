"""A sensor that starts ingestion of a source when new or changed files land."""

from __future__ import annotations

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import raw_key, staging_key
from cdp_assets.defs.file_sensors import file_arrival_sensor
from cdp_assets.ingest.landing import run_key


def build_landing_sensor(
    config: CDPConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    def ingest(name: str, files: dict[str, str]) -> dg.RunRequest:
        source = config.source(name)
        return dg.RunRequest(
            run_key=run_key(name, files),
            asset_selection=[raw_key(source), staging_key(source)],
            tags={"cdp/source": name, "cdp/trigger": "landing_files"},
        )

    return file_arrival_sensor(
        name="landing_files_sensor",
        config=config,
        job=job,
        sources=None,
        run_request_for=ingest,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts ingestion (raw + staging) of each source whose landing files are "
        "new or changed. File identity (name, size, mtime) is in the run key; the cursor "
        "holds the landing state last acted on.",
        nothing_new="no new or changed landing files",
    )

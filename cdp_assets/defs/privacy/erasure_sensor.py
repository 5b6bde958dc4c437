"""A sensor that starts the erasure job when an erasure-requests file lands or changes."""

from __future__ import annotations

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.defs.file_sensors import file_arrival_sensor
from cdp_assets.ingest.landing import run_key


def build_erasure_sensor(
    config: CDPConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    def erase(name: str, files: dict[str, str]) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=run_key(f"erasure:{name}", files),
            tags={"cdp/source": name, "cdp/trigger": "erasure_requests"},
        )

    return file_arrival_sensor(
        name="erasure_requests_sensor",
        config=config,
        job=job,
        sources={s.name for s in config.sources_of_kind("erasure_requests") if s.format != "sql"},
        run_request_for=erase,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts the erasure job when an erasure_requests file lands or changes. "
        "File identity (name, size, mtime) is in the run key; the cursor holds the state last "
        "acted on. SQL erasure sources are processed by the nightly refresh.",
        nothing_new="no new erasure request files",
    )

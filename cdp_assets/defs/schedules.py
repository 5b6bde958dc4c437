"""The nightly refresh of the whole asset graph."""

from __future__ import annotations

import dagster as dg

from cdp_assets.defs.catalog import NIGHTLY_JOB, TRAINING_GROUP
from cdp_assets.defs.resources import project_config


@dg.definitions
def nightly() -> dg.Definitions:
    config = project_config()
    job = dg.define_asset_job(
        NIGHTLY_JOB,
        # Models retrain weekly (train_models); the nightly run scores with the promoted ones.
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups(TRAINING_GROUP),
        description="Ingest every source and rebuild everything downstream of it, scoring with "
        "the promoted models.",
    )
    schedule = dg.ScheduleDefinition(
        name="nightly_refresh_schedule",
        job=job,
        cron_schedule="0 2 * * *",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Every night at 02:00 {config.timezone}.",
    )
    return dg.Definitions(jobs=[job], schedules=[schedule])

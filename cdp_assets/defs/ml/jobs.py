"""The model jobs: weekly training (scheduled), and scoring with what follows it."""

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    ACTIVATION_GROUP,
    SCORE_JOB,
    SCORING_GROUP,
    TRAIN_JOB,
    TRAINING_GROUP,
)


def model_jobs(config: CDPConfig) -> dg.Definitions:
    train = dg.define_asset_job(
        TRAIN_JOB,
        selection=dg.AssetSelection.groups(TRAINING_GROUP),
        description="Retrain every model on point-in-time snapshots; promote challengers "
        "that beat their champion on the same holdout.",
    )
    scoring = dg.AssetSelection.groups(SCORING_GROUP)
    score = dg.define_asset_job(
        SCORE_JOB,
        # The activation tables that carry the scores (customer_360, exports) follow them.
        selection=scoring | (scoring.downstream() & dg.AssetSelection.groups(ACTIVATION_GROUP)),
        description="Score every customer with the promoted models, then refresh the customer "
        "360 table and the audience exports that carry the scores.",
    )
    weekly = dg.ScheduleDefinition(
        name="weekly_retraining_schedule",
        job=train,
        cron_schedule="0 3 * * 0",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Sundays at 03:00 {config.timezone}.",
    )
    return dg.Definitions(jobs=[train, score], schedules=[weekly])

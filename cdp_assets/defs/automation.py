"""The sensor that evaluates the assets' automation conditions, running by default: with the
daemon up (`make ui`), staging follows raw, core follows staging and so on, without a click."""

from __future__ import annotations

import dagster as dg

from cdp_assets.defs.file_sensors import sensor_interval_seconds

AUTOMATION_SENSOR = "default_automation_condition_sensor"


@dg.definitions
def automation() -> dg.Definitions:
    sensor = dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        # As often as the file sensors look, and at least every 30 s (Dagster's default).
        minimum_interval_seconds=min(sensor_interval_seconds(), 30),
        description="Materializes assets whose automation condition is met (staging after "
        "new raw data, everything downstream after its inputs, never past a failed blocking "
        "check). Runs by default; stop it in the UI to drive every run by hand.",
    )
    return dg.Definitions(sensors=[sensor])

"""The skeleton of the sensors that act on files landing: the landing-files sensor (ingestion)
and the erasure-requests sensor (privacy)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.ingest.landing import LandingState, landing_state, new_arrivals

# (source name, its new or changed files) → the run to start
RunRequestFor = Callable[[str, dict[str, str]], dg.RunRequest]


def file_arrival_sensor(
    *,
    name: str,
    config: CDPConfig,
    job: dg.UnresolvedAssetJobDefinition,
    sources: Collection[str] | None,
    run_request_for: RunRequestFor,
    default_status: dg.DefaultSensorStatus,
    description: str,
    nothing_new: str,
) -> dg.SensorDefinition:
    """A sensor that starts one run per source whose landing files are new or changed. File
    identity (name, size, mtime) is in the run key; the cursor holds the landing state last
    acted on, so an evaluation is idempotent."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=60,
        default_status=default_status,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        previous: LandingState = json.loads(context.cursor) if context.cursor else {}
        current = landing_state(config, sources)
        requests = [
            run_request_for(source, files)
            for source, files in sorted(new_arrivals(previous, current).items())
        ]
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(current, sort_keys=True),
            skip_reason=None if requests else dg.SkipReason(nothing_new),
        )

    return _sensor

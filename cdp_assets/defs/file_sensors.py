"""The skeleton of the sensors that act on files landing: the landing-files sensor (ingestion)
and the erasure-requests sensor (privacy)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection

import dagster as dg

from cdp_assets.config import CDPConfig, warehouse_url
from cdp_assets.config.secrets import mask_secrets, mask_url
from cdp_assets.ingest.landing import LandingState, already_ingested, landing_state, new_arrivals
from cdp_assets.ingest.ledger import ingested_pairs
from cdp_assets.warehouse import Warehouse
from cdp_assets.warehouse.warehouse import duckdb_file

# (source name, its new or changed files) → the run to start
RunRequestFor = Callable[[str, dict[str, str]], dg.RunRequest]

# How often the file sensors look (seconds); tests and impatient demos set it lower.
INTERVAL_ENV = "CDP_SENSOR_INTERVAL_SECONDS"


def sensor_interval_seconds() -> int:
    value = os.environ.get(INTERVAL_ENV, "60")
    try:
        seconds = int(value)
    except ValueError:
        raise dg.DagsterInvalidDefinitionError(
            f"{INTERVAL_ENV}={value!r}: give a whole number of seconds"
        ) from None
    return max(seconds, 1)


def ledger_state(
    config: CDPConfig, current: LandingState, why_not: list[str] | None = None
) -> LandingState | None:
    """What the warehouse's file ledger says was already loaded ({} for a warehouse not
    created yet), or None when it cannot be read now (a run holds the DuckDB file, the
    database does not answer); then `why_not` receives the reason, credentials masked."""
    url = warehouse_url(config)
    file = duckdb_file(url)
    if file is not None and not file.exists():
        return {}
    warehouse = Warehouse(url, read_only=True)
    try:
        with warehouse.transaction() as session:
            ingested = ingested_pairs(session, current.keys())
    except Exception as exc:  # noqa: BLE001 - any failure to read means "look again later"
        if why_not is not None:
            lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            why_not.append(mask_secrets(lines[0] if lines else type(exc).__name__, url))
        return None
    finally:
        # A DuckDB file held open by the daemon would stop every run from writing it.
        warehouse.engine.dispose()
    return already_ingested(config, current, ingested)


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
    acted on, so an evaluation is idempotent. With no cursor yet (first tick on an instance)
    the files the warehouse's ledger lists with the same bytes count as acted on: a sensor
    turned on after `make demo` does not load them again."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=default_status,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        current = landing_state(config, sources)
        if context.cursor:
            previous: LandingState = json.loads(context.cursor)
        else:
            why_not: list[str] = []
            known = ledger_state(config, current, why_not)
            if known is None:
                return dg.SensorResult(
                    skip_reason=dg.SkipReason(
                        f"first look: the warehouse {mask_url(warehouse_url(config))} cannot be "
                        "read now (busy with a run, or not answering), its file ledger will be "
                        f"read on the next tick: {'; '.join(why_not)}"
                    )
                )
            previous = known
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

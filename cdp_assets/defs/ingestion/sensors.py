"""A sensor that starts ingestion of a source when new or changed files land."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from cdp_assets.config import CDPConfig, SourceConfig, landing_dir
from cdp_assets.defs.ingestion.raw import raw_key
from cdp_assets.defs.ingestion.staging import staging_key
from cdp_assets.ingest import discover_files

LandingState = dict[str, dict[str, str]]  # source → relative file → "size:mtime_ns"


def landing_state(config: CDPConfig) -> LandingState:
    """What is in the landing folder now, per file source (file identity = size + mtime)."""
    root = landing_dir(config)
    state: LandingState = {}
    for source in config.sources:
        if source.format == "sql":
            continue
        files: dict[str, str] = {}
        for path in discover_files(root, source):
            stat = path.stat()
            files[Path(path).relative_to(root).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
        state[source.name] = files
    return state


def new_arrivals(previous: LandingState, current: LandingState) -> dict[str, dict[str, str]]:
    """Per source, the files that are new or whose identity changed since `previous`."""
    arrivals: dict[str, dict[str, str]] = {}
    for source, files in current.items():
        seen = previous.get(source, {})
        changed = {f: ident for f, ident in files.items() if seen.get(f) != ident}
        if changed:
            arrivals[source] = changed
    return arrivals


def run_key(source: str, files: dict[str, str]) -> str:
    """Same files with the same identities → same run key, so a re-evaluation is a no-op."""
    digest = hashlib.sha256(
        json.dumps(sorted(files.items()), ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:16]
    return f"{source}:{digest}"


def build_landing_sensor(
    config: CDPConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    sources: dict[str, SourceConfig] = {s.name: s for s in config.sources}

    @dg.sensor(
        name="landing_files_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Starts ingestion (raw + staging) of each source whose landing files are "
        "new or changed. File identity (name, size, mtime) is in the run key; the cursor "
        "holds the landing state last acted on.",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        previous: LandingState = json.loads(context.cursor) if context.cursor else {}
        current = landing_state(config)
        requests = [
            dg.RunRequest(
                run_key=run_key(name, files),
                asset_selection=[raw_key(sources[name]), staging_key(sources[name])],
                tags={"cdp/source": name, "cdp/trigger": "landing_files"},
            )
            for name, files in sorted(new_arrivals(previous, current).items())
        ]
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(current, sort_keys=True),
            skip_reason=None if requests else dg.SkipReason("no new or changed landing files"),
        )

    return landing_files_sensor

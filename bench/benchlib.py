"""Shared pieces of the benchmark scripts: child-process phases, step timings, peak memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(script: str | Path, phase: str, *args: str) -> dict:
    """Runs `script --phase PHASE ARGS` in a fresh process (so its peak memory is its own) and
    returns the JSON object it prints last; a failing phase shows its stderr and exits."""
    proc = subprocess.run(
        [sys.executable, str(script), "--phase", phase, *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-8000:])
        raise SystemExit(f"bench phase {phase!r} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def step_seconds(instance, run_id: str) -> dict[str, float]:  # noqa: ANN001 - DagsterInstance
    """Seconds per successful step of a run, from the instance's event log."""
    starts: dict[str, float] = {}
    steps: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = round(entry.timestamp - starts[event.step_key], 2)
    return steps

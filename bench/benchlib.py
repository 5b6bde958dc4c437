"""Shared pieces of the benchmark scripts: child-process phases, step timings, peak memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(script: str | Path, phase: str, *args: str) -> dict:
    """Runs `script --phase PHASE ARGS` in a fresh process (so its peak memory is its own) and
    returns the JSON object it prints last. Progress shows as it goes: the phase's start and
    end on stderr, and the phase's own stderr (logs, errors) passed through live."""
    started = time.perf_counter()
    progress(f"phase {phase} started")
    proc = subprocess.run(
        [sys.executable, str(script), "--phase", phase, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench phase {phase!r} failed with exit code {proc.returncode}")
    progress(f"phase {phase} done in {time.perf_counter() - started:.1f} s")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def progress(message: str) -> None:
    """A progress line on stderr (stdout stays the figures)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


def step_windows(instance, run_id: str) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """(start, end) unix times of every step of a run that ended, successful or not, from the
    instance's event log (to match samples of memory taken meanwhile)."""
    starts: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif (
            event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts
        ):
            windows[event.step_key] = (starts[event.step_key], entry.timestamp)
    return windows

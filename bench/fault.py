"""Benchmark (reliability): `kill -9` at every write of a stage, then a re-run, compared with
an uninterrupted run — the fault suite's chosen kill points (cdp_assets_tests/fault) swept
over every call of the warehouse's write methods.

    .venv/bin/python bench/fault.py [--stages orders,core,exports,erasure]
        [--targets append,replace_table,...] [--max-calls 60] [--postgres URL] [--workdir DIR]

For each stage and each write method, the stage is run from the saved state before it and
killed at the method's 1st call, then its 2nd, …, until a run completes without reaching the
call (or `--max-calls`); after each kill the stage runs again and every table and export file
is compared with the uninterrupted run's (`harness.differences`). Prints one line per kill
point and a summary: kill points tried, re-runs equal to the uninterrupted run, and which
differed (first difference shown). Exit status 1 when any differed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cdp_assets_tests.conftest import reset_postgres  # noqa: E402
from cdp_assets_tests.fault.harness import (  # noqa: E402
    STAGE_ORDER,
    Baseline,
    Driver,
    build_baseline,
    differences,
    drop_saved_states,
    kill,
    new_project,
    restore_state,
    snapshot,
)

WRITE_METHODS = (
    "append",
    "replace_table",
    "replace_table_as",
    "delete_where",
    "create_table",
    "order_columns",
)
SESSION = "cdp_assets.warehouse.warehouse:WarehouseSession."


def sweep_point(baseline: Baseline, stage: str, method: str, nth: int) -> str | None:
    """'not reached' when the run completes before the call, 'ok', or the first difference."""
    project, driver = baseline.project, baseline.driver
    restore_state(project, baseline.state_before(stage))
    killed = driver.run(stage, kill(SESSION + method, nth, "after"))
    if killed["exit"] == "ok" and killed["reached"] is None:
        return None
    if killed["exit"] != "killed":
        return f"killed run ended {killed['exit']}: {killed['errors'][:1]}"
    rerun = driver.run(stage)
    if rerun["exit"] != "ok":
        return f"re-run ended {rerun['exit']}: {rerun['errors'][:1]}"
    found = differences(baseline.snapshots[stage], snapshot(project))
    return "ok" if not found else found[0].splitlines()[0]


def sweep(baseline: Baseline, stages: list[str], methods: list[str], max_calls: int) -> int:
    tried, differing = 0, []
    for stage in stages:
        for method in methods:
            for nth in range(1, max_calls + 1):
                started = time.perf_counter()
                outcome = sweep_point(baseline, stage, method, nth)
                if outcome is None:
                    break
                tried += 1
                label = f"{stage:8} {method:17} call {nth:3}"
                print(f"{label} {time.perf_counter() - started:5.1f}s  {outcome}", flush=True)
                if outcome != "ok":
                    differing.append(f"{label}: {outcome}")
    print(f"\n{tried} kill points, {tried - len(differing)} re-runs equal to the uninterrupted run")
    for line in differing:
        print("  differs:", line)
    return 1 if differing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default="orders,core,analytics,exports,erasure")
    parser.add_argument("--targets", default=",".join(WRITE_METHODS))
    parser.add_argument("--max-calls", type=int, default=60)
    parser.add_argument("--postgres", help="a PostgreSQL URL of a database of your own")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_fault_bench_"))
    if args.postgres:
        reset_postgres(args.postgres)
    project = new_project(root / "project", args.postgres)
    driver = Driver.start(project)
    try:
        stages = args.stages.split(",")
        unknown = set(stages) - set(STAGE_ORDER)
        if unknown:
            parser.error(f"--stages: unknown {sorted(unknown)}; stages are {STAGE_ORDER}")
        engine = "postgres" if args.postgres else "duckdb"
        baseline = build_baseline(engine, project, driver, compared=tuple(stages))
        return sweep(baseline, stages, args.targets.split(","), args.max_calls)
    finally:
        driver.close()
        if args.postgres:
            drop_saved_states(args.postgres)


if __name__ == "__main__":
    sys.exit(main())

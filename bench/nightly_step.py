"""Benchmark: one step of `nightly_refresh`, computed again, timed (and optionally profiled).

    cd <a copy of a bench/full.py --out folder>
    DAGSTER_HOME=$PWD/.dagster_home CDP_CONFIG=$PWD/cdp.yaml CDP_AS_OF=2026-11-21 \\
        PYTHONPATH=<repo> <repo>/.venv/bin/python <repo>/bench/nightly_step.py ml/churn_scores \\
        [--profile FILE.prof]

Runs the assets `KEY ...` of the `nightly_refresh` job in this process with the run tag
`cdp/recompute=true` (so the step computes even when its inputs did not change; see
`cdp_assets.defs.unchanged`) against the instance of `DAGSTER_HOME` and the warehouse of
`CDP_CONFIG`, and prints the step's seconds from its event, the run's wall and CPU seconds and
the machine's 1-minute load. It writes what the step writes: use a copy of a bench's folder,
never the bench's own. With `--profile`, the run is under cProfile (slower; for where the time
goes, not for the figures).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import time

import dagster as dg

from cdp_assets.defs.unchanged import RECOMPUTE_TAG


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "keys",
        nargs="+",
        help="asset keys, e.g. ml/churn_scores (all outputs of a multi-asset step, such as "
        "identity's, or it computes a subset)",
    )
    parser.add_argument("--job", default="nightly_refresh")
    parser.add_argument("--profile", help="write cProfile stats here")
    args = parser.parse_args()
    from cdp_assets.definitions import defs

    job = defs().resolve_job_def(args.job)
    profile = cProfile.Profile() if args.profile else None
    with dg.DagsterInstance.get() as instance:
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        result = job.execute_in_process(
            instance=instance,
            tags={RECOMPUTE_TAG: "true"},
            asset_selection=[dg.AssetKey.from_user_string(key) for key in args.keys],
            raise_on_error=False,
        )
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for event in result.all_events:
        if event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = getattr(event.event_specific_data, "duration_ms", 0.0) / 1000
            print(f"{event.step_key} {event.event_type_value} {seconds:.2f} s")
    print(
        f"success={result.success} wall {wall:.1f} s CPU {cpu:.1f} s load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()

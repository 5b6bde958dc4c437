"""Benchmark: identity resolution speed and peak memory on demo data.

    .venv/bin/python bench/identity_speed.py --people 100000 [--workdir DIR]

Phases run in their own processes: demo generation and the `ingest_sources` job (both skipped
when `--workdir` already holds a staged warehouse), then the `core` group alone — identity
resolution, resolved facts and golden profiles — whose steps are timed from the run's event
log. Prints customer records and fact rows resolved per second and the core phase's peak RSS.
Target: 1,000,000 people resolved in under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchlib import peak_rss_mb, run_phase, step_seconds

FULL_RESOLUTION_TAG = "cdp/identity_full_resolution"  # cdp_assets.identity.increments

REPO = Path(__file__).resolve().parents[1]
END_DATE = "2026-11-20"


def _env(root: Path) -> None:
    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / 'warehouse.duckdb'}"
    os.environ["CDP_AS_OF"] = END_DATE


def prepare(root: Path, people: int, seed: int, data: Path | None = None) -> dict:
    import dagster as dg

    from cdp_assets.demo import generate_demo

    if data is not None:  # a demo generated earlier: copied, as ingestion may write into it
        shutil.copytree(data, root / "data", dirs_exist_ok=True)
    else:
        generate_demo(
            people=people, seed=seed, end_date=dt.date.fromisoformat(END_DATE), out=root / "data"
        )
    shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    _env(root)
    from cdp_assets.definitions import defs

    with dg.instance_for_test() as instance:
        ok = defs().resolve_job_def("ingest_sources").execute_in_process(instance=instance)
    return {"success": ok.success}


def core(root: Path) -> dict:
    import dagster as dg

    _env(root)
    from cdp_assets.definitions import defs
    from cdp_assets.warehouse import Warehouse

    definitions = defs()
    job = dg.define_asset_job("core_only", selection=dg.AssetSelection.groups("core"))
    definitions = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job]))
    start = time.perf_counter()
    with dg.instance_for_test() as instance:
        # A full resolution even when a previous run of the bench left the same inputs.
        result = definitions.resolve_job_def("core_only").execute_in_process(
            instance=instance, tags={FULL_RESOLUTION_TAG: "true"}
        )
        wall = time.perf_counter() - start
        steps = step_seconds(instance, result.run_id)
        unchanged = _unchanged_run(definitions, instance)
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    counts = wh.query(
        "SELECT (SELECT COUNT(*) FROM core.customer_xref WHERE identity_kind = 'record') AS records,"
        " (SELECT COUNT(*) FROM core.customer_profiles) AS customers,"
        " (SELECT COUNT(*) FROM core.orders) + (SELECT COUNT(*) FROM core.events)"
        " + (SELECT COUNT(*) FROM core.survey_responses)"
        " + (SELECT COUNT(*) FROM core.support_tickets) AS fact_rows"
    ).iloc[0]
    return {
        "success": result.success,
        "wall_seconds": round(wall, 1),
        "steps": steps,
        "customer_records": int(counts["records"]),
        "customers": int(counts["customers"]),
        "fact_rows": int(counts["fact_rows"]),
        "peak_rss_mb": round(peak_rss_mb()),
        "unchanged_identity_seconds": unchanged,
    }


def _unchanged_run(definitions, instance) -> float:  # noqa: ANN001 - Dagster objects
    """The identity step run again with nothing new: its seconds (it re-resolves nothing)."""
    import dagster as dg

    from cdp_assets.defs.identity.resolution import IDENTITY_OUTPUTS

    keys = [dg.AssetKey(["core", name]) for name in IDENTITY_OUTPUTS]
    job = definitions.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=keys)
    return step_seconds(instance, result.run_id).get("identity_resolution", float("nan"))


PROFILED = (
    ("cdp_assets.defs.identity.resolution", "read_customer_records"),
    ("cdp_assets.defs.identity.resolution", "read_combos"),
    ("cdp_assets.defs.identity.resolution", "graph_nodes"),
    ("cdp_assets.defs.identity.resolution", "resolve_identities"),
    ("cdp_assets.defs.identity.resolution", "_write"),
    ("cdp_assets.identity.resolve", "shared_identifiers"),
    ("cdp_assets.identity.resolve", "identifier_edges"),
    ("cdp_assets.identity.resolve", "_without_shared"),
    ("cdp_assets.identity.resolve", "probabilistic_links"),
    ("cdp_assets.identity.resolve", "enforce_limits"),
    ("cdp_assets.identity.resolve", "cluster_facts"),
    ("cdp_assets.identity.resolve", "assign_ids"),
    ("cdp_assets.identity.resolve", "_known_nodes"),
    ("cdp_assets.identity.resolve", "_xref"),
    ("cdp_assets.identity.resolve", "_edge_table"),
    ("cdp_assets.identity.probabilistic", "prepare_features"),
    ("cdp_assets.identity.probabilistic", "candidate_pairs"),
    ("cdp_assets.identity.probabilistic", "compare_pairs"),
    ("cdp_assets.identity.probabilistic", "_name_frequency_offsets"),
    ("cdp_assets.identity.probabilistic", "fit_model_from_labels"),
    ("cdp_assets.identity.probabilistic", "_linked_pairs"),
    ("cdp_assets.identity.probabilistic", "_edges"),
)


def profile(root: Path) -> dict:
    """The identity step alone, in this process, with resident memory sampled every 20 ms and
    attributed to the domain functions it runs (`PROFILED`): where its peak comes from."""
    import importlib
    import threading

    import dagster as dg

    _env(root)
    from cdp_assets.definitions import defs

    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    calls: list[dict] = []
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), rss_mb()))
            time.sleep(0.02)

    def wrap(module, name: str) -> None:  # noqa: ANN001 - a module
        inner = getattr(module, name)

        def timed(*args, **kwargs):  # noqa: ANN002, ANN003
            row = {"function": name, "start": time.perf_counter(), "rss_before": rss_mb()}
            try:
                return inner(*args, **kwargs)
            finally:
                row["end"] = time.perf_counter()
                calls.append(row)

        setattr(module, name, timed)

    for module_name, name in PROFILED:
        wrap(importlib.import_module(module_name), name)
    from cdp_assets.defs.identity.resolution import IDENTITY_OUTPUTS

    keys = [dg.AssetKey(["core", name]) for name in IDENTITY_OUTPUTS]
    job = dg.define_asset_job("identity_only", selection=dg.AssetSelection.assets(*keys))
    definitions = dg.Definitions.merge(defs(), dg.Definitions(jobs=[job]))
    thread = threading.Thread(target=sample, daemon=True)
    start_rss = rss_mb()
    thread.start()
    start = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def("identity_only").execute_in_process(
            instance=instance, tags={FULL_RESOLUTION_TAG: "true"}
        )
    wall = time.perf_counter() - start
    stop.set()
    thread.join()
    rows = []
    for call in sorted(calls, key=lambda c: c["start"]):
        inside = [r for t, r in samples if call["start"] <= t <= call["end"]]
        rows.append(
            {
                "function": call["function"],
                "seconds": round(call["end"] - call["start"], 2),
                "rss_before_mb": round(call["rss_before"]),
                "peak_mb": round(max(inside, default=call["rss_before"])),
            }
        )
    return {
        "success": result.success,
        "wall_seconds": round(wall, 1),
        "start_rss_mb": round(start_rss),
        "peak_rss_mb": round(max((r for _, r in samples), default=0)),
        "calls": rows,
    }


def _print_profile(result: dict) -> int:
    print(
        f"identity step alone: {result['wall_seconds']} s, resident memory "
        f"{result['start_rss_mb']:,} MB at start, peak {result['peak_rss_mb']:,} MB"
    )
    print(f"{'function':<24} {'seconds':>8} {'RSS before':>11} {'peak':>8}")
    for call in result["calls"]:
        print(
            f"{call['function']:<24} {call['seconds']:>8.2f} {call['rss_before_mb']:>8,} MB "
            f"{call['peak_mb']:>5,} MB"
        )
    print(json.dumps(result))
    return 0 if result["success"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="kept (and reused) when given")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the identity step alone and print time and peak memory per function",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="an existing demo output folder (landing + ground_truth) to ingest instead of "
        "generating one (e.g. /work/shared_data/p1m)",
    )
    parser.add_argument("--phase", choices=["prepare", "core", "profile"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "prepare":
        print(json.dumps(prepare(args.root, args.people, args.seed, args.data)))
        return 0
    if args.phase == "core":
        print(json.dumps(core(args.root)))
        return 0
    if args.phase == "profile":
        print(json.dumps(profile(args.root)))
        return 0

    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_identity_speed_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        if not (root / "warehouse.duckdb").exists():
            run_phase(
                __file__,
                "prepare",
                "--root",
                str(root),
                "--people",
                str(args.people),
                "--seed",
                str(args.seed),
                *(["--data", str(args.data)] if args.data else []),
            )
        if args.profile:
            return _print_profile(run_phase(__file__, "profile", "--root", str(root)))
        result = run_phase(__file__, "core", "--root", str(root))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    identity = result["steps"].get("identity_resolution", 0.0)
    rows = result["customer_records"] + result["fact_rows"]
    print(f"people:            {args.people:,}  (cores: {os.cpu_count()})")
    print(
        f"identity step:     {identity:8.1f} s  "
        f"({result['customer_records']:,} customer records → {result['customers']:,} customers)"
    )
    print(
        f"core group:        {result['wall_seconds']:8.1f} s wall   "
        f"{rows / result['wall_seconds']:>10,.0f} records+fact rows/s   "
        f"peak {result['peak_rss_mb']:,} MB"
    )
    print(f"identity again, nothing new: {result['unchanged_identity_seconds']:8.1f} s")
    print(
        "steps:",
        ", ".join(f"{k} {v}s" for k, v in sorted(result["steps"].items(), key=lambda kv: -kv[1])),
    )
    print(json.dumps({"people": args.people, **result}))
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main())

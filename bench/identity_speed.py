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

REPO = Path(__file__).resolve().parents[1]
END_DATE = "2026-11-20"


def _env(root: Path) -> None:
    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / 'warehouse.duckdb'}"
    os.environ["CDP_AS_OF"] = END_DATE


def prepare(root: Path, people: int, seed: int) -> dict:
    import dagster as dg

    from cdp_assets.demo import generate_demo

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
        result = definitions.resolve_job_def("core_only").execute_in_process(instance=instance)
        wall = time.perf_counter() - start
        steps = step_seconds(instance, result.run_id)
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
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="kept (and reused) when given")
    parser.add_argument("--phase", choices=["prepare", "core"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "prepare":
        print(json.dumps(prepare(args.root, args.people, args.seed)))
        return 0
    if args.phase == "core":
        print(json.dumps(core(args.root)))
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
            )
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
    print(
        "steps:",
        ", ".join(f"{k} {v}s" for k, v in sorted(result["steps"].items(), key=lambda kv: -kv[1])),
    )
    print(json.dumps({"people": args.people, **result}))
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main())

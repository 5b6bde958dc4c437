"""Benchmark: demo generation, ingestion (raw) and staging throughput and peak memory.

    .venv/bin/python bench/ingest.py --people 100000

Each phase runs in its own process (so peak memory is per phase): the demo generator, then the
real `ingest_sources` job of the Definitions, executed in process against a fresh DuckDB
warehouse. Raw and staging times are the sums of their steps' durations from the run's event
log. Prints one line per phase and a JSON record at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
END_DATE = "2026-11-20"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_generation(people: int, seed: int, out: Path) -> dict:
    import datetime as dt

    from cdp_assets.demo import generate_demo

    start = time.perf_counter()
    summary = generate_demo(
        people=people, seed=seed, end_date=dt.date.fromisoformat(END_DATE), out=out
    )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "summary": summary}


def run_pipeline(root: Path) -> dict:
    import dagster as dg

    from cdp_assets.definitions import defs
    from cdp_assets.warehouse import TableRef, Warehouse

    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / 'warehouse.duckdb'}"
    os.environ["CDP_AS_OF"] = END_DATE
    definitions = defs()
    start = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def("ingest_sources").execute_in_process(instance=instance)
        wall = time.perf_counter() - start
        durations: dict[str, float] = {}
        starts: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                durations[event.step_key] = entry.timestamp - starts[event.step_key]
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    ledger = wh.query("SELECT SUM(rows_read) AS r, SUM(rows_loaded) AS l FROM ops.ingested_files")
    staging_tables = wh.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'staging'"
    )["table_name"]
    rows_staged = sum(wh.row_count(TableRef("staging", t)) for t in staging_tables)
    raw_seconds = sum(v for k, v in durations.items() if k.startswith("raw"))
    staging_seconds = sum(v for k, v in durations.items() if k.startswith("staging"))
    return {
        "wall_seconds": wall,
        "raw_seconds": raw_seconds,
        "staging_seconds": staging_seconds,
        "rows_read": int(ledger["r"].iloc[0]),
        "rows_loaded": int(ledger["l"].iloc[0]),
        "rows_staged": rows_staged,
        "steps": {k: round(v, 2) for k, v in sorted(durations.items())},
        "peak_rss_mb": _peak_rss_mb(),
        "success": result.success,
    }


def _child(phase: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-8000:])
        raise SystemExit(f"bench phase {phase!r} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="kept when given")
    parser.add_argument("--phase", choices=["generate", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "generate":
        print(json.dumps(run_generation(args.people, args.seed, args.root / "data"), default=str))
        return 0
    if args.phase == "pipeline":
        print(json.dumps(run_pipeline(args.root)))
        return 0

    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    try:
        gen = _child(
            "generate", "--people", str(args.people), "--seed", str(args.seed), "--root", str(root)
        )
        pipe = _child("pipeline", "--root", str(root))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    rows = pipe["rows_read"]
    print(f"people:      {args.people:,}  (cores: {os.cpu_count()})")
    print(
        f"generation:  {gen['seconds']:8.1f} s   {rows / gen['seconds']:>12,.0f} rows/s   "
        f"peak {gen['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"ingestion:   {pipe['raw_seconds']:8.1f} s   {rows / pipe['raw_seconds']:>12,.0f} rows/s   "
        f"({rows:,} rows read, {pipe['rows_loaded']:,} loaded)"
    )
    print(
        f"staging:     {pipe['staging_seconds']:8.1f} s   "
        f"{pipe['rows_loaded'] / pipe['staging_seconds']:>12,.0f} rows/s   "
        f"({pipe['rows_staged']:,} rows staged)"
    )
    print(
        f"pipeline:    {pipe['wall_seconds']:8.1f} s wall (job incl. ops summary)   "
        f"peak {pipe['peak_rss_mb']:,.0f} MB"
    )
    total = gen["seconds"] + pipe["wall_seconds"]
    print(
        f"total:       {total:8.1f} s   peak {max(gen['peak_rss_mb'], pipe['peak_rss_mb']):,.0f} MB"
    )
    print(
        "slowest steps:",
        ", ".join(f"{k} {v}s" for k, v in sorted(pipe["steps"].items(), key=lambda kv: -kv[1])[:6]),
    )
    print(
        json.dumps(
            {
                "people": args.people,
                "generation": {k: v for k, v in gen.items() if k != "summary"},
                "pipeline": pipe,
            }
        )
    )
    return 0 if pipe["success"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: demo generation, ingestion (raw) and staging throughput and peak memory.

    .venv/bin/python bench/ingest.py --people 100000

Each phase runs in its own process (so peak memory is per phase): the demo generator, then the
real `ingest_sources` job of the Definitions, executed in process against a fresh DuckDB
warehouse. Raw and staging times are the sums of their steps' durations from the run's event
log; a step's peak memory is the largest RSS of the process sampled (every 50 ms) while it ran,
which includes what earlier steps left allocated. Prints one line per phase, the slowest and
largest steps, and a JSON record at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import peak_rss_mb, run_phase

REPO = Path(__file__).resolve().parents[1]
END_DATE = "2026-11-20"


class RssSampler:
    """Samples this process's RSS every `interval` seconds in a daemon thread, so that the
    peak of any time window (a step of the run) can be read afterwards."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.samples: list[tuple[float, int]] = []  # (unix time, rss bytes)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._process.memory_info().rss))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self, start: float, end: float) -> float:
        """Peak RSS (MB) sampled in [start, end]; 0 when no sample fell inside."""
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside, default=0) / 2**20


def run_generation(people: int, seed: int, out: Path) -> dict:
    import datetime as dt

    from cdp_assets.demo import generate_demo

    start = time.perf_counter()
    summary = generate_demo(
        people=people, seed=seed, end_date=dt.date.fromisoformat(END_DATE), out=out
    )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "summary": summary}


def run_pipeline(root: Path) -> dict:
    import dagster as dg

    from cdp_assets.definitions import defs
    from cdp_assets.warehouse import TableRef, Warehouse

    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / 'warehouse.duckdb'}"
    os.environ["CDP_AS_OF"] = END_DATE
    definitions = defs()
    start = time.perf_counter()
    with dg.instance_for_test() as instance, RssSampler() as sampler:
        result = definitions.resolve_job_def("ingest_sources").execute_in_process(instance=instance)
        wall = time.perf_counter() - start
        durations: dict[str, float] = {}
        step_peaks: dict[str, float] = {}
        starts: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                durations[event.step_key] = entry.timestamp - starts[event.step_key]
                step_peaks[event.step_key] = sampler.peak_mb(
                    starts[event.step_key], entry.timestamp
                )
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    ledger = wh.query("SELECT SUM(rows_read) AS r, SUM(rows_loaded) AS l FROM ops.ingested_files")
    staging_tables = wh.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'staging'"
    )["table_name"]
    rows_staged = sum(wh.row_count(TableRef("staging", t)) for t in staging_tables)
    raw_seconds = sum(v for k, v in durations.items() if k.startswith("raw"))
    staging_seconds = sum(v for k, v in durations.items() if k.startswith("staging"))
    raw_peak = max((v for k, v in step_peaks.items() if k.startswith("raw")), default=0.0)
    staging_peak = max((v for k, v in step_peaks.items() if k.startswith("staging")), default=0.0)
    return {
        "wall_seconds": wall,
        "raw_seconds": raw_seconds,
        "staging_seconds": staging_seconds,
        "raw_peak_rss_mb": round(raw_peak),
        "staging_peak_rss_mb": round(staging_peak),
        "rows_read": int(ledger["r"].iloc[0]),
        "rows_loaded": int(ledger["l"].iloc[0]),
        "rows_staged": rows_staged,
        "steps": {k: round(v, 2) for k, v in sorted(durations.items())},
        "step_peak_rss_mb": {k: round(v) for k, v in sorted(step_peaks.items())},
        "peak_rss_mb": peak_rss_mb(),
        "success": result.success,
    }


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
        gen = run_phase(
            __file__,
            "generate",
            "--people",
            str(args.people),
            "--seed",
            str(args.seed),
            "--root",
            str(root),
        )
        pipe = run_phase(__file__, "pipeline", "--root", str(root))
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
        f"peak {pipe['raw_peak_rss_mb']:,} MB   ({rows:,} rows read, {pipe['rows_loaded']:,} loaded)"
    )
    print(
        f"staging:     {pipe['staging_seconds']:8.1f} s   "
        f"{pipe['rows_loaded'] / pipe['staging_seconds']:>12,.0f} rows/s   "
        f"peak {pipe['staging_peak_rss_mb']:,} MB   ({pipe['rows_staged']:,} rows staged)"
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
        "largest steps:",
        ", ".join(
            f"{k} {v:,} MB"
            for k, v in sorted(pipe["step_peak_rss_mb"].items(), key=lambda kv: -kv[1])[:6]
        ),
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

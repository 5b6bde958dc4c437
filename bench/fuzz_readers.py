"""Benchmark (reliability): property-based fuzzing of every file reader through the raw step.

    .venv/bin/python bench/fuzz_readers.py --files 10000 --seed 1

Generates files (CSV, JSONL, parquet; see cdp_assets_tests/ingest/fuzz_files.py for what they
hold), lands them `--per-batch` at a time and runs the raw step of each format's source
(`ingest_into_warehouse`, the asset's body) into one DuckDB warehouse per 1,000 files, checking
that no exception escapes and that every record of every file is accounted for. Prints the
counts: files, rows read / loaded / quarantined, files quarantined whole, crashes, time.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever is installed

from cdp_assets.warehouse import Warehouse, dispose_engines  # noqa: E402
from cdp_assets_tests.ingest.fuzz_files import (  # noqa: E402
    MAKERS,
    FuzzCounts,
    fuzz_config,
    ingest_generated,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--per-batch", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    total = FuzzCounts()
    failures: list[str] = []
    started = time.perf_counter()
    batch = 0
    with tempfile.TemporaryDirectory() as tmp:
        while total.files < args.files:
            part = Path(tmp) / f"w{total.files // 1000}"
            config = fuzz_config(part)
            wh = Warehouse(f"duckdb:///{part / 'w.duckdb'}")
            stop = min(args.files, (total.files // 1000 + 1) * 1000)
            while total.files < stop:
                n = min(args.per_batch, stop - total.files)
                formats = sorted(MAKERS)
                files = [
                    (fmt, MAKERS[fmt](random.Random(rng.getrandbits(32))))
                    for fmt in (rng.choice(formats) for _ in range(n))
                ]
                try:
                    counts = ingest_generated(part, wh, config, files, batch)
                except Exception:  # noqa: BLE001 - a crash is what we count
                    total.crashes += 1
                    total.files += n
                    failures.append(traceback.format_exc(limit=3))
                else:
                    for name in vars(total):
                        setattr(total, name, getattr(total, name) + getattr(counts, name))
                batch += 1
            dispose_engines()
    seconds = time.perf_counter() - started
    for failure in failures[:3]:
        print(failure, file=sys.stderr)
    record = {**vars(total), "batches": batch, "seconds": round(seconds, 1), "seed": args.seed}
    print(
        f"files {total.files:,}  rows read {total.rows_read:,}  loaded {total.rows_loaded:,}  "
        f"quarantined {total.rows_quarantined:,} (files whole {total.files_quarantined_whole:,})  "
        f"exact duplicates {total.exact_duplicates:,}  crashes {total.crashes}  "
        f"time {seconds:.1f} s"
    )
    print(json.dumps(record))


if __name__ == "__main__":
    main()

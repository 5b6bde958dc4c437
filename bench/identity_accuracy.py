"""Benchmark: identity resolution accuracy against the demo ground truth.

    .venv/bin/python bench/identity_accuracy.py --people 20000

Generates the demo set (households sharing landlines, store phones typed at the till, name
variants, moved addresses and all), materializes the real Definitions' nightly job into a
fresh DuckDB warehouse, then scores core.customer_xref and the resolved fact tables against
ground_truth/identity.csv: pairwise precision / recall / F1 and cluster-level figures, over
all records and over customer-source records alone (the harder part: web events and orders
that carry an account reference are easy to place). Targets: precision >= 0.995, recall
>= 0.98.
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

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
END_DATE = "2026-11-20"
FACT_IDS = {
    "orders": "order_id",
    "events": "event_id",
    "survey_responses": "response_id",
    "support_tickets": "ticket_id",
}


def run(root: Path, people: int, seed: int) -> dict:
    import dagster as dg

    from cdp_assets.demo import generate_demo

    generate_demo(
        people=people, seed=seed, end_date=dt.date.fromisoformat(END_DATE), out=root / "data"
    )
    shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / 'warehouse.duckdb'}"
    os.environ["CDP_AS_OF"] = END_DATE
    from cdp_assets.definitions import defs

    start = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = defs().resolve_job_def("nightly_refresh").execute_in_process(instance=instance)
    if not result.success:
        raise SystemExit("the nightly job failed")
    return {"pipeline_seconds": round(time.perf_counter() - start, 1)}


def assignments(root: Path) -> pd.DataFrame:
    """(source, source_record_id, customer_id) for every record the truth file lists."""
    from cdp_assets.warehouse import Warehouse

    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    parts = [
        wh.query(
            "SELECT source, source_record_id, customer_id FROM core.customer_xref "
            "WHERE identity_kind = 'record'"
        ).assign(kind="customers")
    ]
    for table, column in FACT_IDS.items():
        parts.append(
            wh.query(
                f"SELECT source, {column} AS source_record_id, customer_id FROM core.{table}"
            ).assign(kind=table)
        )
    shared = wh.query("SELECT type, rule, COUNT(*) AS n FROM core.shared_identifiers GROUP BY 1, 2")
    print("shared identifiers (not used for linking):")
    print(shared.to_string(index=False))
    return pd.concat(parts, ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="kept when given")
    args = parser.parse_args()

    from cdp_assets.identity.accuracy import pairwise_scores

    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_identity_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        timing = run(root, args.people, args.seed)
        predicted = assignments(root)
        truth = pd.read_csv(
            root / "data" / "ground_truth" / "identity.csv", dtype="string", keep_default_na=False
        ).replace({"": pd.NA})
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    truth = truth[truth["source"] != "erasure_requests"]
    scored = truth.merge(predicted, on=["source", "source_record_id"], how="left")
    missing = int(scored["kind"].isna().sum())  # quarantined rows: not in any core table
    scored = scored[scored["kind"].notna()]
    report = {"people": args.people, **timing, "truth_records_not_in_core": missing}
    for label, rows in (
        ("all records", scored),
        ("customer-source records", scored[scored["kind"] == "customers"]),
        ("orders", scored[scored["kind"] == "orders"]),
    ):
        scores = pairwise_scores(rows["customer_id"], rows["person_id"])
        report[label] = {k: round(v, 5) if isinstance(v, float) else v for k, v in scores.items()}
        print(
            f"{label:>24}: precision {scores['pair_precision']:.5f}  recall "
            f"{scores['pair_recall']:.5f}  F1 {scores['pair_f1']:.5f}  "
            f"people in one customer {scores['people_in_one_customer']:.4f}  "
            f"exactly recovered {scores['people_exactly_recovered']:.4f}  "
            f"pure customers {scores['pure_customers']:.4f}  ({scores['records']:,} records)"
        )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

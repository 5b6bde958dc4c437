"""Benchmark: identity resolution of one new day, incremental against full.

    flock /work/heavy.lock .venv/bin/python bench/identity_increment.py --workdir DIR \
        [--people 100000 --data /work/shared_data/p100k] [--new-share 0.01]

On a staged demo warehouse (`bench/identity_speed.py` makes one in DIR; made here when DIR
has none): a full resolution, then a "new day" written straight into the staged customer
records — `--new-share` of them copied as new records (new ids: the same person again), one
in a thousand changed (street) and one in two thousand removed — then, each from a copy of
that warehouse: the incremental resolution, a full resolution with the stored parameters
(run tag `cdp/identity_frozen_resolution`) and a full resolution that learns them again.
Prints the identity step's wall and CPU seconds of each, whether the incremental tables equal
the frozen run's row for row, and pairwise precision / recall of the customer-source records
against the demo's ground truth (new copies belong to the person of their original).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from benchlib import run_phase

REPO = Path(__file__).resolve().parents[1]
FULL_RESOLUTION_TAG = "cdp/identity_full_resolution"  # cdp_assets.identity.increments
FROZEN_RESOLUTION_TAG = "cdp/identity_frozen_resolution"
CLOCK_COLUMNS = {"identity_merges": ["run_at"], "customer_id_aliases": ["since"]}
# New records' ids: the original's with this prefix, unique per bench run (a kept workdir
# already holds earlier runs' new records).
NEW_PREFIX = f"NEW{int(time.time())}-"
NEW_PATTERN = r"^(?:NEW[A-Z0-9]*-)+"


def _env(root: Path) -> None:
    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / 'warehouse.duckdb'}"
    os.environ["CDP_AS_OF"] = "2026-11-20"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _identity_run(tags: dict[str, str]) -> dict:
    """The identity step alone, in this process: wall and CPU seconds and its metadata."""
    import dagster as dg

    from cdp_assets.definitions import defs
    from cdp_assets.defs.identity.resolution import IDENTITY_OUTPUTS
    from cdp_assets.warehouse import dispose_engines

    keys = [dg.AssetKey(["core", name]) for name in IDENTITY_OUTPUTS]
    job = dg.define_asset_job("identity_only", selection=dg.AssetSelection.assets(*keys))
    definitions = dg.Definitions.merge(defs(), dg.Definitions(jobs=[job]))
    with dg.instance_for_test() as instance:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        result = definitions.resolve_job_def("identity_only").execute_in_process(
            instance=instance, tags=tags
        )
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        meta = {}
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            if materialization.asset_key.to_user_string() == "core/customer_xref":
                meta = {
                    k: v.value
                    for k, v in materialization.metadata.items()
                    if isinstance(v.value, int | float | str) and len(str(v.value)) < 200
                }
    dispose_engines()
    shown = (
        "resolution",
        "records_",
        "pairs_",
        "components",
        "customers",
        "nodes_",
        "probabilistic_c",
    )
    timing = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
    figures = {k: meta[k] for k in sorted(meta) if k.startswith(shown)}
    return {"success": result.success} | timing | figures


def _new_day(new_share: float) -> dict:
    """New, changed and removed customer records, written into the staged tables."""
    import sqlalchemy as sa

    from cdp_assets.config import load_config
    from cdp_assets.warehouse import TableRef, Warehouse, dispose_engines

    config = load_config(os.environ["CDP_CONFIG"])
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    counts = {"new": 0, "changed": 0, "removed": 0}
    every = max(int(round(1 / new_share)), 1)
    with wh.transaction() as session:
        for source in config.sources_of_kind("customers"):
            ref = TableRef("staging", source.name)
            if not session.table_exists(ref):
                continue
            picked = session.query(f"SELECT * FROM {ref.sql} WHERE hash(record_id) % {every} = 3")
            picked["record_id"] = NEW_PREFIX + picked["record_id"].astype(str)
            session.append(ref, picked)
            counts["new"] += len(picked)
            old = "record_id NOT LIKE 'NEW%'"
            changed = session.conn.execute(
                sa.text(
                    f"UPDATE {ref.sql} SET street = coalesce(street, '') || ' b' "
                    f"WHERE hash(record_id) % 1000 = 7 AND {old}"
                )
            )
            counts["changed"] += changed.rowcount
            removed = session.conn.execute(
                sa.text(f"DELETE FROM {ref.sql} WHERE hash(record_id) % 2000 = 11 AND {old}")
            )
            counts["removed"] += removed.rowcount
    dispose_engines()
    return counts


def _tables() -> dict:

    from cdp_assets.defs.identity.resolution import IDENTITY_OUTPUTS, _table_ref
    from cdp_assets.warehouse import Warehouse, dispose_engines

    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    out = {}
    for name in IDENTITY_OUTPUTS:
        table = wh.read_table(_table_ref(name)).drop(columns=CLOCK_COLUMNS.get(name, []))
        out[name] = table.sort_values(list(table.columns), ignore_index=True)
    dispose_engines()
    return out


def _accuracy(root: Path) -> dict:
    import pandas as pd

    from cdp_assets.identity.accuracy import pairwise_scores
    from cdp_assets.warehouse import Warehouse, dispose_engines

    truth = pd.read_csv(root / "data" / "ground_truth" / "identity.csv", dtype="string")
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    xref = wh.query(
        "SELECT source, source_record_id, customer_id FROM core.customer_xref "
        "WHERE identity_kind = 'record'"
    ).astype("string")
    dispose_engines()
    original = xref["source_record_id"].str.replace(NEW_PATTERN, "", regex=True)
    scored = xref.assign(source_record_id_truth=original).merge(
        truth.rename(columns={"source_record_id": "source_record_id_truth"}),
        on=["source", "source_record_id_truth"],
        how="inner",
    )
    scores = pairwise_scores(scored["customer_id"], scored["person_id"])
    return {
        k: round(v, 5)
        for k, v in scores.items()
        if k in ("pair_precision", "pair_recall", "records")
    }


def _copy(source: Path, target: Path) -> None:
    for suffix in ("", ".wal"):
        (target.parent / (target.name + suffix)).unlink(missing_ok=True)
        if (source.parent / (source.name + suffix)).exists():
            shutil.copy(
                source.parent / (source.name + suffix), target.parent / (target.name + suffix)
            )


def measure(root: Path, new_share: float) -> dict:
    import pandas as pd

    _env(root)
    warehouse = root / "warehouse.duckdb"
    report: dict = {"first_full": _identity_run({FULL_RESOLUTION_TAG: "true"})}
    report["accuracy_first_full"] = _accuracy(root)
    report["new_day"] = _new_day(new_share)
    _copy(warehouse, root / "new_day.duckdb")
    report["incremental"] = _identity_run({})
    incremental = _tables()
    report["accuracy_incremental"] = _accuracy(root)
    _copy(root / "new_day.duckdb", warehouse)
    report["frozen_full"] = _identity_run({FROZEN_RESOLUTION_TAG: "true"})
    frozen = _tables()
    same = {}
    for name, table in incremental.items():
        try:
            pd.testing.assert_frame_equal(table, frozen[name])
            same[name] = True
        except AssertionError:
            same[name] = False
    report["incremental_equals_frozen_full"] = same
    _copy(root / "new_day.duckdb", warehouse)
    report["relearnt_full"] = _identity_run({FULL_RESOLUTION_TAG: "true"})
    report["accuracy_relearnt_full"] = _accuracy(root)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--phase", choices=["measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "measure":
        print(json.dumps(measure(args.workdir, args.new_share)))
        return 0
    root = args.workdir
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "warehouse.duckdb").exists():
        extra = ["--data", str(args.data)] if args.data else []
        run_phase(
            REPO / "bench" / "identity_speed.py",
            "prepare",
            "--root",
            str(root),
            "--people",
            str(args.people),
            *extra,
        )
    report = run_phase(
        __file__, "measure", "--workdir", str(root), "--new-share", str(args.new_share)
    )
    print(json.dumps(report, indent=1))
    return 0 if all(r.get("success", True) for r in report.values() if isinstance(r, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())

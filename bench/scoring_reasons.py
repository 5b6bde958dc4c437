"""Benchmark: the per-customer reasons of the churn and lead scores, plain loop vs grouped.

    CDP_CONFIG=DIR/cdp.yaml .venv/bin/python bench/scoring_reasons.py [--as-of 2026-11-20]
        [--models churn leads] [--threads N] [--ways legacy plain grouped] [--rows N]

DIR is a `bench/full.py --out` folder after its train_models phase (its warehouse holds
`analytics.customer_features` and its model store the champions). The warehouse is opened
read-only. For each model: the population the scoring step scores (buyers for churn, leads
for lead scores), then, timed in wall and CPU seconds of this process,

* `predict` — one prediction of every row (the score itself);
* `legacy` — the loop the scoring step ran before: every differing row rescored, one predict
  call per feature, with scikit-learn's own OpenMP threads;
* `plain` — the same rows, in blocks on Python threads with one-thread OpenMP pools;
* `grouped` — with the model's `SplitCells`: same-cell rows skipped, equal rows once (what
  the scoring step does now);

(Commit 24e619e also had `trees`, each feature rescored through only the trees that split on
it, exact to the bit but no faster: see bench/RESULTS.md, "Scoring reasons at scale".)

the number of rows each predicted through whole models, and whether each contribution matrix
equals the first way's to the last bit. `--threads` caps OpenMP for the legacy way and the
whole-population predict with threadpoolctl; `--rows` scores only the first N customers.

`--rescore` measures the scores kept by cell row instead (`explain.score_by_cells`, what the
scoring step does now), on a warehouse holding the day after `--as-of` (a `bench/full.py --out`
folder after its nightly_increment phase): the features as of `--as-of` and of the next day
are computed point-in-time (`customer_features`, what `analytics.customer_features` runs), and,
timed in wall and CPU seconds (score and contributions together):

* `first` — the first scoring, as of `--as-of`, with nothing kept: every customer computed;
* `next_scratch` — the next day from scratch (what the step did before);
* `next_kept` — the next day with what `first` kept: only the customers whose cell row moved;
* `keep_write` / `keep_read` — writing what is kept to a warehouse table and reading it back
  (`--keep-url`, default a DuckDB file in a temporary folder).

with the customers computed, how many hold a cell row nobody held the day before (counted
apart), and whether `next_kept` equals `next_scratch` to the last bit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever is installed


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Counting:
    """predict_proba[:, 1] of an estimator, counting the rows it is asked for."""

    def __init__(self, estimator: Any) -> None:
        self.estimator, self.rows, self.calls = estimator, 0, 0

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        self.rows += len(matrix)
        self.calls += 1
        return self.estimator.predict_proba(matrix)[:, 1]


def timed(label: str, figures: dict[str, Any], fn: Any) -> Any:
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    figures[f"{label}_wall_s"] = round(time.perf_counter() - wall, 2)
    figures[f"{label}_cpu_s"] = round(cpu_seconds() - cpu, 2)
    print(f"  {label}: {figures[f'{label}_wall_s']} s wall, {figures[f'{label}_cpu_s']} s CPU")
    return out


def legacy_contributions(predict: Any, matrix: np.ndarray, reference: np.ndarray, base: Any):
    """contributions() before this bench's change: every differing row rescored in one
    predict call per feature, with scikit-learn's own OpenMP threads."""
    result = np.zeros(matrix.shape, dtype=np.float64)
    for j in range(matrix.shape[1]):
        column, ref = matrix[:, j], reference[j]
        differs = ~np.isnan(column) if np.isnan(ref) else np.isnan(column) | (column != ref)
        rows = np.flatnonzero(differs)
        if len(rows) == 0:
            continue
        changed = matrix[rows].copy()
        changed[:, j] = ref
        result[rows, j] = base[rows] - predict(changed)
    return result


def population(name: str, features: Any, seen: Any, as_of: dt.date) -> Any:
    from cdp_assets.ml.leads import lead_population

    if name == "churn":
        return features[features["frequency"] > 0]
    return lead_population(features, seen, as_of)


def champion_model(name: str) -> tuple[str, Any] | None:
    """The promoted version of model `name` and the model, from the configured store."""
    from cdp_assets.config.loader import load_config, resolve_path
    from cdp_assets.ml.model_store import ModelStore

    config = load_config()
    store = ModelStore(resolve_path(config, config.models.store_dir))
    version = store.champion(name)
    if version is None:
        return None
    return version, store.load(name, version).model


def bench_model(name: str, args: argparse.Namespace, features: Any, seen: Any) -> dict:
    from cdp_assets.ml.explain import SplitCells, contributions, predict_rows
    from cdp_assets.ml.snapshots import model_matrix

    champion = champion_model(name)
    if champion is None:
        return {"status": "no champion"}
    version, model = champion
    people = population(name, features, seen, args.as_of).sort_values("customer_id")
    matrix = model_matrix(people, model.features)[: args.rows]
    figures: dict[str, Any] = {
        "model": model.name,
        "customers": len(matrix),
        "features": matrix.shape[1],
    }
    print(f"{name}: {model.name} {version}, {len(matrix):,} customers x {matrix.shape[1]}")
    cells = timed("cells", figures, lambda: SplitCells.of(model.estimator, matrix.shape[1]))
    if cells is not None:
        figures["thresholds_per_feature"] = [len(t) for t in cells.thresholds]
    counting = Counting(model.estimator)
    base = timed("predict", figures, lambda: predict_rows(counting, matrix))
    found: dict[str, np.ndarray] = {}
    ways = {
        "legacy": lambda: legacy_contributions(counting, matrix, model.reference, base),
        "plain": lambda: contributions(counting, matrix, model.reference, base),
        "grouped": lambda: contributions(counting, matrix, model.reference, base, cells),
    }
    for way in args.ways:
        if way == "grouped" and cells is None:
            continue
        counting.rows = 0
        found[way] = timed(way, figures, ways[way])
        figures[f"{way}_rows"] = counting.rows
    first = next(iter(found.values()), None)
    for way, value in found.items():
        figures[f"{way}_equal"] = bool(np.array_equal(value, first))
    print(f"  {json.dumps({k: v for k, v in figures.items() if 'thresholds' not in k})}")
    return figures


def bench_rescore(name: str, args: argparse.Namespace, days: dict, seen: Any) -> dict:
    import tempfile

    from cdp_assets.defs.ml.classifier_scoring import keep_scores_by_cells, known_scores_by_cells
    from cdp_assets.ml.explain import ReasonCache, SplitCells, score_by_cells, scores_key
    from cdp_assets.ml.snapshots import model_matrix
    from cdp_assets.warehouse import TableRef, Warehouse

    champion = champion_model(name)
    if champion is None:
        return {"status": "no champion"}
    version, model = champion
    matrices = {
        day: model_matrix(population(name, f, seen, day).sort_values("customer_id"), model.features)
        for day, f in days.items()
    }
    first_day, next_day = sorted(matrices)
    cells = SplitCells.of(model.estimator, len(model.features))
    if cells is None:
        return {"status": f"{model.name} has no cells"}
    key = scores_key(version, model.reference, cells)
    counting = Counting(model.estimator)
    figures: dict[str, Any] = {
        "model": model.name,
        "customers_first": len(matrices[first_day]),
        "customers_next": len(matrices[next_day]),
    }
    print(f"{name}: {model.name} {version}, {figures}")

    def run(label: str, day: dt.date, known: Any) -> Any:
        counting.rows = 0
        found = timed(
            label,
            figures,
            lambda: score_by_cells(counting, matrices[day], model.reference, cells, key, known),
        )
        figures[f"{label}_computed"] = found.recomputed
        figures[f"{label}_rows_predicted"] = counting.rows
        return found

    first = run("first", first_day, None)
    scratch = run("next_scratch", next_day, None)
    kept = run("next_kept", next_day, first.kept)
    before = {row.tobytes() for row in cells.encode(matrices[first_day])}
    figures["next_moved"] = sum(
        row.tobytes() not in before for row in cells.encode(matrices[next_day])
    )
    figures["next_kept_equal"] = bool(
        np.array_equal(kept.probability, scratch.probability)
        and np.array_equal(kept.contributions, scratch.contributions)
    )
    figures["kept_rows"] = len(first.kept.cells)
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(args.keep_url or f"duckdb:///{folder}/keep.duckdb")
        ref = TableRef("ml", f"bench_{name}_by_cells")
        cache = ReasonCache(kept=first.kept, recomputed=first.recomputed)

        def write() -> None:
            with warehouse.transaction() as session:
                keep_scores_by_cells(session, ref, cache, model.features)

        def read() -> Any:
            with warehouse.transaction() as session:
                return known_scores_by_cells(session, ref, model.features)

        timed("keep_write", figures, write)
        back = timed("keep_read", figures, read)
        figures["keep_read_equal"] = back is not None and bool(
            np.array_equal(back.contributions, first.kept.contributions)
        )
    print(f"  {json.dumps(figures)}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20))
    parser.add_argument("--models", nargs="*", default=["churn", "leads"])
    parser.add_argument("--threads", type=int, default=None, help="cap on OpenMP threads")
    parser.add_argument(
        "--ways",
        nargs="*",
        default=["legacy", "plain", "grouped"],
        help="legacy (the loop before, scikit-learn's threads), plain (whole rows, in blocks), "
        "grouped (cells); the first is the one the others are compared with",
    )
    parser.add_argument("--rows", type=int, default=None, help="only the first N customers")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score as of --as-of, then the next day from scratch and with what was kept",
    )
    parser.add_argument("--keep-url", default=None, help="warehouse for keep_write/keep_read")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from cdp_assets.analytics.features import customer_features, existing_core_tables
    from cdp_assets.config.loader import load_config, warehouse_url
    from cdp_assets.contracts.features import FEATURE_DTYPES
    from cdp_assets.defs.ml.classifier_scoring import FEATURES
    from cdp_assets.ml.snapshots import first_seen
    from cdp_assets.warehouse import Warehouse

    config = load_config()
    warehouse = Warehouse(
        os.environ.get("CDP_WAREHOUSE_URL") or warehouse_url(config), read_only=True
    )
    with warehouse.transaction() as session:
        seen = first_seen(session)
        if args.rescore:
            tables = existing_core_tables(session)
            sla = config.analytics.support_sla_hours
            days = {
                day: customer_features(session, day, sla, tables)
                for day in (args.as_of, args.as_of + dt.timedelta(days=1))
            }
        else:
            features = session.read_table(FEATURES, dtypes=FEATURE_DTYPES)
    result: dict[str, Any] = {"threads": args.threads, "load_before": os.getloadavg()}
    with threadpool_limits(limits=args.threads, user_api="openmp"):
        for name in args.models:
            if args.rescore:
                result[name] = bench_rescore(name, args, days, seen)
            else:
                result[name] = bench_model(name, args, features, seen)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the churn model on day counts or on weeks and months — its accuracy, and how many
customers' reasons a new day computes again.

    CDP_CONFIG=DIR/cdp.yaml .venv/bin/python bench/churn_day_steps.py [--as-of 2026-11-20]
        [--seeds 0 1 2]

DIR is a `bench/full.py --out` folder after its extra_day phase (its warehouse holds the staged
data up to `--as-of` and the landed day after it; opened read-only). Two feature sets, the same
but for the two features the analysis date moves for every buyer:

* `days` — `recency_days` and `tenure_days` (the churn model's features before 2026-12-07);
* `steps` — `recency_weeks` and `tenure_months` (whole 7- and 30-day periods: `CHURN_FEATURES`).

For each: the churn candidates trained as the training asset trains them (the snapshots of the
configured cutoffs as of `--as-of`), once per `--seeds` random state, with the champion's
holdout figures (ROC AUC, PR AUC, Brier score, calibration error, lift in the top decile); then
the buyers scored as of `--as-of` and as of the next day (features point-in-time, as
`analytics.customer_features` computes them) the way the scoring step scores them, the second
day with what the first kept by cell row (`cdp_assets.ml.explain.score_by_cells`): how many
buyers the next day computes again and its wall and CPU seconds.
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

FIGURES = ("roc_auc", "pr_auc", "brier", "calibration_error", "lift_top_decile")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def feature_sets() -> dict[str, tuple[str, ...]]:
    from cdp_assets.ml.snapshots import CHURN_FEATURES

    as_days = {"recency_weeks": "recency_days", "tenure_months": "tenure_days"}
    return {"days": tuple(as_days.get(f, f) for f in CHURN_FEATURES), "steps": CHURN_FEATURES}


def rescore(model: Any, days: dict[dt.date, Any]) -> dict[str, Any]:
    """The buyers scored on the first day, then the next with what the first kept."""
    from cdp_assets.ml.churn import score_churn
    from cdp_assets.ml.explain import ReasonCache

    (first_day, first), (next_day, following) = sorted(days.items())
    cache = ReasonCache()
    score_churn(model, first, first_day, "bench", cache)
    cache = ReasonCache(known=cache.kept)
    wall, cpu = time.perf_counter(), cpu_seconds()
    scores = score_churn(model, following, next_day, "bench", cache)
    return {
        "moved_by_feature": moved_by_feature(model, first, following),
        "buyers": len(scores),
        "computed_next_day": cache.recomputed,
        "computed_share": round(cache.recomputed / max(len(scores), 1), 4),
        "next_day_s": round(time.perf_counter() - wall, 2),
        "next_day_cpu_s": round(cpu_seconds() - cpu, 2),
    }


def moved_by_feature(model: Any, first: Any, following: Any) -> dict[str, int]:
    """Buyers of both days whose cell of a feature differs between them, per feature (those
    moving at least one customer)."""
    from cdp_assets.ml.explain import SplitCells
    from cdp_assets.ml.snapshots import model_matrix

    both = first[first["frequency"] > 0].merge(
        following[following["frequency"] > 0], on="customer_id", suffixes=("", "_next")
    )
    cells = SplitCells.of(model.estimator, len(model.features))
    if cells is None:
        return {}
    before = cells.encode(model_matrix(both, model.features))
    after = cells.encode(model_matrix(both, [f"{f}_next" for f in model.features]))
    moved = (before != after).sum(axis=0)
    found = {f: int(n) for f, n in zip(model.features, moved, strict=True) if n}
    return {"any": int((before != after).any(axis=1).sum()), **found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    args = parser.parse_args()

    from cdp_assets.analytics.features import customer_features, existing_core_tables
    from cdp_assets.config.loader import load_config, warehouse_url
    from cdp_assets.ml.churn import train_churn
    from cdp_assets.ml.snapshots import churn_labels, config_cutoffs, training_snapshots
    from cdp_assets.warehouse import Warehouse

    config = load_config()
    settings = config.models.churn
    sla = config.analytics.support_sla_hours
    warehouse = Warehouse(
        os.environ.get("CDP_WAREHOUSE_URL") or warehouse_url(config), read_only=True
    )
    started = time.perf_counter()
    with warehouse.transaction() as session:
        tables = existing_core_tables(session)
        snapshots = training_snapshots(
            session,
            config_cutoffs(args.as_of, settings),
            churn_labels(settings.horizon_days),
            sla,
            tables,
        )
        days = {
            day: customer_features(session, day, sla, tables)
            for day in (args.as_of, args.as_of + dt.timedelta(days=1))
        }
    result: dict[str, Any] = {
        "as_of": args.as_of.isoformat(),
        "snapshot_rows": len(snapshots),
        "read_s": round(time.perf_counter() - started, 1),
        "load_before": os.getloadavg()[0],
    }
    for name, features in feature_sets().items():
        runs = []
        for seed in args.seeds:
            training = train_churn(snapshots, settings, features=features, random_state=seed)
            figures = training.model_metrics("gradient_boosting")
            runs.append({"seed": seed, **{k: round(figures[k], 4) for k in FIGURES}})
            print(f"{name} seed {seed}: {json.dumps(runs[-1])}", flush=True)
        model = training.models["gradient_boosting"]
        result[name] = {
            "runs": runs,
            "mean": {k: round(float(np.mean([r[k] for r in runs])), 4) for k in FIGURES},
            **rescore(model, days),
        }
        print(f"{name}: {json.dumps(result[name])}", flush=True)
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

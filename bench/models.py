"""Benchmark: every predictive model's holdout figures next to its baselines, with times.

    .venv/bin/python bench/models.py --people 100000 [--seed 42] [--history-days 1095]
        [--workdir DIR] [--threads N]

Generates the demo set (by default three years of history, as `make demo`: a 365-day lifetime
value horizon needs a 365-day holdout after a 365-day boosting training window), materializes
the real Definitions' `nightly_refresh` job (all assets except the `ml` ones and what depends
on them) into a fresh DuckDB warehouse, then, for each model, builds its point-in-time
training data from the warehouse, trains it, evaluates it on its held-out later period, and
scores everyone as of the end date:

* churn — calibrated gradient boosting vs logistic regression and the recency rule;
* lead scores — the same models vs the engagement rule and the base rate;
* lifetime value — the purchase models with Gamma-Gamma spend (the chosen one corrected, see
  `cdp_assets.ml.ltv_selection`) and gradient boosting vs the naive baseline, and the total
  predicted revenue of the holdout against the actual (bench/ltv.py has every purchase model
  side by side, demo and orders-only);
* recommendations — item-to-item vs popularity, hit rate and NDCG at 10.

Each model has its own `bench_<model>` function returning a `ModelReport`; a model whose
module is missing or fails is reported as such and the others still run. With `--workdir`
the demo data and warehouse are kept, and a second run reuses them (skipping the pipeline,
whatever --people, --seed or --history-days say).
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
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever is installed

END_DATE = dt.date(2026, 11, 20)
HISTORY_DAYS = 1095  # as `make demo` (HISTORY_DAYS in the Makefile)
WAREHOUSE_FILE = "warehouse.duckdb"


@dataclass
class ModelReport:
    """One model's benchmark: its metrics table (model rows, baselines flagged), the main
    metric that decides "beats the baseline", timings and notes."""

    name: str
    metrics: pd.DataFrame | None = None
    metric: str = ""
    best_model: str = ""
    best_baseline: str = ""
    beats_baseline: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"  # ok / not enough data / skipped / failed


# -- the warehouse ---------------------------------------------------------------------------


def build_warehouse(
    root: Path, people: int, seed: int, history_days: int = HISTORY_DAYS
) -> dict[str, float]:
    """Generate the demo and run the nightly job (without the ml assets) into `root`."""
    import dagster as dg

    from cdp_assets.demo import generate_demo

    timings: dict[str, float] = {}
    started = time.perf_counter()
    generate_demo(
        people=people, seed=seed, end_date=END_DATE, out=root / "data", history_days=history_days
    )
    timings["demo_seconds"] = round(time.perf_counter() - started, 1)
    from cdp_assets.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def("nightly_refresh")
    graph = definitions.resolve_asset_graph()
    selection = dg.AssetSelection.all() - dg.AssetSelection.key_prefixes("ml").downstream()
    keys = sorted(selection.resolve(graph))
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=keys)
    if not result.success:
        raise SystemExit("the nightly job failed")
    timings["pipeline_seconds"] = round(time.perf_counter() - started, 1)
    return timings


def configure(root: Path) -> None:
    """Point the code location at `root` (cdp.yaml, warehouse, analysis date)."""
    if not (root / "cdp.yaml").exists():
        shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{root / WAREHOUSE_FILE}"
    os.environ["CDP_AS_OF"] = END_DATE.isoformat()


class Timer:
    """Records the seconds of named steps into a dict."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into

    def __call__(self, step: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = fn()
        self.into[step] = round(time.perf_counter() - started, 2)
        return value


# -- churn and leads -------------------------------------------------------------------------


def _classifier_report(
    name: str,
    warehouse: Any,
    config: Any,
    settings: Any,
    label_fn: Callable[..., Any],
    train: Callable[..., Any],
    score: Callable[..., pd.DataFrame],
) -> ModelReport:
    from cdp_assets.analytics.features import customer_features, existing_core_tables
    from cdp_assets.ml.churn import NotEnoughData
    from cdp_assets.ml.snapshots import config_cutoffs, first_seen, training_snapshots

    report = ModelReport(name, metric="roc_auc")
    timer = Timer(report.seconds)
    sla = config.analytics.support_sla_hours
    with warehouse.transaction() as session:
        tables = existing_core_tables(session)
        cutoffs = config_cutoffs(END_DATE, settings)
        snapshots = timer(
            "snapshots",
            lambda: training_snapshots(session, cutoffs, label_fn, sla, tables),
        )
        features = timer(
            "features_as_of", lambda: customer_features(session, END_DATE, sla, tables)
        )
        seen = first_seen(session)
    report.notes.append(
        f"cutoffs {', '.join(c.isoformat() for c in cutoffs)} (last = holdout); "
        f"{len(snapshots):,} snapshot rows"
    )
    try:
        training = timer("training", lambda: train(snapshots, settings))
    except NotEnoughData as exc:
        report.status, report.notes = "not enough data", [*report.notes, str(exc)]
        return report
    scores = timer("scoring", lambda: score(training.candidate, features, seen))
    report.metrics = training.metrics
    _verdict(report, training.metrics, "roc_auc", higher_is_better=True)
    report.best_model = training.champion
    report.notes.append(
        f"champion candidate {training.champion}; gradient boosting calibration "
        f"{training.calibration_method}; "
        f"{training.counts['training_rows']:,} training rows "
        f"({training.counts['training_positives']:,} positive), "
        f"{training.counts['holdout_rows']:,} holdout rows "
        f"({training.counts['holdout_positives']:,} positive); {len(scores):,} scored"
    )
    top = ", ".join(training.importances["feature"].head(5))
    report.notes.append(f"top features (permutation, holdout): {top}")
    return report


def _verdict(report: ModelReport, table: pd.DataFrame, metric: str, higher_is_better: bool) -> None:
    """Fill best model / best baseline / beats_baseline from a table with `model`,
    `baseline` and `metric` columns."""
    ordered = table.sort_values(metric, ascending=not higher_is_better, na_position="last")
    models = ordered[~ordered["baseline"].astype(bool)]
    baselines = ordered[ordered["baseline"].astype(bool)]
    report.best_model = str(models["model"].iloc[0])
    report.best_baseline = str(baselines["model"].iloc[0])
    best, base = models[metric].iloc[0], baselines[metric].iloc[0]
    report.beats_baseline = bool(best > base if higher_is_better else best < base)


def bench_churn(warehouse: Any, config: Any) -> ModelReport:
    """Churn: calibrated gradient boosting vs logistic regression and the recency rule."""
    from cdp_assets.ml.churn import score_churn, train_churn
    from cdp_assets.ml.snapshots import churn_labels

    settings = config.models.churn
    return _classifier_report(
        "churn",
        warehouse,
        config,
        settings,
        churn_labels(settings.horizon_days),
        train_churn,
        lambda model, features, seen: score_churn(model, features, END_DATE, "bench"),
    )


def bench_leads(warehouse: Any, config: Any) -> ModelReport:
    """Lead scores: gradient boosting vs logistic regression, engagement rule, base rate."""
    from cdp_assets.ml.leads import score_leads, train_leads
    from cdp_assets.ml.snapshots import lead_labels

    settings = config.models.leads
    return _classifier_report(
        "leads",
        warehouse,
        config,
        settings,
        lead_labels(settings.horizon_days),
        train_leads,
        lambda model, features, seen: score_leads(model, features, END_DATE, "bench", seen),
    )


# -- lifetime value and recommendations (their own modules) ----------------------------------


def bench_ltv(warehouse: Any, config: Any) -> ModelReport:
    """Lifetime value: `cdp_assets.ml.ltv.backtest_ltv` then train + score."""
    from cdp_assets.analytics.features import customer_features, existing_core_tables
    from cdp_assets.ml import ltv

    report = ModelReport("ltv", metric="mae")
    timer = Timer(report.seconds)
    settings = config.models.ltv
    sla = config.analytics.support_sla_hours
    orders = warehouse.query(
        "SELECT customer_id, ordered_at, net_amount_base, is_purchase FROM core.orders"
    )

    def features_at(day: dt.date) -> pd.DataFrame:
        with warehouse.transaction() as session:
            return customer_features(session, day, sla, existing_core_tables(session))

    reason = ltv.not_enough_data(orders, END_DATE, settings)
    if reason:
        report.status, report.notes = "not enough data", [reason]
        return report
    backtest = timer("training", lambda: ltv.backtest_ltv(orders, END_DATE, settings, features_at))
    model = timer(
        "final_fit",
        lambda: ltv.train_ltv(orders, END_DATE, settings, features_at, backtest=backtest),
    )
    scores = timer("scoring", lambda: ltv.score_ltv(model, orders, END_DATE, "bench", features_at))
    table = backtest.metrics.reset_index()
    table["baseline"] = table["model"] == ltv.NAIVE_MODEL
    report.metrics = table
    _verdict(report, table, "mae", higher_is_better=False)
    report.best_model = backtest.chosen
    report.notes.append(
        f"backtest cutoff {backtest.cutoff}, {backtest.holdout_days}-day holdout, "
        f"{backtest.customers:,} customers; chosen {backtest.chosen}: {backtest.reason}"
    )
    if "total_ratio" in table.columns:
        ratio = float(table.set_index("model").loc[backtest.chosen, "total_ratio"])
        report.notes.append(
            f"total predicted / actual revenue of the holdout: {ratio:.3f} "
            f"({'within' if abs(ratio - 1) <= 0.10 else 'outside'} ±10 %)"
        )
    report.notes.extend(backtest.notes)
    report.notes.append(f"{len(scores):,} customers scored")
    return report


def bench_recommendations(warehouse: Any, config: Any) -> ModelReport:
    """Recommendations: `cdp_assets.ml.recommendations.evaluate_recommendations`."""
    from cdp_assets.ml import recommendations as rec

    report = ModelReport("recommendations", metric="ndcg_at_10")
    timer = Timer(report.seconds)
    settings = config.models.recommendations
    items = warehouse.query(
        "SELECT customer_id, order_id, product_id, category, ordered_at, status "
        "FROM core.order_items"
    )
    events = None
    if warehouse.table_exists(_table("core", "events")):
        events = warehouse.query(
            "SELECT customer_id, event_type, occurred_at, product_id FROM core.events "
            "WHERE event_type = 'product_view'"
        )
    consumable = settings.consumable_categories
    table = timer(
        "training",
        lambda: rec.evaluate_recommendations(
            items, events, END_DATE, settings.holdout_days, settings.top_n, consumable
        ),
    )
    model = timer("final_fit", lambda: rec.fit_recommender(items, events, END_DATE, consumable))
    scores = timer("scoring", lambda: model.recommend(None, settings.top_n))
    table = table.copy()
    table["baseline"] = table["model"] == rec.POPULARITY_MODEL
    report.metrics = table
    _verdict(report, table, "ndcg_at_10", higher_is_better=True)
    report.notes.append(
        f"{settings.holdout_days}-day holdout; {len(scores):,} recommendations for "
        f"{scores['customer_id'].nunique():,} customers"
    )
    return report


def _table(schema: str, name: str) -> Any:
    from cdp_assets.warehouse import TableRef

    return TableRef(schema, name)


BENCHES: dict[str, Callable[[Any, Any], ModelReport]] = {
    "churn": bench_churn,
    "leads": bench_leads,
    "ltv": bench_ltv,
    "recommendations": bench_recommendations,
}


# -- output ----------------------------------------------------------------------------------


def run_bench(name: str, warehouse: Any, config: Any) -> ModelReport:
    """One model's bench; a missing module or an error becomes the report's status."""
    try:
        return BENCHES[name](warehouse, config)
    except ImportError as exc:
        return ModelReport(name, status="skipped", notes=[f"module not available: {exc}"])
    except Exception as exc:  # noqa: BLE001 - one model's failure must not hide the others
        lines = traceback.format_exception_only(exc)[-1].strip()
        traceback.print_exc(file=sys.stderr)
        return ModelReport(name, status="failed", notes=[lines])


def print_report(report: ModelReport) -> None:
    print(f"\n== {report.name} ({report.status}) ==")
    if report.metrics is not None:
        shown = report.metrics.drop(columns=["fit_seconds", "score_seconds"], errors="ignore")
        with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
            print(shown.to_string(index=False))
        verdict = "beats" if report.beats_baseline else "does NOT beat"
        print(
            f"{report.best_model} {verdict} the best baseline {report.best_baseline} "
            f"on {report.metric}"
        )
    if report.seconds:
        print("seconds: " + ", ".join(f"{k} {v}" for k, v in report.seconds.items()))
    for note in report.notes:
        print(f"- {note}")


def summary(report: ModelReport) -> dict[str, Any]:
    record: dict[str, Any] = {
        "status": report.status,
        "seconds": report.seconds,
        "beats_baseline": report.beats_baseline,
        "best_model": report.best_model,
        "best_baseline": report.best_baseline,
    }
    if report.metrics is not None:
        metrics = report.metrics.set_index("model").drop(columns="baseline", errors="ignore")
        record["metrics"] = json.loads(metrics.round(4).to_json(orient="index"))
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--history-days", type=int, default=HISTORY_DAYS, help="days of demo history"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="kept (and reused) when given")
    parser.add_argument("--threads", type=int, default=None, help="cap on OpenMP/BLAS threads")
    parser.add_argument("--models", nargs="*", default=list(BENCHES), choices=list(BENCHES))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_models_"))
    root.mkdir(parents=True, exist_ok=True)
    configure(root)
    result: dict[str, Any] = {
        "people": args.people,
        "seed": args.seed,
        "history_days": args.history_days,
    }
    try:
        if not (root / WAREHOUSE_FILE).exists():
            result.update(build_warehouse(root, args.people, args.seed, args.history_days))
        from cdp_assets.config.loader import load_config
        from cdp_assets.warehouse import Warehouse

        config = load_config()
        warehouse = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
        print(
            f"demo: {args.people:,} people, seed {args.seed}, {args.history_days} days of "
            f"history, as of {END_DATE}; {result}"
        )
        with threadpool_limits(limits=args.threads):
            for name in args.models:
                report = run_bench(name, warehouse, config)
                print_report(report)
                result[name] = summary(report)
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, default=str))
    failed = [n for n in args.models if result[n]["status"] == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

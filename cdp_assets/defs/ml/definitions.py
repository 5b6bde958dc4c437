"""`ml` wiring: weekly training with champion/challenger promotion, nightly scoring with the
promoted model, and the checks around both."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from cdp_assets.analytics.features import existing_core_tables
from cdp_assets.config import CDPConfig, as_of_date, resolve_path
from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.contracts.ltv import LTV_DTYPES
from cdp_assets.defs.analytics.definitions import FEATURES, FEATURES_KEY, _core_keys
from cdp_assets.defs.identity.definitions import CORE_AUTOMATION
from cdp_assets.defs.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
    project_config,
    warehouse_kind,
)
from cdp_assets.ml import churn, leads, ltv
from cdp_assets.ml.metrics import population_stability_index
from cdp_assets.ml.model_store import ModelStore
from cdp_assets.ml.recommendations import (
    evaluate_recommendations,
    recommend,
)
from cdp_assets.ml.snapshots import (
    churn_labels,
    config_cutoffs,
    first_seen,
    lead_labels,
    training_snapshots,
)
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame

TRAINING_GROUP = "ml_training"
SCORING_GROUP = "ml"
TRAIN_JOB = "train_models"
SCORE_JOB = "score_models"


@dataclass(frozen=True)
class ClassifierSpec:
    """What differs between the churn and the lead-score models."""

    name: str  # model store name and asset key stem
    settings_of: Callable[[CDPConfig], Any]
    labels: Callable[[int], Any]
    train: Callable[..., Any]
    score: Callable[..., pd.DataFrame]
    score_table: str
    score_dtypes: dict[str, str]
    probability: str
    description: str


CLASSIFIERS = (
    ClassifierSpec(
        name="churn",
        settings_of=lambda c: c.models.churn,
        labels=churn_labels,
        train=churn.train_churn,
        score=lambda model, features, as_of, version, seen: churn.score_churn(
            model, features, as_of, version
        ),
        score_table="churn_scores",
        score_dtypes=churn.CHURN_SCORE_DTYPES,
        probability="churn_probability",
        description="no purchase in the `models.churn.horizon_days` after a cutoff",
    ),
    ClassifierSpec(
        name="leads",
        settings_of=lambda c: c.models.leads,
        labels=lead_labels,
        train=leads.train_leads,
        score=leads.score_leads,
        score_table="lead_scores",
        score_dtypes=leads.LEAD_SCORE_DTYPES,
        probability="lead_probability",
        description="a first order within `models.leads.horizon_days` of a cutoff, for people "
        "known but who never ordered",
    ),
)


def model_store(config: CDPConfig) -> ModelStore:
    return ModelStore(resolve_path(config, config.models.store_dir))


def _metrics_md(table: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(table.round(4), max_rows=20))


def build_training_asset(config: CDPConfig, spec: ClassifierSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(["ml", f"{spec.name}_model"])
    settings = spec.settings_of(config)
    floor = getattr(settings, "auc_floor", 0.5)
    checks = [
        dg.AssetCheckSpec(
            "enough_data", asset=key, description="enough customers and labels to train"
        ),
        dg.AssetCheckSpec(
            "auc_above_floor",
            asset=key,
            description=f"holdout ROC AUC of the candidate at least {floor}; below it the "
            "model is not promoted",
        ),
        dg.AssetCheckSpec(
            "calibration_error",
            asset=key,
            description="expected calibration "
            "error of the candidate on the holdout (warn above the limit)",
        ),
    ]

    @dg.asset(
        key=key,
        deps=[FEATURES_KEY, *_core_keys(config)],
        group_name=TRAINING_GROUP,
        kinds={"scikit-learn", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        check_specs=checks,
        description=f"Trains the {spec.name} model ({spec.description}) on point-in-time "
        "snapshots at several past cutoffs, compares calibrated gradient boosting with "
        "logistic regression and a simple rule on the latest, held-out cutoff, stores the "
        "version with its training window, features, data fingerprint and metrics, and "
        "promotes it only if it beats the current champion on the same holdout.",
    )
    def _train(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        as_of = as_of_date(config)
        cutoffs = config_cutoffs(as_of, settings)
        with warehouse.get().transaction() as session:
            tables = existing_core_tables(session)
            snapshots = training_snapshots(
                session,
                cutoffs,
                spec.labels(settings.horizon_days),
                config.analytics.support_sla_hours,
                tables,
            )
        try:
            training = spec.train(snapshots, settings)
        except churn.NotEnoughData as exc:
            return _not_enough_data(key, str(exc))
        store = model_store(config)
        version = store.save(
            spec.name, training.candidate, training.metadata(as_of=as_of), snapshot=snapshots
        )
        promote, reason, _ = churn.compare_with_champion(
            store, spec.name, training, snapshots, floor
        )
        if promote:
            store.promote(spec.name, version, reason)
        context.log.info(
            f"{spec.name}: {version} {'promoted' if promote else 'kept out'}: {reason}"
        )
        chosen = training.model_metrics()
        max_error = getattr(settings, "max_calibration_error", 0.1)
        return dg.MaterializeResult(
            metadata={
                "status": "trained",
                "version": version,
                "promoted": promote,
                "decision": reason,
                "champion": store.champion(spec.name) or "none",
                "candidate": training.champion,
                "roc_auc": chosen["roc_auc"],
                "metrics": _metrics_md(training.metrics),
                "calibration": _metrics_md(training.calibration),
                "importances": _metrics_md(training.importances.head(15)),
                "training_cutoffs": ", ".join(c.isoformat() for c in training.training_cutoffs),
                "holdout_cutoff": training.holdout_cutoff.isoformat(),
                **{k: int(v) for k, v in training.counts.items()},
                **{k: dg.MetadataValue.md(v) for k, v in training.plots().items()},
            },
            check_results=[
                dg.AssetCheckResult(check_name="enough_data", passed=True),
                dg.AssetCheckResult(
                    check_name="auc_above_floor",
                    passed=chosen["roc_auc"] >= floor,
                    metadata={"roc_auc": chosen["roc_auc"], "floor": floor},
                ),
                dg.AssetCheckResult(
                    check_name="calibration_error",
                    passed=bool(np.nan_to_num(chosen["calibration_error"]) <= max_error),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"ece": chosen["calibration_error"], "limit": max_error},
                ),
            ],
        )

    return _train


def _not_enough_data(key: dg.AssetKey, reason: str) -> dg.MaterializeResult:
    """A clear 'not enough data' instead of numbers: the checks say so too (warn)."""
    return dg.MaterializeResult(
        metadata={"status": f"not enough data: {reason}"},
        check_results=[
            dg.AssetCheckResult(
                check_name=name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reason": reason},
            )
            for name in ("enough_data", "auc_above_floor", "calibration_error")
        ],
    )


def _no_promoted_model(
    session: WarehouseSession,
    ref: TableRef,
    dtypes: dict[str, str],
    name: str,
    other_checks: list[dg.AssetCheckResult] | None = None,
) -> dg.MaterializeResult:
    """No champion to score with: an empty, typed table and a result that says why."""
    session.replace_table(ref, coerce_frame(pd.DataFrame(), dtypes))
    reason = f"no promoted {name} model yet: run the {TRAIN_JOB} job"
    return dg.MaterializeResult(
        metadata={"status": reason, "dagster/row_count": 0},
        check_results=[
            dg.AssetCheckResult(
                check_name="promoted_model_available",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reason": reason},
            ),
            *(other_checks or []),
        ],
    )


def _previous_scores(session: WarehouseSession, ref: TableRef, column: str) -> np.ndarray:
    if not session.table_exists(ref):
        return np.array([])
    return session.query(f"SELECT {column} FROM {ref.sql}")[column].to_numpy(dtype=float)


def build_scoring_asset(config: CDPConfig, spec: ClassifierSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(["ml", spec.score_table])
    settings = spec.settings_of(config)
    psi_warn = getattr(settings, "psi_warn", 0.2)

    @dg.asset(
        key=key,
        deps=[FEATURES_KEY, dg.AssetKey(["ml", f"{spec.name}_model"])],
        group_name=SCORING_GROUP,
        kinds={"scikit-learn", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        automation_condition=CORE_AUTOMATION,
        check_specs=[
            dg.AssetCheckSpec("promoted_model_available", asset=key),
            dg.AssetCheckSpec(
                "score_stability",
                asset=key,
                description=f"population stability index against the previous run's scores "
                f"(warn above {psi_warn})",
            ),
        ],
        description=f"`ml.{spec.score_table}`: today's scores with the promoted {spec.name} "
        "model, a band, the model version and the three features that push each score up.",
    )
    def _score(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        as_of = as_of_date(config)
        store = model_store(config)
        ref = TableRef("ml", spec.score_table)
        version = store.champion(spec.name)
        with warehouse.get().transaction() as session:
            previous = _previous_scores(session, ref, spec.probability)
            if version is None:
                return _no_promoted_model(
                    session,
                    ref,
                    spec.score_dtypes,
                    spec.name,
                    [dg.AssetCheckResult(check_name="score_stability", passed=True)],
                )
            features = session.read_table(FEATURES, dtypes=FEATURE_DTYPES)
            seen = first_seen(session)
            stored = store.load(spec.name, version)
            scores = spec.score(stored.model, features, as_of, version, seen)
            session.replace_table(ref, scores)
        values = scores[spec.probability].to_numpy(dtype=float)
        psi = (
            float(population_stability_index(previous, values))
            if len(previous) and len(values)
            else 0.0
        )
        context.log.info(f"{len(scores):,} {spec.name} scores with {version}")
        bands = scores["risk_band"].value_counts() if "risk_band" in scores else None
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(scores),
                "model_version": version,
                "mean_probability": float(values.mean()) if len(values) else 0.0,
                "psi_vs_previous": psi,
                **(
                    {"risk_bands": dg.MetadataValue.json(bands.to_dict())}
                    if bands is not None
                    else {}
                ),
            },
            check_results=[
                dg.AssetCheckResult(check_name="promoted_model_available", passed=True),
                dg.AssetCheckResult(
                    check_name="score_stability",
                    passed=psi <= psi_warn,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"psi": psi, "warn_above": psi_warn},
                ),
            ],
        )

    return _score


def _purchase_lines(session: WarehouseSession) -> pd.DataFrame:
    return session.query(
        "SELECT customer_id, order_id, product_id, product_name, category, quantity, "
        "unit_price_base, ordered_at, status FROM core.order_items "
        "WHERE customer_id IS NOT NULL"
    )


def _product_views(session: WarehouseSession, tables: frozenset[str]) -> pd.DataFrame | None:
    if "events" not in tables:
        return None
    return session.query(
        "SELECT customer_id, product_id, occurred_at, event_type FROM core.events "
        "WHERE event_type = 'product_view' AND customer_id IS NOT NULL AND product_id IS NOT NULL"
    )


def build_recommendations_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = dg.AssetKey(["ml", "product_recommendations"])
    settings = config.models.recommendations

    @dg.asset(
        key=key,
        deps=[dg.AssetKey(["core", "order_items"]), dg.AssetKey(["core", "customer_profiles"])],
        group_name=SCORING_GROUP,
        kinds={"scipy", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        automation_condition=CORE_AUTOMATION,
        check_specs=[
            dg.AssetCheckSpec(
                "beats_popularity",
                asset=key,
                description="item-to-item NDCG@10 on the held-out later period at least the "
                "popularity baseline's (warn)",
            )
        ],
    )
    def product_recommendations(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Item-to-item collaborative filtering from co-purchases and product views, with a
        popularity fallback for new customers; already-bought items are left out unless their
        category is consumable (`models.recommendations.consumable_categories`). Evaluated on
        a held-out later period (hit rate and NDCG at 10) against the popularity baseline."""
        as_of = as_of_date(config)
        with warehouse.get().transaction() as session:
            tables = existing_core_tables(session)
            lines = _purchase_lines(session)
            views = _product_views(session, tables)
            customers = session.query("SELECT customer_id FROM core.customer_profiles")
            consumable = settings.consumable_categories
            recommendations = recommend(
                lines, views, customers["customer_id"], as_of, settings.top_n, consumable
            )
            evaluation = evaluate_recommendations(
                lines, views, as_of, settings.holdout_days, settings.top_n, consumable
            )
            session.replace_table(TableRef("ml", "product_recommendations"), recommendations)
        by_model = evaluation.set_index("model")
        cf = float(by_model["ndcg_at_10"].get("item_to_item", 0.0))
        popular = float(by_model["ndcg_at_10"].get("popularity", 0.0))
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(recommendations),
                "evaluation": _metrics_md(evaluation),
                "by_reason": dg.MetadataValue.md(
                    markdown_table(
                        recommendations["reason"]
                        .str.replace(r" .*", "", regex=True)
                        .value_counts()
                        .rename("rows")
                        .reset_index()
                    )
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="beats_popularity",
                    passed=cf >= popular,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"ndcg_item_to_item": cf, "ndcg_popularity": popular},
                )
            ],
        )

    return product_recommendations


def _orders(session: WarehouseSession) -> pd.DataFrame:
    return session.query(
        "SELECT customer_id, ordered_at, net_amount_base, is_purchase FROM core.orders "
        "WHERE customer_id IS NOT NULL"
    )


def build_ltv_training_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = dg.AssetKey(["ml", "ltv_model"])
    settings = config.models.ltv

    @dg.asset(
        key=key,
        deps=[dg.AssetKey(["core", "orders"])],
        group_name=TRAINING_GROUP,
        kinds={"scipy", "scikit-learn", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec("enough_data", asset=key),
            dg.AssetCheckSpec(
                "beats_baseline",
                asset=key,
                description="the chosen model's MAE on the held-out period beats the naive "
                "baseline's; else it is not promoted",
            ),
            dg.AssetCheckSpec(
                "holdout_total_within_10_percent",
                asset=key,
                description="total predicted revenue for the held-out period within ±10% of "
                "the actual (warn)",
            ),
        ],
    )
    def ltv_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Lifetime value: BG/NBD purchases with Gamma-Gamma spend (maximum likelihood) and a
        gradient-boosting alternative, backtested on a held-out later period against a naive
        baseline; the better one is stored and promoted when it passes."""
        as_of = as_of_date(config)
        with warehouse.get().transaction() as session:
            orders = _orders(session)
        reason = ltv.not_enough_data(orders, as_of, settings)
        if reason is not None:
            return dg.MaterializeResult(
                metadata={"status": f"not enough data: {reason}"},
                check_results=[
                    dg.AssetCheckResult(
                        check_name=name,
                        passed=False,
                        severity=dg.AssetCheckSeverity.WARN,
                        metadata={"reason": reason},
                    )
                    for name in ("enough_data", "beats_baseline", "holdout_total_within_10_percent")
                ],
            )
        model = ltv.train_ltv(orders, as_of, settings)
        backtest = model.backtest
        # The competing models side by side (those evaluated), then the naive baseline.
        models = [m for m in (ltv.BTYD_MODEL, ltv.BOOSTING_MODEL) if m in backtest.metrics.index]
        table = backtest.metrics.reindex([*models, ltv.NAIVE_MODEL])
        chosen = backtest.metrics.loc[backtest.chosen]
        passed = bool(chosen["beats_baseline"])
        ratio = float(chosen["total_ratio"])
        store = model_store(config)
        holdout = {"holdout_cutoff": backtest.cutoff.isoformat(), "mae": float(chosen["mae"])}
        version = store.save("ltv", model, model.describe() | {"as_of": as_of} | holdout)
        promote, decision = _ltv_promotion(store, passed, holdout)
        if promote:
            store.promote("ltv", version, decision)
        scores = ", ".join(f"{m} {table.loc[m, 'mae']:.2f}" for m in table.index)
        context.log.info(
            f"ltv: {version} chosen {backtest.chosen}; holdout MAE {scores}; {decision}"
        )
        return dg.MaterializeResult(
            metadata={
                "status": "trained",
                "version": version,
                "promoted": promote,
                "decision": decision,
                "chosen_model": backtest.chosen,
                "reason": backtest.reason,
                "holdout": f"{backtest.cutoff} + {backtest.holdout_days} days",
                "models_evaluated": ", ".join(models),
                "backtest": _metrics_md(table.reset_index()),
                # Each one's holdout MAE and total ratio as numbers (plottable across runs).
                **{
                    f"{name}_{model}": float(table.loc[model, name])
                    for model in table.index
                    for name in ("mae", "total_ratio")
                },
                "deciles": dg.MetadataValue.md(
                    markdown_table(backtest.deciles.round(4), max_rows=len(backtest.deciles))
                ),
                "notes": "; ".join(backtest.notes) or "none",
            },
            check_results=[
                dg.AssetCheckResult(check_name="enough_data", passed=True),
                dg.AssetCheckResult(
                    check_name="beats_baseline",
                    passed=passed,
                    metadata={"mae": float(chosen["mae"])},
                ),
                dg.AssetCheckResult(
                    check_name="holdout_total_within_10_percent",
                    passed=abs(ratio - 1) <= 0.10,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"predicted_over_actual": ratio},
                ),
            ],
        )

    return ltv_model


def _ltv_promotion(
    store: ModelStore, beats_baseline: bool, holdout: dict[str, Any]
) -> tuple[bool, str]:
    """Promote a model that beats the naive baseline, unless the champion did at least as
    well on the same held-out period (a tie keeps the champion)."""
    if not beats_baseline:
        return False, "does not beat the naive baseline: not promoted"
    champion = store.champion("ltv")
    if champion is None:
        return True, "first model that beats the naive baseline"
    previous = store.metadata("ltv", champion)
    if previous.get("holdout_cutoff") != holdout["holdout_cutoff"]:
        return True, f"new holdout period {holdout['holdout_cutoff']}: replaces {champion}"
    if holdout["mae"] < previous.get("mae", float("inf")):
        return True, f"MAE {holdout['mae']:.2f} beats the champion's {previous['mae']:.2f}"
    return False, f"champion {champion} is as good on the same holdout (MAE {previous['mae']:.2f})"


def build_ltv_scoring_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = dg.AssetKey(["ml", "customer_ltv"])

    @dg.asset(
        key=key,
        deps=[dg.AssetKey(["core", "orders"]), dg.AssetKey(["ml", "ltv_model"])],
        group_name=SCORING_GROUP,
        kinds={"scipy", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        automation_condition=CORE_AUTOMATION,
        check_specs=[dg.AssetCheckSpec("promoted_model_available", asset=key)],
    )
    def customer_ltv(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """`ml.customer_ltv`: per customer with a purchase, probability alive, expected
        purchases and order value, predicted revenue over `models.ltv.horizon_days`, the
        expected next order date and historical revenue, with the promoted model."""
        as_of = as_of_date(config)
        store = model_store(config)
        version = store.champion("ltv")
        ref = TableRef("ml", "customer_ltv")
        with warehouse.get().transaction() as session:
            if version is None:
                return _no_promoted_model(session, ref, LTV_DTYPES, "ltv")
            orders = _orders(session)
            scores = ltv.score_ltv(store.load("ltv", version).model, orders, as_of, version)
            session.replace_table(ref, scores)
        context.log.info(f"{len(scores):,} lifetime values with {version}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(scores),
                "model_version": version,
                "predicted_revenue_total": float(scores["predicted_revenue"].sum()),
                "distribution": dg.MetadataValue.md(ltv_distribution_plot(scores)),
            },
            check_results=[dg.AssetCheckResult(check_name="promoted_model_available", passed=True)],
        )

    return customer_ltv


def ltv_distribution_plot(scores: pd.DataFrame) -> str:
    """Histogram of predicted revenue (log scale), as a markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_assets.analytics.rfm import figure_markdown

    fig, ax = plt.subplots(figsize=(6, 3.2))
    values = scores["predicted_revenue"].to_numpy(dtype=float)
    ax.hist(np.log10(1 + values[np.isfinite(values)]), bins=40, color="#4477aa")
    ax.set_xlabel("log10(1 + predicted revenue)")
    ax.set_ylabel("customers")
    return figure_markdown(fig, "LTV distribution")


@dg.definitions
def ml() -> dg.Definitions:
    config = project_config()
    if not config.sources_of_kind("orders"):
        return dg.Definitions()
    assets: list[dg.AssetsDefinition] = []
    for spec in CLASSIFIERS:
        assets += [build_training_asset(config, spec), build_scoring_asset(config, spec)]
    assets += [build_ltv_training_asset(config), build_ltv_scoring_asset(config)]
    if config.sources_of_kind("order_items"):
        assets.append(build_recommendations_asset(config))
    train = dg.define_asset_job(
        TRAIN_JOB,
        selection=dg.AssetSelection.groups(TRAINING_GROUP),
        description="Retrain every model on point-in-time snapshots; promote challengers "
        "that beat their champion on the same holdout.",
    )
    score = dg.define_asset_job(
        SCORE_JOB,
        # The activation tables that carry the scores (customer_360, exports) follow them.
        selection=dg.AssetSelection.groups(SCORING_GROUP)
        | (
            dg.AssetSelection.groups(SCORING_GROUP).downstream()
            & dg.AssetSelection.groups("activation")
        ),
        description="Score every customer with the promoted models, then refresh the customer "
        "360 table and the audience exports that carry the scores.",
    )
    weekly = dg.ScheduleDefinition(
        name="weekly_retraining_schedule",
        job=train,
        cron_schedule="0 3 * * 0",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Sundays at 03:00 {config.timezone}.",
    )
    return dg.Definitions(assets=assets, jobs=[train, score], schedules=[weekly])

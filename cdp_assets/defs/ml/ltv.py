"""`ml.ltv_model` and `ml.customer_ltv`: lifetime value, trained weekly, scored nightly."""

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.ltv import LTV_DTYPES
from cdp_assets.defs.catalog import (
    CUSTOMER_LTV_KEY,
    LTV_MODEL_KEY,
    ORDERS_KEY,
    SCORING_GROUP,
    TRAINING_GROUP,
    core_keys,
    table_ref,
)
from cdp_assets.defs.charts import chart
from cdp_assets.defs.ml.inputs import resolved_orders
from cdp_assets.defs.ml.outcomes import (
    CHECK_PROMOTED,
    PROMOTED_DESCRIPTION,
    metrics_md,
    no_promoted_model,
    not_enough_data,
    warning,
)
from cdp_assets.defs.resources import ModelStoreResource, WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import promoted_model, skip_when_inputs_unchanged
from cdp_assets.ml import ltv
from cdp_assets.ml.ltv_plots import ltv_distribution_plot
from cdp_assets.ml.ltv_promotion import ltv_promotion
from cdp_assets.ml.purchase_engagement import ltv_features_at
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession

LTV_TRAINING_CHECKS = ("enough_data", "beats_baseline", "holdout_total_within_10_percent")


def _features_at(session: WarehouseSession, config: CDPConfig) -> ltv.FeaturesAt:
    """Point-in-time customer features (channel mix, categories, recent web, service,
    loyalty) and a year of engagement (days since the last session, ticket, survey answer,
    email open; visit rate and lapse score) from the core tables this configuration has, for
    the learned models."""
    return ltv_features_at(session, config.analytics.support_sla_hours)


def _purchase_models_md(backtest: ltv.LtvBacktest) -> dg.MetadataValue:
    """Every purchase model on the reported holdout, the selection split's RMSE beside it."""
    purchases = backtest.purchases
    if purchases is None:
        return dg.MetadataValue.md("no selection split: BG/NBD and boosting compared as before")
    table = purchases.table().reset_index()
    return dg.MetadataValue.md(markdown_table(table.round(4), max_rows=len(table)))


def build_ltv_training_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = LTV_MODEL_KEY
    settings = config.models.ltv

    @dg.asset(
        key=key,
        deps=[ORDERS_KEY, *core_keys(config)],
        group_name=TRAINING_GROUP,
        kinds={"scipy", "scikit-learn"},
        check_specs=[
            dg.AssetCheckSpec(
                "enough_data",
                asset=key,
                description="purchase history long enough for a backtest and enough buyers and "
                "repeat buyers before its cutoff (models.ltv.min_customers, min_positives); "
                "warn, does not block",
            ),
            dg.AssetCheckSpec(
                "beats_baseline",
                asset=key,
                description="the chosen model's MAE on the held-out period beats the naive "
                "baseline's; else it is not promoted (warn, does not block)",
            ),
            dg.AssetCheckSpec(
                "holdout_total_within_10_percent",
                asset=key,
                description="total predicted revenue for the held-out period within ±10% of "
                "the actual (warn)",
            ),
        ],
    )
    def ltv_model(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
    ):
        """Lifetime value: repeat purchases by BG/NBD, Pareto/NBD, MBG/NBD, a learned model
        with covariates and their blend, chosen on a selection split and corrected there,
        with Gamma-Gamma spend; a gradient-boosting revenue model and a naive baseline beside
        them on the held-out later period; the chosen one is stored and promoted when it
        passes."""
        as_of = analysis_date(context, config)
        with warehouse.get().transaction() as session:
            orders = resolved_orders(session)
            reason = ltv.not_enough_data(orders, as_of, settings)
            if reason is not None:
                return not_enough_data(reason, LTV_TRAINING_CHECKS)
            model = ltv.train_ltv(orders, as_of, settings, _features_at(session, config))
        backtest = model.backtest
        # The competing models side by side (those evaluated), then the naive baseline.
        models = [m for m in backtest.metrics.index if m != ltv.NAIVE_MODEL]
        table = backtest.metrics.reindex([*models, ltv.NAIVE_MODEL])
        chosen = backtest.metrics.loc[backtest.chosen]
        passed = bool(chosen["beats_baseline"])
        ratio = float(chosen["total_ratio"])
        store = model_store.get()
        holdout = {"holdout_cutoff": backtest.cutoff.isoformat(), "mae": float(chosen["mae"])}
        version = store.save("ltv", model, model.describe() | {"as_of": as_of} | holdout)
        champion = store.champion("ltv")
        previous = store.metadata("ltv", champion) if champion else None
        promote, decision = ltv_promotion(passed, holdout, champion, previous)
        if promote:
            store.promote("ltv", version, decision)
        scores = ", ".join(f"{m} {table.loc[m, 'mae']:.2f}" for m in table.index)
        context.log.info(f"ltv: {version} chosen {model.chosen}; holdout MAE {scores}; {decision}")
        shown = {backtest.chosen, ltv.BTYD_MODEL, ltv.NAIVE_MODEL}
        deciles = backtest.deciles[backtest.deciles["model"].isin(shown)].round(4)
        purchases = backtest.purchases
        corrections = {}
        if purchases is not None:
            corrections = {
                "purchase_model": purchases.chosen,
                "selection_split": f"{purchases.selection_cutoff} + "
                f"{purchases.selection_days} days",
                "backtest_purchase_correction": purchases.purchase_correction,
                "backtest_value_correction": purchases.value_correction,
                "production_purchase_correction": purchases.production_purchase_correction,
                "production_value_correction": purchases.production_value_correction,
            }
        return dg.MaterializeResult(
            metadata={
                "status": "trained",
                "version": version,
                "promoted": promote,
                "decision": decision,
                "chosen_model": model.chosen,
                "reason": model.reason,
                "holdout": f"{backtest.cutoff} + {backtest.holdout_days} days",
                "models_evaluated": ", ".join(models),
                "backtest": metrics_md(table.reset_index()),
                "purchase_models": _purchase_models_md(backtest),
                **corrections,
                # Each one's holdout MAE and total ratio as numbers (plottable across runs).
                **{
                    f"{name}_{row}": float(table.loc[row, name])
                    for row in table.index
                    for name in ("mae", "total_ratio")
                },
                "deciles": dg.MetadataValue.md(markdown_table(deciles, max_rows=len(deciles))),
                "notes": "; ".join(backtest.notes) or "none",
            },
            check_results=[
                warning("enough_data", True),
                warning("beats_baseline", passed, mae=float(chosen["mae"])),
                dg.AssetCheckResult(
                    check_name="holdout_total_within_10_percent",
                    passed=abs(ratio - 1) <= 0.10,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"predicted_over_actual": ratio},
                ),
            ],
        )

    return ltv_model


def build_ltv_scoring_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = CUSTOMER_LTV_KEY

    @dg.asset(
        key=key,
        deps=[ORDERS_KEY, LTV_MODEL_KEY, *core_keys(config)],
        group_name=SCORING_GROUP,
        kinds={"scipy"},
        check_specs=[
            dg.AssetCheckSpec(CHECK_PROMOTED, asset=key, description=PROMOTED_DESCRIPTION)
        ],
    )
    @skip_when_inputs_unchanged(config, extra=promoted_model("ltv"))
    def customer_ltv(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
    ):
        """`ml.customer_ltv`: per customer with a purchase, probability alive, expected
        purchases and order value, predicted revenue over `models.ltv.horizon_days`, the
        expected next order date and historical revenue, with the promoted model."""
        as_of = analysis_date(context, config)
        store = model_store.get()
        version = store.champion("ltv")
        ref = table_ref(key)
        with warehouse.get().transaction() as session:
            if version is None:
                return no_promoted_model(context, session, ref, LTV_DTYPES, "ltv")
            orders = resolved_orders(session)
            scores = ltv.score_ltv(
                store.load("ltv", version).model,
                orders,
                as_of,
                version,
                _features_at(session, config),
            )
            session.replace_table(ref, scores)
        context.log.info(f"{len(scores):,} lifetime values with {version}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(scores),
                "model_version": version,
                "predicted_revenue_total": float(scores["predicted_revenue"].sum()),
                **chart(
                    "lifetime value distribution",
                    "How predicted revenue over the horizon is spread across customers, and "
                    "the share of the total the top customers hold.",
                    ltv_distribution_plot(scores),
                ),
            },
            check_results=[warning(CHECK_PROMOTED, True)],
        )

    return customer_ltv

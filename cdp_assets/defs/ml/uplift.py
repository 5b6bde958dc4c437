"""`ml.uplift_model` and `ml.uplift_scores`: whom the next campaign should target, with
which offer, learned from past randomised campaigns."""

import dagster as dg
import pandas as pd

from cdp_assets.activation.campaign_assignment import ASSIGNMENT_DTYPES, GLOBAL_CONTROL
from cdp_assets.analytics.features import customer_features, existing_core_tables
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.uplift import UPLIFT_SCORE_DTYPES
from cdp_assets.defs.catalog import (
    CAMPAIGN_ASSIGNMENTS,
    FEATURES_KEY,
    ORDERS_KEY,
    SCORING_GROUP,
    TRAINING_GROUP,
    UPLIFT_MODEL_KEY,
    UPLIFT_SCORES_KEY,
    table_ref,
)
from cdp_assets.defs.charts import model_charts
from cdp_assets.defs.ml.inputs import features_for
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
from cdp_assets.ml import uplift
from cdp_assets.ml.churn import NotEnoughData
from cdp_assets.ml.uplift_examples import campaign_outcomes, feature_day, uplift_examples
from cdp_assets.warehouse import WarehouseSession

MODEL_NAME = "uplift"
UPLIFT_CHECKS = ("enough_data", "beats_random_targeting", "beats_purchase_probability")


def _examples(session: WarehouseSession, config: CDPConfig, as_of) -> tuple[pd.DataFrame, dict]:
    """Assigned customers of campaigns with a control arm whose window has closed, with their
    outcome and their features as of their assignment run; the control arm of each."""
    controls = {c.name: c.control_arm for c in config.campaigns if c.control_arm}
    windows = {c.name: c.conversion_window_days for c in config.campaigns if c.control_arm}
    if not controls or not session.table_exists(CAMPAIGN_ASSIGNMENTS):
        return pd.DataFrame(), controls
    assignments = session.read_table(CAMPAIGN_ASSIGNMENTS, dtypes=ASSIGNMENT_DTYPES)
    assignments = assignments[assignments["arm"] != GLOBAL_CONTROL]
    orders = session.query(
        "SELECT customer_id, ordered_at, net_amount_base, is_purchase "
        f"FROM {table_ref(ORDERS_KEY).sql} WHERE customer_id IS NOT NULL"
    )
    outcomes = campaign_outcomes(assignments, orders, windows, as_of)
    tables = existing_core_tables(session)
    sla = config.analytics.support_sla_hours
    days = sorted(set(feature_day(outcomes["assigned_at"], config.timezone)))
    features = {day: customer_features(session, day, sla, tables) for day in days}
    return uplift_examples(outcomes, features, config.timezone), controls


def build_uplift_training_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = UPLIFT_MODEL_KEY

    @dg.asset(
        key=key,
        # campaign_assignments is read as history, not declared: campaigns assign customers
        # from audiences that may use uplift scores, and a declared input would close a loop.
        deps=[ORDERS_KEY, FEATURES_KEY],
        group_name=TRAINING_GROUP,
        kinds={"scikit-learn"},
        check_specs=[
            dg.AssetCheckSpec(
                "enough_data",
                asset=key,
                description="enough treated and control customers (warn, does not block)",
            ),
            dg.AssetCheckSpec(
                "beats_random_targeting",
                asset=key,
                description="held-out Qini coefficient above 0 (random targeting); else the "
                "model is not promoted (warn, does not block)",
            ),
            dg.AssetCheckSpec(
                "beats_purchase_probability",
                asset=key,
                description="held-out Qini above ranking by purchase probability (warn)",
            ),
        ],
    )
    def uplift_model(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
    ):
        """The individual effect of each campaign offer, learned from past randomised
        campaigns (each offer against its own campaign's control arm): a two-model learner
        and an X-learner on gradient boosting, compared on held-out customers by Qini
        coefficient against random targeting and against ranking by purchase probability;
        the better one is stored and promoted when it beats random targeting and the
        champion on the same customers. Reads activation.campaign_assignments as history (past
        campaigns), without depending on it: audiences may use uplift scores."""
        as_of = analysis_date(context, config)
        with warehouse.get().transaction() as session:
            examples, controls = _examples(session, config, as_of)
        try:
            if examples.empty:
                raise NotEnoughData("no campaign with a control arm whose window has closed")
            training = uplift.train_uplift(examples, controls)
        except NotEnoughData as exc:
            return not_enough_data(str(exc), UPLIFT_CHECKS)
        store = model_store.get()
        version = store.save(MODEL_NAME, training.candidate, training.metadata(as_of=as_of))
        promote, reason, _ = uplift.compare_with_champion(store, MODEL_NAME, training)
        if promote:
            store.promote(MODEL_NAME, version, reason)
        context.log.info(f"uplift: {version} {'promoted' if promote else 'kept out'}: {reason}")
        chosen = training.model_metrics()
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "status": "trained",
                "version": version,
                "promoted": promote,
                "decision": reason,
                "candidate": training.champion,
                "offers": ", ".join(training.arms),
                "offers_skipped": "; ".join(f"{a}: {r}" for a, r in training.skipped_arms.items())
                or "none",
                "qini": chosen["qini"],
                "metrics": metrics_md(training.metrics),
                "by_offer": metrics_md(training.arm_metrics),
                **{k: int(v) for k, v in training.counts.items()},
                **model_charts(training.plots()),
            },
            check_results=[
                warning("enough_data", True),
                warning("beats_random_targeting", training.beats_random, qini=chosen["qini"]),
                warning("beats_purchase_probability", training.beats_purchase_probability),
            ],
        )

    return uplift_model


def build_uplift_scoring_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = UPLIFT_SCORES_KEY

    @dg.asset(
        key=key,
        deps=[FEATURES_KEY, UPLIFT_MODEL_KEY],
        group_name=SCORING_GROUP,
        kinds={"scikit-learn"},
        check_specs=[
            dg.AssetCheckSpec(CHECK_PROMOTED, asset=key, description=PROMOTED_DESCRIPTION)
        ],
    )
    @skip_when_inputs_unchanged(config, extra=promoted_model(MODEL_NAME))
    def uplift_scores(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
    ):
        """Per customer, the offer (campaign arm) with the highest expected uplift with the
        promoted uplift model — the next best offer — its expected effect and decile; no offer
        ("do not target") when none is expected to help."""
        as_of = analysis_date(context, config)
        store = model_store.get()
        version = store.champion(MODEL_NAME)
        ref = table_ref(key)
        with warehouse.get().transaction() as session:
            if version is None:
                return no_promoted_model(context, session, ref, UPLIFT_SCORE_DTYPES, MODEL_NAME)
            model = store.load(MODEL_NAME, version).model
            features = features_for(session, model.features, f"{MODEL_NAME} {version}")
            scores = uplift.score_uplift(model, features, as_of, version)
            session.replace_table(ref, scores)
        context.log.info(f"{len(scores):,} uplift scores with {version}")
        offers = scores["best_arm"].fillna("do not target").value_counts()
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": len(scores),
                "model_version": version,
                "next_best_offer": dg.MetadataValue.json(offers.to_dict()),
                "mean_expected_uplift": float(scores["expected_uplift"].mean())
                if len(scores)
                else 0.0,
            },
            check_results=[warning(CHECK_PROMOTED, True)],
        )

    return uplift_scores

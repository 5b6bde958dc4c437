"""The names the wiring shares: groups, owners, pools, automation, asset keys and their
warehouse tables, job names. Every domain folder under `defs/` takes them from here, so no
domain imports another domain's private names.

Asset key prefix = warehouse schema: `staging/shop_orders` is the table `staging.shop_orders`.
"""

from __future__ import annotations

import dagster as dg

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.identity.facts import FACT_COLUMNS
from cdp_assets.warehouse import TableRef

# --------------------------------------------------------------------------- groups, owners
RAW_GROUP = "raw"
STAGING_GROUP = "staging"
OPS_GROUP = "ops"
PRIVACY_GROUP = "privacy"
CORE_GROUP = "core"
ANALYTICS_GROUP = "analytics"
ACTIVATION_GROUP = "activation"
TRAINING_GROUP = "ml_training"
SCORING_GROUP = "ml"

# Who answers for an asset, by group (Dagster owners: a team or an email address).
OWNERS_BY_GROUP: dict[str, tuple[str, ...]] = {
    RAW_GROUP: ("team:data_platform",),
    STAGING_GROUP: ("team:data_platform",),
    OPS_GROUP: ("team:data_platform",),
    CORE_GROUP: ("team:data_platform",),
    PRIVACY_GROUP: ("team:privacy",),
    ANALYTICS_GROUP: ("team:analytics",),
    ACTIVATION_GROUP: ("team:marketing_ops",),
    TRAINING_GROUP: ("team:data_science",),
    SCORING_GROUP: ("team:data_science",),
}

# ------------------------------------------------------------------------ pools, automation
# DuckDB allows one writer: every asset writes the warehouse, so every asset is in this pool
# (limit 1, run granularity, in dagster.yaml).
WAREHOUSE_POOL = "warehouse"

# Rebuild when an upstream table changes, but never past a failed blocking check.
EAGER_AFTER_CHECKS = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
# The automation an asset of each group gets unless it declares its own. Raw assets follow
# files (sensor, schedule), training is weekly, erasure and retention run with the nightly job.
AUTOMATION_BY_GROUP: dict[str, dg.AutomationCondition] = {
    STAGING_GROUP: EAGER_AFTER_CHECKS,
    CORE_GROUP: EAGER_AFTER_CHECKS,
    ANALYTICS_GROUP: EAGER_AFTER_CHECKS,
    ACTIVATION_GROUP: EAGER_AFTER_CHECKS,
    SCORING_GROUP: EAGER_AFTER_CHECKS,
    # The quality summary must show a failed check, not wait for it to pass.
    OPS_GROUP: dg.AutomationCondition.eager(),
}

# ------------------------------------------------------------------------------------- jobs
INGESTION_JOB = "ingest_sources"
NIGHTLY_JOB = "nightly_refresh"
TRAIN_JOB = "train_models"
SCORE_JOB = "score_models"
ERASURE_JOB = "erase_personal_data"


# ------------------------------------------------------------------------- keys and tables
def table_ref(key: dg.AssetKey) -> TableRef:
    """The warehouse table of an asset: ["staging", "shop_orders"] → staging.shop_orders."""
    if len(key.path) < 2:
        raise dg.Failure(f"asset key {key.to_user_string()} has no schema prefix")
    return TableRef(key.path[0], key.path[-1])


def raw_key(source: SourceConfig) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.name])


def staging_key(source: SourceConfig) -> dg.AssetKey:
    return dg.AssetKey(["staging", source.name])


# ops
LEDGER = TableRef("ops", "ingested_files")
QUARANTINE = TableRef("ops", "quarantine")
ISSUES = TableRef("ops", "data_quality_issues")
QUALITY_SUMMARY_KEY = dg.AssetKey(["ops", "quality_summary"])
ERASURE_KEY = dg.AssetKey(["ops", "erasure_log"])
RETENTION_KEY = dg.AssetKey(["ops", "retention_log"])

# core
XREF_KEY = dg.AssetKey(["core", "customer_xref"])
PROFILES_KEY = dg.AssetKey(["core", "customer_profiles"])
ORDERS_KEY = dg.AssetKey(["core", "orders"])
ORDER_ITEMS_KEY = dg.AssetKey(["core", "order_items"])
SURVEY_RESPONSES_KEY = dg.AssetKey(["core", "survey_responses"])
SUPPORT_TICKETS_KEY = dg.AssetKey(["core", "support_tickets"])
XREF = table_ref(XREF_KEY)
PROFILES = table_ref(PROFILES_KEY)


def fact_key(kind: str) -> dg.AssetKey:
    """`core.<table>` of a fact kind (orders, events, survey_responses, support_tickets)."""
    return dg.AssetKey(["core", FACT_COLUMNS[kind][0]])


# analytics
FEATURES_KEY = dg.AssetKey(["analytics", "customer_features"])
RFM_KEY = dg.AssetKey(["analytics", "rfm"])
FEATURES = table_ref(FEATURES_KEY)
RFM = table_ref(RFM_KEY)
CAMPAIGN_RESULTS_KEY = dg.AssetKey(["analytics", "campaign_results"])
CAMPAIGN_RESULTS = table_ref(CAMPAIGN_RESULTS_KEY)

# activation
MEMBERSHIP_KEY = dg.AssetKey(["activation", "audience_membership"])
CHANGES_KEY = dg.AssetKey(["activation", "audience_changes"])
CUSTOMER_360_KEY = dg.AssetKey(["activation", "customer_360"])
EXPORTS_KEY = dg.AssetKey(["activation", "audience_exports"])
MEMBERSHIP = table_ref(MEMBERSHIP_KEY)
CHANGES = table_ref(CHANGES_KEY)
CUSTOMER_360 = table_ref(CUSTOMER_360_KEY)
EXPORTS = table_ref(EXPORTS_KEY)
CAMPAIGN_ASSIGNMENTS_KEY = dg.AssetKey(["activation", "campaign_assignments"])
CAMPAIGN_EXPORTS_KEY = dg.AssetKey(["activation", "campaign_exports"])
CAMPAIGN_ASSIGNMENTS = table_ref(CAMPAIGN_ASSIGNMENTS_KEY)
CAMPAIGN_EXPORTS = table_ref(CAMPAIGN_EXPORTS_KEY)
# Written by campaign_exports: who was first exported to which arm, where, when.
CAMPAIGN_RECIPIENTS = TableRef("activation", "campaign_recipients")

# ml
LTV_MODEL_KEY = dg.AssetKey(["ml", "ltv_model"])
CUSTOMER_LTV_KEY = dg.AssetKey(["ml", "customer_ltv"])
RECOMMENDATIONS_KEY = dg.AssetKey(["ml", "product_recommendations"])
UPLIFT_MODEL_KEY = dg.AssetKey(["ml", "uplift_model"])
UPLIFT_SCORES_KEY = dg.AssetKey(["ml", "uplift_scores"])
PRODUCT_DEMAND_KEY = dg.AssetKey(["ml", "product_demand"])
STOCKOUT_RISK_KEY = dg.AssetKey(["ml", "stockout_risk"])
SALES_FORECAST_KEY = dg.AssetKey(["ml", "sales_forecast"])


def model_key(name: str) -> dg.AssetKey:
    """The training asset of a model of the store: `ml/<name>_model`."""
    return dg.AssetKey(["ml", f"{name}_model"])


def score_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["ml", table])


# ------------------------------------------------------------- keys a configuration builds
def has_order_items(config: CDPConfig) -> bool:
    """core.order_items exists when both orders and their lines are configured."""
    return bool(config.sources_of_kind("order_items") and config.sources_of_kind("orders"))


# Kinds of source that can make a person known before any purchase: accounts, CRM and loyalty
# members, web visitors, survey respondents, support contacts. Without one, every customer
# comes from an order and a lead (a person who never ordered) cannot exist.
LEAD_SOURCE_KINDS = ("customers", "events", "survey_responses", "support_tickets")


def has_models(config: CDPConfig) -> bool:
    """The predictive models (churn, LTV, ...) learn from orders: built only with them."""
    return bool(config.sources_of_kind("orders"))


def has_leads(config: CDPConfig) -> bool:
    """Whether a configured source can hold people who have not bought (see the kinds
    above): lead scoring is built only then."""
    return has_models(config) and any(config.sources_of_kind(k) for k in LEAD_SOURCE_KINDS)


def customer_360_inputs(config: CDPConfig) -> list[dg.AssetKey]:
    """The assets `activation.customer_360` joins that this configuration builds."""
    keys = [PROFILES_KEY]
    if config.sources_of_kind("customers") or config.sources_of_kind("orders"):
        keys += [FEATURES_KEY, RFM_KEY, MEMBERSHIP_KEY]
    if has_models(config):
        keys += [score_key("churn_scores"), CUSTOMER_LTV_KEY]
    if has_leads(config):
        keys.append(score_key("lead_scores"))
    if has_models(config) and has_order_items(config):
        keys.append(RECOMMENDATIONS_KEY)
    return keys


def core_keys(config: CDPConfig) -> list[dg.AssetKey]:
    """The core tables a configuration builds: profiles, facts, order lines."""
    keys = [PROFILES_KEY]
    keys += [fact_key(kind) for kind in FACT_COLUMNS if config.sources_of_kind(kind)]
    if has_order_items(config):
        keys.append(ORDER_ITEMS_KEY)
    return keys


def privacy_deps(config: CDPConfig) -> list[dg.AssetKey]:
    """Core rebuilds after erasure and retention, so a nightly run never re-resolves rows
    they are about to delete."""
    deps = []
    if config.sources_of_kind("erasure_requests"):
        deps.append(ERASURE_KEY)
    if any(s.retention_days for s in config.sources):
        deps.append(RETENTION_KEY)
    return deps

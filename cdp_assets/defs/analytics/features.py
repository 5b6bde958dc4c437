"""`analytics.customer_features`: one row per customer as of the analysis date."""

import dagster as dg
import pandas as pd

from cdp_assets.analytics.features import customer_features, existing_core_tables, known_profiles
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import ANALYTICS_GROUP, FEATURES, FEATURES_KEY, PROFILES, core_keys
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.table_checks import table_checks
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession


def feature_summary(features: pd.DataFrame) -> pd.DataFrame:
    """One row per numeric feature: count, mean, std, min, quartiles and max, rounded to 2
    decimals. Dates are left out: with them, the transposed table is all object dtype and
    neither rounding nor the markdown formatting applies to any figure."""
    # as float64: nullable integers' statistics would be Float64 columns mixed with float64
    numeric = features.select_dtypes("number").astype("float64")
    summary = numeric.describe().T.round(2)
    summary["count"] = summary["count"].astype("int64")
    return summary.reset_index(names="feature")


def build_features_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=FEATURES_KEY,
        deps=core_keys(config),
        group_name=ANALYTICS_GROUP,
        kinds={"sql", "pandas"},
    )
    @skip_when_inputs_unchanged(config)
    def customer_features_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """One row per customer as of the analysis date, computed in SQL from facts before the
        end of that day only: recency, frequency and net monetary value, order value, tenure
        and purchase gaps, categories and channels, web engagement over 30/90 days (sessions,
        product views, add-to-carts, abandoned carts), support (tickets, unresolved, SLA
        breaches), latest NPS and CSAT, loyalty and consent. Column descriptions in metadata."""
        as_of = analysis_date(context, config)
        wh = warehouse.get()
        with wh.transaction() as session:
            tables = existing_core_tables(session)
            features = customer_features(session, as_of, config.analytics.support_sla_hours, tables)
            session.replace_table(FEATURES, features)
        buyers = int((features["frequency"] > 0).sum())
        context.log.info(f"{len(features):,} customers' features as of {as_of}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(features),
                "as_of": str(as_of),
                "customers_with_purchases": buyers,
                "summary": dg.MetadataValue.md(
                    markdown_table(feature_summary(features), max_rows=40)
                ),
            },
        )

    return customer_features_asset


CHECK_ONE_ROW = "one_row_per_customer"


def build_features_checks() -> dg.AssetChecksDefinition:
    """The features table's blocking check, from the published table and the profiles."""
    spec = dg.AssetCheckSpec(
        CHECK_ONE_ROW,
        asset=FEATURES_KEY,
        blocking=True,
        description="one feature row per customer profile first seen by the analysis date, "
        "customer_id unique; blocks downstream assets when it fails",
    )
    return table_checks(
        "customer_features_checks", [spec], _one_row_per_customer, reads=(FEATURES, PROFILES)
    )


def _one_row_per_customer(session: WarehouseSession) -> list[dg.AssetCheckResult]:
    """The table's own analysis date (its `as_of` column) decides which profiles count."""
    figures = session.query(
        f"SELECT COUNT(*) AS rows, COUNT(DISTINCT customer_id) AS customers, "
        f"MAX(as_of) AS as_of FROM {FEATURES.sql}"
    ).iloc[0]
    rows, customers = int(figures["rows"]), int(figures["customers"])
    as_of = None if pd.isna(figures["as_of"]) else pd.Timestamp(figures["as_of"]).date()
    profiles = known_profiles(session, as_of) if as_of is not None else 0
    return [
        dg.AssetCheckResult(
            check_name=CHECK_ONE_ROW,
            passed=rows == customers == profiles,
            metadata={
                "rows": rows,
                "profiles": profiles,
                "unique": rows == customers,
                "as_of": str(as_of),
            },
        )
    ]

"""`activation.customer_360`: one wide row per customer for downstream jobs."""

import dagster as dg

from cdp_assets.activation.customer_360 import customer_360_sql, missing_inputs
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.customer_360 import (
    CUSTOMER_360_DTYPES,
    CUSTOMER_360_PII,
    CUSTOMER_360_SCHEMA_VERSION,
)
from cdp_assets.defs.catalog import (
    ACTIVATION_GROUP,
    CUSTOMER_360,
    CUSTOMER_360_KEY,
    customer_360_inputs,
    table_ref,
)
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table, masked_preview
from cdp_assets.warehouse import WarehouseSession, coerce_frame

# Columns whose share of customers with a value the asset reports.
COVERAGE_COLUMNS = (
    "email",
    "rfm_segment",
    "churn_probability",
    "predicted_ltv",
    "lead_probability",
    "top_recommendations",
    "audiences",
)


def _existing(session: WarehouseSession) -> set[str]:
    frame = session.query(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
        "WHERE table_schema IN ('core', 'analytics', 'ml', 'activation')"
    )
    return set(frame["name"])


def build_customer_360_asset(config: CDPConfig) -> dg.AssetsDefinition:
    inputs = customer_360_inputs(config)
    configured = {str(table_ref(key)) for key in inputs}

    @dg.asset(
        key=CUSTOMER_360_KEY,
        deps=inputs,
        group_name=ACTIVATION_GROUP,
        kinds={"sql"},
        tags={"cdp/layer": "activation"},
        metadata={"schema_version": CUSTOMER_360_SCHEMA_VERSION},
    )
    @skip_when_inputs_unchanged(config)
    def customer_360(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """One wide row per customer for downstream jobs: the golden profile, key features,
        RFM segment, churn probability and band, predicted lifetime value, top
        recommendations, audiences and consent per channel. A versioned contract (see the
        README's table); inputs not built yet (no promoted model) or that the configuration
        does not build (no order lines: no recommendations) give null columns."""
        as_of = analysis_date(context, config)
        with warehouse.get().transaction() as session:
            existing = _existing(session)
            sql = customer_360_sql(existing, as_of.isoformat(), session.dialect)
            rows = session.replace_table_as(CUSTOMER_360, sql)
            preview = session.query(f"SELECT * FROM {CUSTOMER_360.sql} LIMIT 10")
            filled = session.query(
                "SELECT "
                + ", ".join(f"COUNT({c}) AS {c}" for c in COVERAGE_COLUMNS)
                + f" FROM {CUSTOMER_360.sql}"
            )
        # Tables this configuration never builds are not "missing": their columns stay null.
        missing = [table for table in missing_inputs(existing) if table in configured]
        coverage = filled.T.rename(columns={0: "customers_with_value"})
        coverage["share"] = (coverage["customers_with_value"] / rows).round(4) if rows else None
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": rows,
                "dagster/table_name": str(CUSTOMER_360),
                "schema_version": CUSTOMER_360_SCHEMA_VERSION,
                "pii_columns": ", ".join(CUSTOMER_360_PII),
                "coverage": dg.MetadataValue.md(
                    markdown_table(coverage.reset_index(names="column"))
                ),
                "inputs_missing": ", ".join(missing) or "none",
                "preview": dg.MetadataValue.md(
                    masked_preview(coerce_frame(preview, CUSTOMER_360_DTYPES), CUSTOMER_360_PII)
                ),
            }
        )

    return customer_360

"""`core.<facts>`: every staged fact row with its customer id, joined in SQL."""

import dagster as dg

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    CORE_GROUP,
    ORDER_ITEMS_KEY,
    ORDERS_KEY,
    XREF_KEY,
    fact_key,
    staging_key,
    table_ref,
)
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.identity.facts import order_items_sql, resolved_fact_sql
from cdp_assets.reporting.markdown import markdown_table

CHECK_RESOLVED_SHARE = "resolved_share"
ORDERS_NOTE = (
    " Amounts in the base currency; net_amount_base is 0 for cancelled and refunded "
    "orders; is_purchase marks completed and partially refunded ones."
)


def build_fact_asset(config: CDPConfig, kind: str) -> dg.AssetsDefinition:
    key = fact_key(kind)
    sources = [s.name for s in config.sources_of_kind(kind)]

    @dg.asset(
        key=key,
        name=None,
        deps=[XREF_KEY, *[staging_key(config.source(s)) for s in sources]],
        group_name=CORE_GROUP,
        kinds={"sql"},
        tags={"cdp/layer": "core"},
        description=f"Every staged {kind.replace('_', ' ')} row of "
        f"{', '.join(sources)} with its customer_id (null when anonymous), joined in SQL."
        + (ORDERS_NOTE if kind == "orders" else ""),
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_RESOLVED_SHARE,
                asset=key,
                description="share of rows resolved to a customer (warns under half)",
            )
        ],
    )
    @skip_when_inputs_unchanged(config)
    def _fact(warehouse: WarehouseResource) -> dg.MaterializeResult:
        ref = table_ref(key)
        with warehouse.get().transaction() as session:
            rows = session.replace_table_as(ref, resolved_fact_sql(kind, config))
            resolved = int(
                session.scalar(f"SELECT COUNT(*) FROM {ref.sql} WHERE customer_id IS NOT NULL")
            )
            by_source = session.query(
                f"SELECT source, COUNT(*) AS rows, COUNT(customer_id) AS resolved "
                f"FROM {ref.sql} GROUP BY source ORDER BY source"
            )
        # No rows, no share: a source whose files have not arrived is not "all resolved".
        share = {"resolved_share": round(resolved / rows, 5)} if rows else {}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "resolved_rows": resolved,
                **share,
                "by_source": dg.MetadataValue.md(markdown_table(by_source)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_RESOLVED_SHARE,
                    passed=not rows or resolved >= 0.5 * rows or kind == "events",
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={**share, "rows": rows},
                )
            ],
        )

    return _fact


def build_order_items_asset(config: CDPConfig) -> dg.AssetsDefinition:
    sources = [s.name for s in config.sources_of_kind("order_items")]

    @dg.asset(
        key=ORDER_ITEMS_KEY,
        deps=[ORDERS_KEY, *[staging_key(config.source(s)) for s in sources]],
        group_name=CORE_GROUP,
        kinds={"sql"},
        tags={"cdp/layer": "core"},
    )
    @skip_when_inputs_unchanged(config)
    def order_items(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Order lines of every order_items source joined to core.orders by order id: the
        order's customer_id, time and status, and unit prices in the base currency at the
        order's rate. Lines whose order is unknown keep a null customer_id."""
        ref = table_ref(ORDER_ITEMS_KEY)
        with warehouse.get().transaction() as session:
            rows = session.replace_table_as(ref, order_items_sql(config))
            orphans = int(
                session.scalar(f"SELECT COUNT(*) FROM {ref.sql} WHERE order_source IS NULL")
            )
        return dg.MaterializeResult(
            metadata={"dagster/row_count": rows, "lines_without_order": orphans}
        )

    return order_items

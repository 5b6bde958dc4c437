"""`ml.product_recommendations`: item-to-item recommendations with a popularity fallback."""

import dagster as dg
import pandas as pd

from cdp_assets.analytics.features import existing_core_tables, known_customers_sql
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    ORDER_ITEMS_KEY,
    PROFILES_KEY,
    RECOMMENDATIONS_KEY,
    SCORING_GROUP,
    table_ref,
)
from cdp_assets.defs.ml.outcomes import metrics_md
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.ml.recommendations import evaluate_recommendations, recommend
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession


def _purchase_lines(session: WarehouseSession) -> pd.DataFrame:
    """The columns `recommend` and `evaluate_recommendations` read (`purchase_lines`)."""
    return session.query(
        "SELECT customer_id, order_id, product_id, category, ordered_at, status "
        "FROM core.order_items WHERE customer_id IS NOT NULL"
    )


def _product_views(session: WarehouseSession, tables: frozenset[str]) -> pd.DataFrame | None:
    if "events" not in tables:
        return None
    return session.query(
        "SELECT customer_id, product_id, occurred_at, event_type FROM core.events "
        "WHERE event_type = 'product_view' AND customer_id IS NOT NULL AND product_id IS NOT NULL"
    )


def _rows_by_reason(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Rows per kind of reason (its first word: bought, viewed, popular), counted over the
    few thousand distinct reasons rather than the ten rows of every customer."""
    per_reason = recommendations["reason"].value_counts()
    kinds = per_reason.index.str.replace(r" .*", "", regex=True).rename("reason")
    by_kind = per_reason.groupby(kinds).sum().sort_values(ascending=False, kind="stable")
    return by_kind.rename("rows").reset_index()


def build_recommendations_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = RECOMMENDATIONS_KEY
    settings = config.models.recommendations

    @dg.asset(
        key=key,
        deps=[ORDER_ITEMS_KEY, PROFILES_KEY],
        group_name=SCORING_GROUP,
        kinds={"scipy"},
        check_specs=[
            dg.AssetCheckSpec(
                "beats_popularity",
                asset=key,
                description="item-to-item NDCG@10 on the held-out later period at least the "
                "popularity baseline's (warn)",
            )
        ],
    )
    @skip_when_inputs_unchanged(config)
    def product_recommendations(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Item-to-item collaborative filtering from co-purchases and product views before the
        end of the analysis date, with a popularity fallback for new customers (customers first
        seen later get none); already-bought items are left out unless their
        category is consumable (`models.recommendations.consumable_categories`). Evaluated on
        a held-out later period (hit rate and NDCG at 10) against the popularity baseline."""
        as_of = analysis_date(context, config)
        with warehouse.get().transaction() as session:
            tables = existing_core_tables(session)
            lines = _purchase_lines(session)
            views = _product_views(session, tables)
            customers = session.query(known_customers_sql(as_of))
            consumable = settings.consumable_categories
            recommendations = recommend(
                lines, views, customers["customer_id"], as_of, settings.top_n, consumable
            )
            evaluation = evaluate_recommendations(
                lines, views, as_of, settings.holdout_days, settings.top_n, consumable
            )
            session.replace_table(table_ref(RECOMMENDATIONS_KEY), recommendations)
        by_model = evaluation.set_index("model")
        cf = float(by_model["ndcg_at_10"].get("item_to_item", 0.0))
        popular = float(by_model["ndcg_at_10"].get("popularity", 0.0))
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": len(recommendations),
                "evaluation": metrics_md(evaluation),
                "by_reason": dg.MetadataValue.md(markdown_table(_rows_by_reason(recommendations))),
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

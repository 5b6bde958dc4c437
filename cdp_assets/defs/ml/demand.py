"""`ml.product_demand` (units per product per week for the top products) and, when an
inventory source is configured, `ml.stockout_risk` (weeks of cover and the products likely to
run out before the replenishment lead time)."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.analytics.features import AsOf
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    ORDER_ITEMS_KEY,
    ORDERS_KEY,
    PRODUCT_DEMAND_KEY,
    SCORING_GROUP,
    STOCKOUT_RISK_KEY,
    staging_key,
    table_ref,
)
from cdp_assets.defs.ml.outcomes import metrics_md
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.forecast.demand import (
    DEMAND_COLUMNS,
    METHOD,
    RECENT_WEEKS,
    WeeklySales,
    backtest_demand,
    demand_rows,
    forecast_products,
    top_products,
)
from cdp_assets.forecast.demand_plot import demand_plot_or_note
from cdp_assets.forecast.periods import local_days
from cdp_assets.forecast.stockout import (
    STOCKOUT_COLUMNS,
    latest_counts,
    location_shares,
    stockout_risk,
)
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame

TOP_SHOWN = 20  # rows of the metadata tables


def product_sales(session: WarehouseSession, config: CDPConfig, as_of: dt.date) -> pd.DataFrame:
    """Units sold per order line of a purchase before the UTC midnight after `as_of` (local
    day, product, category, store: NULL online)."""
    cutoff = _cutoff(as_of)
    lines = session.query(
        "SELECT i.product_id, i.product_name, i.category, i.quantity AS units, o.ordered_at, "
        f"o.store_id FROM {table_ref(ORDER_ITEMS_KEY).sql} i "
        f"JOIN {table_ref(ORDERS_KEY).sql} o "
        "ON o.order_id = i.order_id AND o.source = i.order_source "
        "WHERE o.is_purchase AND i.product_id IS NOT NULL AND o.ordered_at < :cutoff",
        {"cutoff": cutoff.to_pydatetime()},
    )
    return lines.assign(
        day=local_days(lines["ordered_at"], config.timezone),
        units=pd.to_numeric(lines["units"]).fillna(1).astype(float),
    ).drop(columns="ordered_at")


def _cutoff(as_of: dt.date) -> pd.Timestamp:
    """The UTC midnight after `as_of`: facts at or after it are ignored (as everywhere)."""
    return pd.Timestamp(AsOf(as_of).cutoff)


def _empty(session: WarehouseSession, ref: TableRef, dtypes: dict[str, str], reason: str):
    session.replace_table(ref, coerce_frame(pd.DataFrame(), dtypes))
    return dg.MaterializeResult(
        metadata={"status": f"not enough data: {reason}", "dagster/row_count": 0}
    )


def _top_products_md(rows: pd.DataFrame) -> dg.MetadataValue:
    first = rows["period_start"] == rows["period_start"].min()
    summary = (
        rows.groupby("product_id", sort=False)
        .agg(
            rank=("rank", "first"),
            product_name=("product_name", "first"),
            category=("category", "first"),
            recent_weekly_units=("recent_weekly_units", "first"),
            horizon_units=("forecast", "sum"),
            note=("note", "first"),
        )
        .reset_index()
    )
    next_week = rows.loc[first].set_index("product_id")[["forecast", "lower_80", "upper_80"]]
    summary = summary.join(next_week.add_prefix("next_week_"), on="product_id")
    return dg.MetadataValue.md(markdown_table(summary.head(TOP_SHOWN).round(1), max_rows=TOP_SHOWN))


def build_product_demand_asset(config: CDPConfig) -> dg.AssetsDefinition:
    settings = config.models.forecast

    @dg.asset(
        key=PRODUCT_DEMAND_KEY,
        deps=[ORDER_ITEMS_KEY, ORDERS_KEY],
        group_name=SCORING_GROUP,
        kinds={"pandas", "scipy"},
    )
    @skip_when_inputs_unchanged(config)
    def product_demand(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Units per product per week over the forecast horizon (`models.forecast.
        horizon_weeks`) for the `top_products` products with the most units in the last 13
        weeks, with 80 % and 95 % intervals: each product's recent weekly rate times its
        category's seasonal index learned from past years (negative binomial intervals).
        Backtested at rolling origins against seasonal naive and the 13-week mean (WAPE).
        Only sales up to the end of the analysis date count."""
        as_of = analysis_date(context, config)
        ref = table_ref(PRODUCT_DEMAND_KEY)
        with warehouse.get().transaction() as session:
            sales = product_sales(session, config, as_of)
            if sales.empty or settings.top_products == 0:
                reason = "no product sales up to the analysis date" if sales.empty else (
                    "models.forecast.top_products is 0"
                )  # fmt: skip
                return _empty(session, ref, DEMAND_COLUMNS, reason)
            weekly = WeeklySales.of(sales, as_of)
            products = top_products(weekly, settings.top_products)
            forecast = forecast_products(weekly, products, settings.horizon_weeks)
            rows = demand_rows(forecast, weekly)
            session.replace_table(ref, rows)
        backtest = backtest_demand(
            sales,
            as_of,
            settings.top_products,
            settings.horizon_weeks,
            settings.backtest_origins,
            settings.backtest_spacing_weeks,
        )
        metadata: dict[str, object] = {
            "as_of": str(as_of),
            "dagster/row_count": len(rows),
            "products": len(products),
            "method": METHOD,
            "top_products": _top_products_md(rows),
            "plot": dg.MetadataValue.md(demand_plot_or_note(weekly, rows)),
        }
        if forecast.category_notes:
            metadata["notes"] = "; ".join(forecast.category_notes)
        if backtest is None:
            metadata["backtest"] = (
                f"no backtest: no origin with {RECENT_WEEKS} weeks of history and a week to score"
            )
        else:
            wape = pd.DataFrame(
                {"method": list(backtest.wape), "wape": list(backtest.wape.values())}
            )
            metadata["backtest_wape"] = metrics_md(wape)
            metadata["backtest_origins"] = backtest.origins
            metadata["wape"] = backtest.wape.get(METHOD, float("nan"))
            metadata["wape_seasonal_naive"] = backtest.wape.get("seasonal_naive", float("nan"))
            metadata["wape_mean_13_weeks"] = backtest.wape.get("mean_13_weeks", float("nan"))
            metadata["coverage_80"] = backtest.coverage_80
            metadata["coverage_95"] = backtest.coverage_95
        return dg.MaterializeResult(metadata=metadata)

    return product_demand


def _stock_counts(session: WarehouseSession, config: CDPConfig) -> pd.DataFrame:
    """Every staged inventory source's counts, one union (inventory is not customer data: no
    core table of its own); no rows when none is staged yet."""
    refs = [table_ref(staging_key(s)) for s in config.sources_of_kind("inventory")]
    parts = [
        f"SELECT product_id, store_id, on_hand_units, counted_at FROM {ref.sql}"
        for ref in refs
        if session.table_exists(ref)
    ]
    if not parts:
        return pd.DataFrame(columns=["product_id", "store_id", "on_hand_units", "counted_at"])
    return session.query(" UNION ALL ".join(parts))


def at_risk_markdown(shown: pd.DataFrame) -> str:
    """The products most at risk as a table, figures to two decimals (dates as they are)."""
    if shown.empty:
        return "nothing at risk"
    figures = shown.select_dtypes("number").columns
    return markdown_table(shown.round(dict.fromkeys(figures, 2)), max_rows=TOP_SHOWN)


def build_stockout_risk_asset(config: CDPConfig) -> dg.AssetsDefinition:
    settings = config.models.forecast
    inventory_keys = [staging_key(s) for s in config.sources_of_kind("inventory")]

    @dg.asset(
        key=STOCKOUT_RISK_KEY,
        deps=[ORDER_ITEMS_KEY, ORDERS_KEY, *inventory_keys],
        group_name=SCORING_GROUP,
        kinds={"pandas", "scipy"},
    )
    @skip_when_inputs_unchanged(config)
    def stockout_risk_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Per product and location (store, or the online warehouse), from the latest stock
        count at or before the end of the analysis date: the expected weekly demand (the
        product's demand forecast times the location's share of its units in the last 26
        weeks), weeks of cover, the expected run-out date and the probability of running out
        before `models.forecast.stockout_lead_time_weeks`; `at_risk` when the cover is
        shorter than that lead time. Most at risk first."""
        as_of = analysis_date(context, config)
        ref = table_ref(STOCKOUT_RISK_KEY)
        lead_time = settings.stockout_lead_time_weeks
        with warehouse.get().transaction() as session:
            last_instant = _cutoff(as_of) - pd.Timedelta(microseconds=1)
            counts = latest_counts(_stock_counts(session, config), last_instant)
            if counts.empty:
                return _empty(session, ref, STOCKOUT_COLUMNS, f"no stock count up to {as_of}")
            sales = product_sales(session, config, as_of)
            if sales.empty:
                return _empty(session, ref, STOCKOUT_COLUMNS, "no product sales up to the date")
            weekly = WeeklySales.of(sales, as_of)
            weeks = max(settings.horizon_weeks, int(-(-lead_time // 1)))
            forecast = forecast_products(weekly, pd.Index(counts["product_id"].unique()), weeks)
            stores_known = sales["store_id"].notna().any()
            shares = location_shares(sales, as_of) if stores_known else None
            risk = stockout_risk(counts, forecast, shares, lead_time)
            session.replace_table(ref, risk)
        at_risk = risk.loc[risk["at_risk"].fillna(False)]
        shown = at_risk[
            [
                "product_id",
                "store_id",
                "on_hand_units",
                "weekly_demand",
                "weeks_of_cover",
                "run_out_date",
                "p_stockout_before_lead_time",
            ]
        ].head(TOP_SHOWN)
        # Product ids look like identifiers to the metadata masking: the name says which.
        shown.insert(1, "product_name", shown["product_id"].map(weekly.name_of))
        return dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "dagster/row_count": len(risk),
                "lead_time_weeks": lead_time,
                "locations": int(risk["store_id"].fillna("online").nunique()),
                "products": int(risk["product_id"].nunique()),
                "at_risk": len(at_risk),
                "products_at_risk": int(at_risk["product_id"].nunique()),
                "latest_count_at": str(counts["counted_at"].max()),
                "at_risk_table": dg.MetadataValue.md(at_risk_markdown(shown)),
            }
        )

    return stockout_risk_asset

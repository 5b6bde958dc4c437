"""`ml.sales_forecast`: weekly and daily sales forecasts per level with intervals, each
series' model chosen by a rolling-origin backtest."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    ORDER_ITEMS_KEY,
    ORDERS_KEY,
    SALES_FORECAST_KEY,
    SCORING_GROUP,
    has_order_items,
    table_ref,
)
from cdp_assets.defs.ml.inputs import resolved_orders
from cdp_assets.defs.ml.outcomes import metrics_md, not_enough_data
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.forecast.backtest import CHOSEN
from cdp_assets.forecast.backtest_cache import BACKTEST_CACHE_COLUMNS, BacktestCache
from cdp_assets.forecast.customer_based import CustomerBasedOrdersForecaster
from cdp_assets.forecast.daily_sales import load_daily_sales
from cdp_assets.forecast.models import CUSTOMER_BASED, SEASONAL_NAIVE
from cdp_assets.forecast.periods import TOTAL, CustomerBasedForecaster
from cdp_assets.forecast.plots import backtest_plot, level_forecast_plot
from cdp_assets.forecast.sales import NotEnoughSales, SalesForecast, forecast_sales
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.versions import code_digest

CHECK_BEATS_NAIVE = "beats_seasonal_naive"
CHECK_COVERAGE = "interval_coverage"
CHECKS = (CHECK_BEATS_NAIVE, CHECK_COVERAGE)
COVERAGE_80_RANGE = (0.70, 0.90)  # the check's tolerance around the 75-85 % target
# The backtest forecasts of the last run's origins, reused while their inputs are the same.
BACKTEST_CACHE = TableRef("ml", "sales_forecast_backtests")


def read_backtest_cache(session: WarehouseSession) -> BacktestCache | None:
    if not session.table_exists(BACKTEST_CACHE):
        return None
    return BacktestCache.from_frame(
        session.read_table(BACKTEST_CACHE, dtypes=BACKTEST_CACHE_COLUMNS)
    )


def customer_forecaster(
    session: WarehouseSession, config: CDPConfig
) -> CustomerBasedForecaster | None:
    """The customer-based model when it is configured: the resolved customers' purchases on
    the same local days as the sales series."""
    if CUSTOMER_BASED not in config.models.forecast.models:
        return None
    return CustomerBasedOrdersForecaster.from_resolved_orders(
        resolved_orders(session), config.timezone
    )


def _metadata(result: SalesForecast, as_of: dt.date) -> dict[str, object]:
    def improvement(level: str) -> float:
        return result.figure(level, CHOSEN, "mase_vs_naive")

    metadata: dict[str, object] = {
        "as_of": str(as_of),
        "dagster/row_count": len(result.rows),
        "chosen_models": dg.MetadataValue.md(
            markdown_table(result.chosen.round(3), max_rows=len(result.chosen))
        ),
        "backtest": metrics_md(result.backtest),
        "total_mase": result.figure(TOTAL, CHOSEN, "mase"),
        "total_mase_improvement_vs_seasonal_naive": improvement(TOTAL),
        "category_mase_improvement_vs_seasonal_naive": improvement("category"),
        "coverage_80": float(
            result.errors.loc[result.errors["model"] == CHOSEN, "inside_80"].astype(float).mean()
        ),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes) or "none"),
        "backtest_plot": dg.MetadataValue.md(backtest_plot(result.backtest)),
        # (model, origin) backtest forecasts reused from the last run / fitted in this one.
        "backtest_fits_reused": result.backtest_cache.reused,
        "backtest_fits_computed": result.backtest_cache.fitted,
    }
    metric = result.chosen["metric"].iloc[0]
    for level in dict.fromkeys(result.chosen["level"]):
        metadata[f"plot_{level}"] = dg.MetadataValue.md(
            level_forecast_plot(result.history, result.rows, level, metric)
        )
    return {k: v for k, v in metadata.items() if not (isinstance(v, float) and pd.isna(v))}


def _checks(result: SalesForecast) -> list[dg.AssetCheckResult]:
    chosen = result.figure(TOTAL, CHOSEN, "mase")
    naive = result.figure(TOTAL, SEASONAL_NAIVE, "mase")
    coverage = result.errors.loc[result.errors["model"] == CHOSEN, "inside_80"].astype(float)
    share = float(coverage.mean()) if len(coverage) else float("nan")
    low, high = COVERAGE_80_RANGE
    return [
        dg.AssetCheckResult(
            check_name=CHECK_BEATS_NAIVE,
            passed=bool(chosen <= naive),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"total_mase": chosen, "total_mase_seasonal_naive": naive},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_COVERAGE,
            passed=bool(low <= share <= high),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"coverage_80": share, "accepted_low": low, "accepted_high": high},
        ),
    ]


def build_sales_forecast_asset(config: CDPConfig) -> dg.AssetsDefinition:
    key = SALES_FORECAST_KEY
    settings = config.models.forecast
    with_items = has_order_items(config)

    @dg.asset(
        key=key,
        deps=[ORDERS_KEY, *([ORDER_ITEMS_KEY] if with_items else [])],
        group_name=SCORING_GROUP,
        kinds={"statsmodels", "scikit-learn"},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_BEATS_NAIVE,
                asset=key,
                description="the published total forecasts' backtest MASE is no worse than "
                "seasonal naive's (warn)",
            ),
            dg.AssetCheckSpec(
                CHECK_COVERAGE,
                asset=key,
                description="80 % intervals covered between 70 % and 90 % of the backtest's "
                "actuals, origins left out of their own calibration (warn)",
            ),
        ],
    )
    @skip_when_inputs_unchanged(config)
    def sales_forecast(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Net revenue, orders and units per 7-day week after the analysis date
        (`models.forecast.horizon_weeks`) and per day for the next `daily_horizon_days`, for
        the total and each level in `models.forecast.levels` (channel, category, store; small
        members rolled into 'other'), with 80 % and 95 % intervals. Each series' model
        (seasonal naive, Holt-Winters ETS, gradient boosting, customer-based) is chosen by a
        rolling-origin backtest on facts up to each origin; channels and categories add up to
        the total, stores to the 'store' channel. Uses only orders up to the end of the
        analysis date (local time zone)."""
        as_of = analysis_date(context, config)
        with warehouse.get().transaction() as session:
            daily = load_daily_sales(session, as_of, config.timezone, with_items)
            if daily.empty:
                return not_enough_data("no purchases up to the analysis date", CHECKS)
            forecaster = customer_forecaster(session, config)
            cache = read_backtest_cache(session)
        # The models fit outside the transaction: no connection is held while they run.
        try:
            result = forecast_sales(
                daily,
                as_of,
                settings,
                config.analytics.holiday_windows,
                forecaster,
                cache,
                code_digest(),
            )
        except NotEnoughSales as exc:
            return not_enough_data(str(exc), CHECKS)
        with warehouse.get().transaction() as session:
            session.replace_table(table_ref(key), result.rows)
            if not result.backtest_cache.same_as(cache):
                session.replace_table(BACKTEST_CACHE, result.backtest_cache.to_frame())
        context.log.info(f"{len(result.rows):,} forecast rows, {len(result.chosen)} series")
        return dg.MaterializeResult(
            metadata=_metadata(result, as_of), check_results=_checks(result)
        )

    return sales_forecast

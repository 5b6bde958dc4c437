"""Accuracy on a materialized demo warehouse: the product demand backtest (WAPE against
seasonal naive and the 13-week mean, interval coverage) and the customer-based forecast of
weekly orders and net revenue at a few origins, against what happened.

    CDP_CONFIG=/path/cdp.yaml python bench/product_demand.py 2026-11-20 2026-01-15
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np
import pandas as pd

from cdp_assets.config import load_config
from cdp_assets.defs.ml.demand import product_sales
from cdp_assets.defs.ml.inputs import resolved_orders
from cdp_assets.forecast.customer_based import CustomerBasedOrdersForecaster
from cdp_assets.forecast.demand import backtest_demand
from cdp_assets.forecast.periods import week_start
from cdp_assets.warehouse import Warehouse

WEEKS = 13


def demand_backtests(sales: pd.DataFrame, dates: list[dt.date], top: int) -> None:
    for as_of in dates:
        result = backtest_demand(sales, as_of, top, WEEKS, origins=6, spacing_weeks=4)
        if result is None:
            print(f"demand backtest as of {as_of}: no origin")
            continue
        wape = ", ".join(f"{m} {w:.3f}" for m, w in result.wape.items())
        print(
            f"demand backtest as of {as_of} (top {top}, {result.origins} origins every 4 weeks, "
            f"horizon {WEEKS}): WAPE {wape}; 80 % coverage {result.coverage_80:.3f}, "
            f"95 % coverage {result.coverage_95:.3f}"
        )


def customer_based(orders: pd.DataFrame, origins: list[dt.date]) -> None:
    forecaster = CustomerBasedOrdersForecaster(orders)
    buys = orders.loc[orders["is_purchase"].fillna(False).astype(bool)]
    day = pd.to_datetime(buys["ordered_at"], utc=True).dt.tz_localize(None).dt.normalize()
    for origin in origins:
        started = time.perf_counter()
        forecast = forecaster.weekly(origin, WEEKS)
        seconds = time.perf_counter() - started
        after = (day > pd.Timestamp(origin)) & (
            day <= pd.Timestamp(origin) + pd.Timedelta(weeks=WEEKS)
        )
        week = week_start(day[after], origin)
        actual_orders = week.value_counts().reindex(forecast["period_start"], fill_value=0)
        actual_revenue = (
            buys.loc[after, "net_amount_base"].groupby(week.to_numpy()).sum()
        ).reindex(forecast["period_start"], fill_value=0.0)
        o, r = forecast["orders"].to_numpy(), forecast["net_revenue"].to_numpy()
        wape_o = np.abs(o - actual_orders.to_numpy()).sum() / actual_orders.sum()
        wape_r = np.abs(r - actual_revenue.to_numpy()).sum() / actual_revenue.sum()
        fit = forecaster.last_fit
        print(
            f"customer-based at {origin}: model {fit.model.name}, {fit.customers} customers; "
            f"{WEEKS}-week orders {o.sum():,.0f} vs actual {actual_orders.sum():,} "
            f"(ratio {o.sum() / actual_orders.sum():.3f}, weekly WAPE {wape_o:.3f}); revenue "
            f"{r.sum():,.0f} vs {actual_revenue.sum():,.0f} (ratio {r.sum() / actual_revenue.sum():.3f}, "
            f"weekly WAPE {wape_r:.3f}); new-customer share {forecast['new_orders'].sum() / o.sum():.2f}; "
            f"{seconds:.2f} s"
        )


def main(dates: list[dt.date]) -> None:
    config = load_config()
    with Warehouse(config.warehouse.url).transaction() as session:
        sales = product_sales(session, config, max(dates))
        orders = resolved_orders(session)
    demand_backtests(sales, dates, config.models.forecast.top_products)
    end = max(dates)
    origins = [end - dt.timedelta(weeks=w) for w in (52, 39, 26, 13)]
    customer_based(orders, origins)


if __name__ == "__main__":
    main([dt.date.fromisoformat(a) for a in sys.argv[1:]] or [dt.date(2026, 11, 20)])

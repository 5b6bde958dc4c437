"""Speed of the customer-based forecast: one `weekly()` call at 1,000,000 simulated BG/NBD
customers (three years of arrivals), as the sales forecast's backtest makes at each origin.

    python bench/customer_based_forecast.py [customers]
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np
import pandas as pd

from cdp_assets.forecast.customer_based import CustomerBasedOrdersForecaster
from cdp_assets.ml import btyd

START = dt.date(2023, 11, 21)
DAYS = 1095
WEEKS = 13


def simulated_orders(customers: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    end = DAYS + WEEKS * 7
    first = rng.integers(0, end, customers)
    params = btyd.BgNbdParams(r=0.3, alpha=12.0, a=0.8, b=3.0)
    who, when = btyd.simulate_bg_nbd(params, (end - first).astype(float), rng)
    customer = np.r_[np.arange(customers), who]
    day = np.r_[first, first[who] + np.floor(when).astype(int)]
    keep = day < end
    customer, day = customer[keep], day[keep]
    value = btyd.simulate_gamma_gamma(
        btyd.GammaGammaParams(6.0, 4.0, 15.0), customer, customers, rng
    )
    return pd.DataFrame(
        {
            "customer_id": customer.astype(np.int64),
            "day": pd.Timestamp(START) + pd.to_timedelta(day, "D"),
            "net_amount_base": value,
        }
    )


def main(customers: int) -> None:
    orders = simulated_orders(customers)
    origin = START + dt.timedelta(days=DAYS - 1)
    truth = orders.loc[(orders["day"] > pd.Timestamp(origin))]
    print(f"customers {customers:,}  orders {len(orders):,}")
    started = time.perf_counter()
    forecaster = CustomerBasedOrdersForecaster(orders)
    print(f"construct: {time.perf_counter() - started:.2f} s")
    for weeks_back in (26, 13, 0):
        at = origin - dt.timedelta(days=7 * weeks_back)
        started = time.perf_counter()
        forecast = forecaster.weekly(at, WEEKS)
        seconds = time.perf_counter() - started
        fit = forecaster.last_fit
        print(
            f"weekly({at}, {WEEKS}): {seconds:.2f} s, model {fit.model.name}, "
            f"{fit.customers:,} customers, forecast orders {forecast['orders'].sum():,.0f}"
        )
    print(f"actual orders in the {WEEKS} weeks after {origin}: {len(truth):,}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

"""Simulated daily sales with known structure for the forecasting tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cdp_assets.config.forecast import ForecastConfig

AS_OF = dt.date(2026, 11, 20)


def daily_sales(
    days: int = 3 * 364,
    as_of: dt.date = AS_OF,
    trend_per_year: float = 0.3,
    noise: float = 0.05,
    seed: int = 0,
    channels: tuple[str, ...] = ("web", "store"),
    categories: tuple[str, ...] = ("Apparel", "Beauty", "Toys"),
    stores: tuple[str, ...] = ("s1", "s2"),
) -> pd.DataFrame:
    """Daily rows per (channel, store, category) with yearly seasonality peaking in
    November-December, a weekend lift, a trend and multiplicative noise."""
    rng = np.random.default_rng(seed)
    day_index = pd.date_range(end=pd.Timestamp(as_of), periods=days, freq="D")
    t = np.arange(days) / 364.0
    season = 1 + 0.5 * np.exp(-(((day_index.day_of_year.to_numpy() - 335) / 20.0) ** 2))
    weekend = np.where(day_index.day_of_week >= 5, 1.4, 1.0)
    base = 100 * (1 + trend_per_year * t) * season * weekend
    rows = []
    for channel in channels:
        for store in stores if channel == "store" else (None,):
            for i, category in enumerate(categories):
                share = (1 + i) / sum(range(1, len(categories) + 1)) / len(channels)
                share /= len(stores) if store else 1
                level = base * share * np.exp(rng.normal(0, noise, days))
                rows.append(
                    pd.DataFrame(
                        {
                            "day": day_index,
                            "channel": channel,
                            "store": store,
                            "category": category,
                            "net_revenue": level * 50,
                            "orders": level,
                            "units": level * 2,
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def settings(**overrides) -> ForecastConfig:
    values = {
        "models": ("seasonal_naive", "ets", "gradient_boosting"),
        "min_orders_per_member": 1,
        "daily_horizon_days": 14,
        "horizon_weeks": 8,
        "backtest_origins": 4,
    }
    values.update(overrides)
    return ForecastConfig(**values)

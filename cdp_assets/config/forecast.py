"""The `models.forecast` section of `cdp.yaml`: sales and demand forecasts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cdp_assets.config.base import StrictModel

ForecastLevel = Literal["channel", "category", "store"]
ForecastMetric = Literal["net_revenue", "orders", "units"]
ForecastModelName = Literal["seasonal_naive", "ets", "gradient_boosting", "customer_based"]


class ForecastConfig(StrictModel):
    """What is forecast (levels, metrics, horizon), how models are chosen (a rolling-origin
    backtest) and when a product is likely to run out."""

    levels: tuple[ForecastLevel, ...] = Field(
        ("channel", "category", "store"),
        description="levels forecast besides the total; channel and category add up to it",
    )
    metrics: tuple[ForecastMetric, ...] = ("net_revenue", "orders", "units")
    horizon_weeks: int = Field(13, ge=1, le=104)
    daily_horizon_days: int = Field(30, ge=0, le=120, description="0: no daily forecast")
    models: tuple[ForecastModelName, ...] = Field(
        ("seasonal_naive", "ets", "gradient_boosting", "customer_based"),
        description="candidates; seasonal_naive is always kept as the baseline",
    )
    backtest_origins: int = Field(6, ge=2, le=52, description="rolling origins per series")
    backtest_spacing_weeks: int = Field(4, ge=1, le=26)
    min_orders_per_member: int = Field(
        200, ge=1, description="a channel, category or store with fewer orders goes to 'other'"
    )
    max_members_per_level: int = Field(
        20, ge=1, description="the largest members are kept, the rest go to 'other'"
    )
    top_products: int = Field(50, ge=0, le=10_000, description="products in ml.product_demand")
    stockout_lead_time_weeks: float = Field(
        4.0, gt=0, le=52, description="a product whose stock lasts less than this is at risk"
    )

    @field_validator("levels", "metrics", "models")
    @classmethod
    def _no_repeats(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(values)) != len(values):
            raise ValueError(f"each value once, got {list(values)}")
        return values

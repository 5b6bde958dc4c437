"""Product demand on hand-made weekly sales whose right forecasts are known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cdp_assets.forecast.demand import (
    METHOD,
    WeeklySales,
    backtest_demand,
    demand_rows,
    forecast_products,
    nb_quantile,
    top_products,
)

AS_OF = dt.date(2026, 11, 20)


def weekly_sales(
    units_by_product: dict[str, list[float]], category: dict[str, str]
) -> pd.DataFrame:
    """One sales row per product and anchored week (on the week's first day), the last list
    entry being the week ending on AS_OF."""
    rows = []
    for product, units in units_by_product.items():
        for back, u in enumerate(reversed(units)):
            day = pd.Timestamp(AS_OF) - pd.Timedelta(days=6 + 7 * back)
            if u:
                rows.append(
                    {"day": day, "product_id": product, "category": category[product],
                     "units": u, "product_name": f"Name {product}"}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_steady_product_is_forecast_at_its_recent_rate_with_poisson_intervals() -> None:
    sales = weekly_sales({"P1": [10.0] * 20}, {"P1": "coffee"})
    weekly = WeeklySales.of(sales, AS_OF)
    forecast = forecast_products(weekly, pd.Index(["P1"]), 4)
    assert forecast.mean.to_numpy() == pytest.approx(np.full((1, 4), 10.0))
    assert forecast.dispersion["P1"] == 0.0  # less variable than Poisson
    rows = demand_rows(forecast, weekly)
    assert rows["period_start"].iloc[0] == pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    assert rows["upper_80"].iloc[0] == stats.poisson.ppf(0.9, 10.0)
    assert rows["lower_95"].iloc[0] == stats.poisson.ppf(0.025, 10.0)
    assert rows["product_name"].iloc[0] == "Name P1"
    assert rows["note"].iloc[0].startswith("20 weeks of history (< 65): no seasonal index")


def test_the_category_season_of_last_year_shapes_the_recent_rate() -> None:
    """Last year the category sold 10 a week, and 30 in the week one year before the first
    future week: this year's product selling 4 a week is forecast 12 that week, 4 after."""
    history = [10.0] * 70
    history[-52] = 30.0  # the week 52 weeks before the first future week
    recent = [0.0] * 57 + [4.0] * 13
    sales = weekly_sales({"OLD": history, "NEW": recent}, {"OLD": "tea", "NEW": "tea"})
    weekly = WeeklySales.of(sales, AS_OF)
    forecast = forecast_products(weekly, pd.Index(["NEW"]), 2)
    # Category base a year before: (10 + 0) a week; that week: 30 + 0.
    assert forecast.mean.loc["NEW"].to_numpy() == pytest.approx([12.0, 4.0])


def test_top_products_rank_by_the_last_13_weeks() -> None:
    sales = weekly_sales(
        {"A": [50.0] * 10 + [1.0] * 13, "B": [5.0] * 23, "C": [3.0] * 23},
        {"A": "x", "B": "x", "C": "y"},
    )
    assert list(top_products(WeeklySales.of(sales, AS_OF), 2)) == ["B", "C"]


def test_a_young_product_says_so() -> None:
    sales = weekly_sales({"OLD": [6.0] * 30, "NEW": [2.0, 4.0]}, {"OLD": "x", "NEW": "x"})
    weekly = WeeklySales.of(sales, AS_OF)
    forecast = forecast_products(weekly, pd.Index(["OLD", "NEW"]), 3)
    assert forecast.recent_rate["NEW"] == pytest.approx(3.0)  # over its 2 weeks, not 13
    assert "too little history (2 weeks" in forecast.notes["NEW"]
    assert forecast.notes["OLD"] == ""


def test_sales_after_the_analysis_date_change_nothing() -> None:
    sales = weekly_sales({"P": list(range(1, 40))}, {"P": "x"})
    later = pd.DataFrame(
        [{"day": pd.Timestamp(AS_OF) + pd.Timedelta(days=3), "product_id": "P",
          "category": "x", "units": 500.0, "product_name": "Name P"}]
    )  # fmt: skip
    a = demand_rows(forecast_products(WeeklySales.of(sales, AS_OF), pd.Index(["P"]), 3),
                    WeeklySales.of(sales, AS_OF))  # fmt: skip
    both = pd.concat([sales, later])
    b = demand_rows(forecast_products(WeeklySales.of(both, AS_OF), pd.Index(["P"]), 3),
                    WeeklySales.of(both, AS_OF))  # fmt: skip
    pd.testing.assert_frame_equal(a, b)


def test_negative_binomial_intervals_widen_with_dispersion() -> None:
    mean = np.array([20.0])
    poisson = nb_quantile(0.9, mean, np.array([0.0]))
    wide = nb_quantile(0.9, mean, np.array([0.5]))
    assert poisson[0] == stats.poisson.ppf(0.9, 20.0)
    # variance 20 + 0.5 * 400 = 220: size 2, p = 2/22
    assert wide[0] == stats.nbinom.ppf(0.9, 2.0, 2.0 / 22.0)
    assert wide[0] > poisson[0]


def test_backtest_scores_the_methods_on_a_known_series() -> None:
    """Products that doubled their sales 50 weeks ago: the 13-week mean is exact; seasonal
    naive, looking a year back to when they sold half as much, misses by half; ours is off
    only where detrending meets the step (its 52-week windows straddle it)."""
    sales = weekly_sales(
        {"A": [5.0] * 70 + [10.0] * 50, "B": [2.0] * 70 + [4.0] * 50},
        {"A": "x", "B": "x"},
    )
    result = backtest_demand(sales, AS_OF, top_n=2, weeks=4, origins=3, spacing_weeks=4)
    assert result is not None and result.origins == 3
    assert result.wape["mean_13_weeks"] == pytest.approx(0.0)
    assert result.wape["seasonal_naive"] == pytest.approx(0.5)
    assert result.wape[METHOD] < 0.2


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['units'\]"):
        WeeklySales.of(pd.DataFrame({"day": [], "product_id": [], "category": []}), AS_OF)

"""forecast_sales end to end on simulated sales: the published rows, reconciliation, the
backtest and model choice, point in time, the customer-based model through the protocol."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config.analytics import AnalyticsConfig
from cdp_assets.forecast.backtest import CHOSEN
from cdp_assets.forecast.periods import SALES_FORECAST_COLUMNS, future_weeks
from cdp_assets.forecast.sales import SalesForecast, forecast_sales
from cdp_assets_tests.forecast.simulated import AS_OF, daily_sales, settings

WINDOWS = AnalyticsConfig().holiday_windows


class FakeCustomerForecaster:
    """Knows the truth's weekly orders and revenue level; records the origins asked."""

    def __init__(self, daily: pd.DataFrame) -> None:
        self.daily = daily
        self.origins: list[dt.date] = []

    def weekly(self, origin: dt.date, weeks: int) -> pd.DataFrame:
        self.origins.append(origin)
        starts = future_weeks(origin, weeks)
        return pd.DataFrame(
            {"period_start": starts, "orders": np.full(weeks, 1.0), "net_revenue": 50.0}
        )


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return daily_sales(categories=("Apparel", "Beauty"))


@pytest.fixture(scope="module")
def result(daily: pd.DataFrame) -> SalesForecast:
    return forecast_sales(daily, AS_OF, settings(metrics=("orders", "net_revenue")), WINDOWS)


def test_rows_follow_the_contract(result: SalesForecast) -> None:
    rows = result.rows
    assert list(rows.columns) == list(SALES_FORECAST_COLUMNS)
    assert dict(rows.dtypes.astype(str)) == SALES_FORECAST_COLUMNS
    weekly = rows.loc[rows["frequency"] == "week"]
    assert weekly["period_start"].min() == pd.Timestamp("2026-11-21")
    assert weekly.groupby(["level", "member", "metric"]).size().eq(8).all()
    daily = rows.loc[rows["frequency"] == "day"]
    assert daily.groupby(["level", "member", "metric"]).size().eq(14).all()
    assert (rows["lower_95"] <= rows["lower_80"]).all()
    assert (rows["lower_80"] <= rows["forecast"]).all()
    assert (rows["forecast"] <= rows["upper_80"]).all()
    assert (rows["upper_80"] <= rows["upper_95"]).all()
    assert set(rows["level"]) == {"total", "channel", "category", "store"}


@pytest.mark.parametrize("frequency", ["week", "day"])
def test_levels_add_up(result: SalesForecast, frequency: str) -> None:
    rows = result.rows.loc[result.rows["frequency"] == frequency]
    sums = rows.groupby(["level", "metric", "period_start"])["forecast"].sum().unstack("level")
    np.testing.assert_allclose(sums["channel"], sums["total"], rtol=1e-9)
    np.testing.assert_allclose(sums["category"], sums["total"], rtol=1e-9)
    store_channel = rows.loc[rows["member"] == "store"].set_index(["metric", "period_start"])
    np.testing.assert_allclose(sums["store"], store_channel.loc[sums.index, "forecast"], rtol=1e-9)


def test_models_beat_seasonal_naive_on_trend_and_season(result: SalesForecast) -> None:
    total = result.backtest.loc[result.backtest["level"] == "total"].set_index("model")
    assert total.loc[CHOSEN, "mase"] < 0.85 * total.loc["seasonal_naive", "mase"]
    assert set(result.chosen["model"]) - {"seasonal_naive"}
    assert total.loc[CHOSEN, "coverage_80"] > 0.5


def test_daily_forecast_keeps_the_weekend_lift(result: SalesForecast) -> None:
    rows = result.rows
    days = rows.loc[(rows["frequency"] == "day") & (rows["level"] == "total")]
    days = days.loc[days["metric"] == "orders"]
    weekend = days["period_start"].dt.day_of_week >= 5
    ratio = days.loc[weekend, "forecast"].mean() / days.loc[~weekend, "forecast"].mean()
    assert ratio == pytest.approx(1.4, rel=0.15)


def test_data_after_the_analysis_date_changes_nothing(daily: pd.DataFrame) -> None:
    short = settings(
        levels=("channel",),
        metrics=("orders",),
        daily_horizon_days=7,
        models=("seasonal_naive", "ets"),
    )
    before = forecast_sales(
        daily.loc[daily["day"] <= "2026-06-30"], dt.date(2026, 6, 30), short, WINDOWS
    )
    later = daily.copy()
    later.loc[later["day"] > "2026-06-30", "orders"] *= 10  # a different future
    again = forecast_sales(later, dt.date(2026, 6, 30), short, WINDOWS)
    pd.testing.assert_frame_equal(before.rows, again.rows)


def test_customer_based_model_is_asked_at_every_origin(daily: pd.DataFrame) -> None:
    fake = FakeCustomerForecaster(daily)
    config = settings(
        levels=(),
        metrics=("orders",),
        daily_horizon_days=0,
        models=("seasonal_naive", "customer_based"),
    )
    result = forecast_sales(daily, AS_OF, config, WINDOWS, fake)
    # Backtest origins: Sundays on a fixed 4-week grid, before the last whole calendar week
    # (AS_OF is Friday 2026-11-20: the last Sunday is the 15th, the latest origin the 8th).
    sundays = [
        dt.date(2026, 8, 16),
        dt.date(2026, 9, 13),
        dt.date(2026, 10, 11),
        dt.date(2026, 11, 8),
    ]
    assert fake.origins == [*sundays, AS_OF]
    assert {d.weekday() for d in sundays} == {6}
    assert "customer_based" in set(result.errors["model"])
    # A flat 1 order a week is far off ~1,000: seasonal naive is kept.
    assert result.chosen["model"].tolist() == ["seasonal_naive"]


def test_short_series_fall_back_and_say_so() -> None:
    short = daily_sales(days=10 * 7)
    result = forecast_sales(
        short, AS_OF, settings(levels=("channel",), metrics=("orders",)), WINDOWS
    )
    assert result.rows["forecast"].notna().all()
    assert result.chosen["note"].str.contains("naive|seasonality|backtest").all()
    tiny = daily_sales(days=3 * 7)
    result = forecast_sales(tiny, AS_OF, settings(levels=()), WINDOWS)
    assert result.chosen["note"].str.contains("too short").all()
    assert len(result.rows) > 0


def test_a_level_mase_weighs_series_by_volume() -> None:
    """A tiny series whose in-sample changes are near zero has a huge MASE; weighted by its
    share of the level's volume it cannot swamp the level (the plain mean is shown beside)."""
    import numpy as np
    import pandas as pd

    from cdp_assets.forecast.periods import SeriesKey
    from cdp_assets.forecast.sales import backtest_summary, volume_weights

    big = SeriesKey("category", "Apparel", "orders")
    tiny = SeriesKey("category", "other", "orders")
    rows = []
    for model, big_error, tiny_error in (("seasonal_naive", 2.0, 30.0), ("ets", 1.0, 30.0)):
        for key, actual, scaled in ((big, 99.0, big_error), (tiny, 1.0, tiny_error)):
            rows.append(
                {
                    "key": key,
                    "model": model,
                    "level": key.level,
                    "actual": actual,
                    "forecast": actual,
                    "abs_scaled_error": scaled,
                    "inside_80": True,
                    "inside_95": True,
                }
            )
    errors = pd.DataFrame(rows)
    assert volume_weights(errors) == {big: 0.99, tiny: 0.01}
    table = backtest_summary(errors).set_index("model")
    assert np.isclose(table.loc["seasonal_naive", "mase"], 0.99 * 2 + 0.01 * 30)
    assert np.isclose(table.loc["ets", "mase"], 0.99 * 1 + 0.01 * 30)
    assert np.isclose(table.loc["ets", "mase_series_mean"], 15.5)
    assert np.isclose(table.loc["ets", "mase_vs_naive"], 1 - 1.29 / 2.28)

"""Backtest origins on calendar weeks, and the backtest forecasts remembered between runs:
a run that reuses them gives exactly what a run fitting every model gives."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config.analytics import AnalyticsConfig
from cdp_assets.forecast.backtest_cache import BacktestCache, calendar_origins, last_sunday
from cdp_assets.forecast.customer_based import CustomerBasedOrdersForecaster
from cdp_assets.forecast.periods import future_weeks
from cdp_assets.forecast.sales import SalesForecast, forecast_sales
from cdp_assets_tests.forecast.simulated import AS_OF, daily_sales, settings

WINDOWS = AnalyticsConfig().holiday_windows
SETTINGS = settings(
    levels=("channel",),
    metrics=("orders",),
    daily_horizon_days=7,
    models=("seasonal_naive", "ets", "gradient_boosting", "customer_based"),
)
# AS_OF is Friday 2026-11-20; the day before has the same last whole calendar week.
ORIGINS = [dt.date(2026, 8, 16), dt.date(2026, 9, 13), dt.date(2026, 10, 11), dt.date(2026, 11, 8)]


class KnownCustomers:
    """A customer-based forecaster that knows the daily orders and can fingerprint them."""

    def __init__(self, daily: pd.DataFrame) -> None:
        self.daily = daily

    def _known(self, origin: dt.date) -> pd.DataFrame:
        return self.daily.loc[self.daily["day"] <= pd.Timestamp(origin)]

    def weekly(self, origin: dt.date, weeks: int) -> pd.DataFrame:
        rate = self._known(origin)["orders"].tail(28).sum() / 4
        return pd.DataFrame(
            {"period_start": future_weeks(origin, weeks), "orders": rate, "net_revenue": 50 * rate}
        )

    def fingerprint(self, origin: dt.date) -> str:
        return repr(self._known(origin)[["day", "orders"]].to_numpy().tolist())


def _run(daily: pd.DataFrame, as_of: dt.date, cache: BacktestCache | None = None):
    return forecast_sales(daily, as_of, SETTINGS, WINDOWS, KnownCustomers(daily), cache, "v1")


def _assert_same(a: SalesForecast, b: SalesForecast) -> None:
    pd.testing.assert_frame_equal(a.rows, b.rows)
    pd.testing.assert_frame_equal(a.errors, b.errors)
    pd.testing.assert_frame_equal(a.backtest, b.backtest)
    pd.testing.assert_frame_equal(a.chosen, b.chosen)


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return daily_sales()


@pytest.fixture(scope="module")
def day_before(daily: pd.DataFrame) -> SalesForecast:
    return _run(daily, AS_OF - dt.timedelta(days=1))


@pytest.fixture(scope="module")
def cold(daily: pd.DataFrame) -> SalesForecast:
    return _run(daily, AS_OF)


def test_origins_are_sundays_on_a_fixed_grid() -> None:
    assert last_sunday(dt.date(2026, 11, 20)) == dt.date(2026, 11, 15)
    assert last_sunday(dt.date(2026, 11, 15)) == dt.date(2026, 11, 15)
    weeks = pd.date_range("2025-01-06", "2026-11-09", freq="7D")  # Mondays; last week ends 11-15
    found = [(weeks[p] + pd.Timedelta(days=6)).date() for p in calendar_origins(weeks, 0, 4, 4)]
    assert found == ORIGINS
    # A week later the origins are the same; four weeks later one is new and one dropped.
    week_later = pd.date_range("2025-01-06", "2026-11-16", freq="7D")
    assert [
        (week_later[p] + pd.Timedelta(days=6)).date() for p in calendar_origins(week_later, 0, 4, 4)
    ] == ORIGINS
    month_later = pd.date_range("2025-01-06", "2026-12-07", freq="7D")
    assert [
        (month_later[p] + pd.Timedelta(days=6)).date()
        for p in calendar_origins(month_later, 0, 4, 4)
    ] == [
        *ORIGINS[1:],
        dt.date(2026, 12, 6),
    ]


def test_the_next_night_reuses_every_origin_and_gives_the_same_forecast(
    daily: pd.DataFrame, day_before: SalesForecast, cold: SalesForecast
) -> None:
    assert day_before.backtest_cache.fitted == 12  # 3 cached models x 4 origins
    assert sorted({o for _, o in day_before.backtest_cache.entries}) == ORIGINS
    warm = _run(daily, AS_OF, day_before.backtest_cache)
    assert (warm.backtest_cache.reused, warm.backtest_cache.fitted) == (12, 0)
    _assert_same(warm, cold)
    # Nothing fitted, the same origins: the stored table already holds it (not rewritten).
    assert warm.backtest_cache.same_as(day_before.backtest_cache)
    assert not day_before.backtest_cache.same_as(None)
    assert sorted(set(cold.errors["origin_date"].dt.date)) == ORIGINS


def test_the_cache_survives_its_table(daily: pd.DataFrame, day_before: SalesForecast, cold) -> None:
    frame = day_before.backtest_cache.to_frame()
    assert set(frame.loc[frame["step"] == 0, "model"]) == {
        "ets",
        "gradient_boosting",
        "customer_based",
    }
    pd.testing.assert_frame_equal(BacktestCache.from_frame(frame).to_frame(), frame)
    warm = _run(daily, AS_OF, BacktestCache.from_frame(frame))
    assert warm.backtest_cache.reused == 12
    _assert_same(warm, cold)


def test_a_changed_past_week_refits_the_origins_that_saw_it(
    daily: pd.DataFrame, day_before: SalesForecast
) -> None:
    changed = daily.copy()
    refund_day = pd.Timestamp("2026-10-01")  # after the 2nd origin, before the 3rd
    changed.loc[changed["day"] == refund_day, "orders"] -= 5.0
    warm = _run(changed, AS_OF, day_before.backtest_cache)
    assert (warm.backtest_cache.reused, warm.backtest_cache.fitted) == (6, 6)
    assert not warm.backtest_cache.same_as(day_before.backtest_cache)
    _assert_same(warm, _run(changed, AS_OF))
    # Another version (other code) refits everything.
    other = forecast_sales(
        daily, AS_OF, SETTINGS, WINDOWS, KnownCustomers(daily), day_before.backtest_cache, "v2"
    )
    assert other.backtest_cache.reused == 0


def test_the_customer_based_fingerprint_ignores_row_order_and_later_purchases() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["b", "a", "c", "a", "d"],
            "day": pd.to_datetime(
                ["2026-01-05", "2026-01-05", "2026-01-07", "2026-02-01", "2026-03-01"]
            ),
            "net_amount_base": [10.0, 20.0, 5.0, 7.0, 1.0],
        }
    )
    origin = dt.date(2026, 2, 1)
    one = CustomerBasedOrdersForecaster(orders)
    shuffled = CustomerBasedOrdersForecaster(orders.iloc[[4, 2, 0, 3, 1]])
    later = CustomerBasedOrdersForecaster(
        pd.concat([orders, orders.head(1).assign(customer_id="0", day=pd.Timestamp("2026-02-02"))])
    )
    assert one.fingerprint(origin) == shuffled.fingerprint(origin) == later.fingerprint(origin)
    assert one.fingerprint(origin) != one.fingerprint(dt.date(2026, 1, 31))
    amended = orders.assign(
        net_amount_base=np.where(orders["customer_id"] == "c", 6.0, orders["net_amount_base"])
    )
    assert CustomerBasedOrdersForecaster(amended).fingerprint(origin) != one.fingerprint(origin)

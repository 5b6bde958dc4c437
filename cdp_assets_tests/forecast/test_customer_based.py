"""The customer-based forecast against simulated BG/NBD customers whose future is known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.forecast.customer_based import CustomerBasedOrdersForecaster
from cdp_assets.forecast.periods import future_weeks
from cdp_assets.ml import btyd

START = dt.date(2024, 1, 1)
HISTORY_DAYS = 728  # two years of first purchases before the origin
ORIGIN = START + dt.timedelta(days=HISTORY_DAYS - 1)
WEEKS = 13
PARAMS = btyd.BgNbdParams(r=0.3, alpha=12.0, a=0.8, b=3.0)
SPEND = btyd.GammaGammaParams(p=6.0, q=4.0, v=15.0)


def simulate(customers: int, seed: int) -> pd.DataFrame:
    """Customers arriving uniformly over two years and the horizon, buying by BG/NBD."""
    rng = np.random.default_rng(seed)
    end = HISTORY_DAYS + WEEKS * 7
    first = rng.integers(0, end, customers)
    who, when = btyd.simulate_bg_nbd(PARAMS, (end - first).astype(float), rng)
    customer = np.r_[np.arange(customers), who]
    day = np.r_[first, first[who] + np.floor(when).astype(int)]
    keep = day < end
    customer, day = customer[keep], day[keep]
    value = btyd.simulate_gamma_gamma(SPEND, customer, customers, rng)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(customer).map(lambda c: f"c{c}"),
            "day": pd.Timestamp(START) + pd.to_timedelta(day, "D"),
            "net_amount_base": value,
            "is_purchase": True,
        }
    )


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulate(20_000, seed=7)


def actual_weekly(orders: pd.DataFrame, existing: bool) -> pd.DataFrame:
    """Orders and revenue per future week by customers who had (not) bought by the origin."""
    first_day = orders.groupby("customer_id")["day"].transform("min")
    known = first_day <= pd.Timestamp(ORIGIN)
    after = orders.loc[(orders["day"] > pd.Timestamp(ORIGIN)) & (known == existing)]
    week = (after["day"] - pd.Timestamp(ORIGIN) - pd.Timedelta(days=1)).dt.days // 7
    grouped = after.groupby(week)
    return pd.DataFrame({"orders": grouped.size(), "revenue": grouped["net_amount_base"].sum()})


def test_existing_customers_expected_weekly_orders_match_the_simulation(simulated):
    forecast = CustomerBasedOrdersForecaster(simulated).weekly(ORIGIN, WEEKS)
    actual = actual_weekly(simulated, existing=True)
    assert list(forecast["period_start"]) == list(future_weeks(ORIGIN, WEEKS))
    total = forecast["existing_orders"].sum()
    assert total == pytest.approx(actual["orders"].sum(), rel=0.05)
    weekly_error = (forecast["existing_orders"].to_numpy() / actual["orders"].to_numpy()) - 1
    # Week by week the seasonal index (one past week over its year) adds its Poisson noise.
    assert np.abs(weekly_error).max() < 0.15
    revenue = forecast["existing_revenue"].sum()
    assert revenue == pytest.approx(actual["revenue"].sum(), rel=0.07)


def test_new_customers_follow_the_arrival_rate(simulated):
    forecast = CustomerBasedOrdersForecaster(simulated).weekly(ORIGIN, WEEKS)
    actual = actual_weekly(simulated, existing=False)
    # 20,000 arrivals over 117 weeks: ~171 first orders a week plus their repeat orders.
    assert forecast["new_orders"].sum() == pytest.approx(actual["orders"].sum(), rel=0.12)
    assert forecast["new_revenue"].sum() == pytest.approx(actual["revenue"].sum(), rel=0.15)
    assert np.allclose(forecast["orders"], forecast["existing_orders"] + forecast["new_orders"])
    assert np.allclose(
        forecast["net_revenue"], forecast["existing_revenue"] + forecast["new_revenue"]
    )


def test_orders_after_the_origin_change_nothing(simulated):
    before = simulated.loc[simulated["day"] <= pd.Timestamp(ORIGIN)]
    with_future = CustomerBasedOrdersForecaster(simulated).weekly(ORIGIN, WEEKS)
    without = CustomerBasedOrdersForecaster(before).weekly(ORIGIN, WEEKS)
    pd.testing.assert_frame_equal(with_future, without)


def test_seasonal_index_spreads_a_yearly_peak():
    """Repeat purchases twice as frequent in one week of each past year: the forecast for that
    week a year later is about twice its neighbours'."""
    rng = np.random.default_rng(3)
    customers = 4000
    days = np.arange(3 * 364)
    peak_week = 3 * 364 - 364 + 14  # the third future week, one year before
    rows = []
    for c in range(customers):
        rate = np.where(((days - peak_week) % 364) < 7, 0.04, 0.02)  # doubled in the peak week
        bought = days[rng.random(len(days)) < rate]
        rows.append(pd.DataFrame({"customer_id": c, "d": bought}))
    frame = pd.concat(rows)
    frame = frame.assign(
        day=pd.Timestamp(START) + pd.to_timedelta(frame["d"], "D"), net_amount_base=10.0
    )
    origin = START + dt.timedelta(days=3 * 364 - 1)
    forecaster = CustomerBasedOrdersForecaster(frame.drop(columns="d"))
    forecast = forecaster.weekly(origin, 5)
    index = forecaster.last_fit.seasonal_index
    assert index[2] == pytest.approx(2.0, rel=0.15)
    assert index[[0, 1, 3, 4]] == pytest.approx(np.ones(4), rel=0.1)
    peak = forecast["existing_orders"].to_numpy()
    assert peak[2] / np.mean(peak[[1, 3]]) == pytest.approx(2.0, rel=0.15)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="day or ordered_at"):
        CustomerBasedOrdersForecaster(pd.DataFrame({"customer_id": [], "net_amount_base": []}))


def test_no_purchases_before_the_origin_is_a_clear_error(simulated):
    with pytest.raises(ValueError, match="no purchases on or before"):
        CustomerBasedOrdersForecaster(simulated).weekly(START - dt.timedelta(days=1), 4)


def test_a_forecaster_without_numbers_is_no_candidate() -> None:
    """A purchase model fitted on too few customers may give NaN: the series then has no
    customer-based candidate instead of a NaN forecast."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    from cdp_assets.forecast.candidates import _customer_based
    from cdp_assets.forecast.periods import TOTAL, SeriesKey, future_weeks

    class NoNumbers:
        def weekly(self, origin: dt.date, weeks: int) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "period_start": future_weeks(origin, weeks),
                    "orders": [np.nan] * weeks,
                    "net_revenue": [10.0] * weeks,
                }
            )

    keys = [SeriesKey(TOTAL, "all", "orders"), SeriesKey(TOTAL, "all", "net_revenue")]
    got = _customer_based(NoNumbers(), dt.date(2026, 11, 20), 3, keys)
    assert list(got) == [SeriesKey(TOTAL, "all", "net_revenue")]
    assert got[keys[1]].tolist() == [10.0, 10.0, 10.0]

"""The demo's three years of orders have what a forecast must find (issue #14): an upward
trend year over year, a weekend lift, Black Friday and December peaks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.demo.catalogue import build_catalogue
from cdp_assets.demo.commerce import make_orders
from cdp_assets.demo.people import make_population
from cdp_assets.demo.seasonality import black_friday, build_calendar
from cdp_assets.demo.settings import LEGACY_DAYS, DemoSettings

END = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def daily_orders() -> pd.Series:
    """Orders per local day of a 2,000-person, three-year demo (drawn as `generate_demo`
    draws them)."""
    settings = DemoSettings(people=2000, seed=42, end_date=END, history_days=1095)
    pop_seq, source_seq, _ = np.random.SeedSequence(42).spawn(3)
    pop = make_population(np.random.default_rng(pop_seq), settings)
    calendar = build_calendar(settings.start_date - dt.timedelta(days=LEGACY_DAYS), END)
    rng = np.random.default_rng(source_seq.spawn(11)[0])
    orders = make_orders(rng, pop, settings, calendar, build_catalogue())
    day = pd.to_datetime(orders.local_second, unit="s").normalize()
    return pd.Series(1, index=day).groupby(level=0).sum()


def _year_ending(daily: pd.Series, years_back: int) -> pd.Series:
    end = pd.Timestamp(END) - pd.DateOffset(years=years_back)
    return daily[(daily.index > end - pd.DateOffset(years=1)) & (daily.index <= end)]


def test_each_year_sells_more_than_the_one_before(daily_orders: pd.Series) -> None:
    totals = [_year_ending(daily_orders, k).sum() for k in (2, 1, 0)]
    assert totals[1] > 1.15 * totals[0]
    assert totals[2] > 1.15 * totals[1]


def test_weekends_are_busier(daily_orders: pd.Series) -> None:
    weekend = daily_orders.index.day_of_week >= 5
    lift = daily_orders[weekend].mean() / daily_orders[~weekend].mean()
    assert 1.1 < lift < 1.4


@pytest.mark.parametrize("year", [2024, 2025])
def test_black_friday_and_december_peaks(daily_orders: pd.Series, year: int) -> None:
    mean = daily_orders[str(year)].mean()
    friday = pd.Timestamp(black_friday(year))
    weekend = daily_orders[friday : friday + pd.Timedelta(days=3)].mean()
    december = daily_orders[f"{year}-12-01" : f"{year}-12-21"].mean()
    assert weekend > 2.0 * mean
    assert december > 1.3 * mean

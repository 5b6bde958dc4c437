"""Weekly series (roll-up into 'other', missing and negative weeks) and holiday weeks."""

import datetime as dt

import pandas as pd
import pytest

from cdp_assets.config.analytics import HolidayWindow
from cdp_assets.forecast.holidays import holiday_days, holiday_week_days
from cdp_assets.forecast.periods import SeriesKey
from cdp_assets.forecast.series import build_sales_series

AS_OF = dt.date(2026, 3, 31)  # a Tuesday: weeks run Wednesday to Tuesday


def _day(day: str, channel: str, revenue: float, orders: float = 1.0, store=None) -> dict:
    return {
        "day": pd.Timestamp(day),
        "channel": channel,
        "store": store,
        "category": "Apparel",
        "net_revenue": revenue,
        "orders": orders,
        "units": orders,
    }


def test_weeks_missing_weeks_negative_weeks_and_other() -> None:
    daily = pd.DataFrame(
        [
            _day("2026-03-04", "web", 100, orders=5),  # first day: a Wednesday, whole week
            _day("2026-03-12", "web", -40, orders=5),  # a week of refunds only
            _day("2026-03-25", "web", 70, orders=5),
            _day("2026-03-26", "app", 10),  # 1 order: rolled into other
            _day("2026-03-27", "store", 20, store="s1"),  # 1 order: rolled too
            _day("2026-04-01", "web", 999, orders=5),  # after the analysis date
        ]
    )
    series = build_sales_series(daily, AS_OF, ["channel"], ["net_revenue"], 3, 20)
    assert list(series.weekly.index.strftime("%m-%d")) == ["03-04", "03-11", "03-18", "03-25"]
    assert series.members["channel"] == ["web", "other"]
    web = series.weekly[SeriesKey("channel", "web", "net_revenue")].tolist()
    assert web == [100, -40, 0, 70]  # the empty week is 0, the negative week kept
    other = series.weekly[SeriesKey("channel", "other", "net_revenue")].tolist()
    assert other == [0, 0, 0, 30]
    total = series.weekly[SeriesKey("total", "all", "net_revenue")].tolist()
    assert total == [100, -40, 0, 100]
    assert any("rolled into 'other'" in note for note in series.notes)


def test_largest_members_kept_and_partial_first_week_dropped() -> None:
    daily = pd.DataFrame(
        [
            _day("2026-03-05", "a", 1, orders=10),  # Thursday: its week is partial, dropped
            _day("2026-03-12", "a", 1, orders=10),
            _day("2026-03-12", "b", 1, orders=8),
            _day("2026-03-12", "c", 1, orders=6),
        ]
    )
    series = build_sales_series(daily, AS_OF, ["channel"], ["orders"], 1, 2)
    assert series.members["channel"] == ["a", "b", "other"]
    assert series.weekly.index[0] == pd.Timestamp("2026-03-11")


def test_no_items_skips_category_and_units() -> None:
    daily = pd.DataFrame([_day("2026-03-11", "web", 5)]).assign(category=None, units=None)
    daily["units"] = daily["units"].astype(float)
    series = build_sales_series(daily, AS_OF, ["category"], ["orders", "units"], 1, 5)
    assert "category" not in series.members and series.metrics == ("orders",)
    assert len(series.notes) == 2


WINDOWS = (
    HolidayWindow(name="bf", black_friday=True),
    HolidayWindow(name="1111", start="11-11", end="11-11"),
    HolidayWindow(name="new year", start="12-30", end="01-02"),
)


def test_holiday_days_on_the_right_dates() -> None:
    days = pd.DatetimeIndex(["2025-11-27", "2025-11-28", "2025-12-01", "2025-12-02", "2026-01-02"])
    flags = holiday_days(days, WINDOWS)
    # Black Friday 2025 is 28 November; Cyber Monday 1 December.
    assert flags["holiday:bf"].tolist() == [False, True, True, False, False]
    assert flags["holiday:new year"].tolist() == [False, False, False, False, True]


def test_holiday_days_per_week() -> None:
    starts = pd.DatetimeIndex(["2025-11-26", "2025-11-05", "2025-12-29"])
    weeks = holiday_week_days(starts, WINDOWS)
    assert weeks["holiday:bf"].tolist() == [4, 0, 0]  # Friday to Monday, all in the week
    assert weeks["holiday:1111"].tolist() == [0, 1, 0]
    assert weeks["holiday:new year"].tolist() == [0, 0, 4]
    assert weeks.sum().sum() == pytest.approx(9)

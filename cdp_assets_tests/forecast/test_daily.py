"""Day profiles: weekday weights and holiday lifts learned from past years; spread weeks."""

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config.analytics import HolidayWindow
from cdp_assets.forecast.daily import learn_day_profile, spread_weeks

WINDOWS = (HolidayWindow(name="bf", black_friday=True),)


def _history() -> pd.Series:
    days = pd.date_range("2023-11-01", "2026-11-20", freq="D")
    values = np.where(days.day_of_week >= 5, 140.0, 100.0)
    black_friday = pd.DatetimeIndex(["2023-11-24", "2024-11-29", "2025-11-28"])
    values[days.isin(black_friday)] *= 3  # Black Friday sells three ordinary Fridays
    return pd.Series(values, index=days)


def test_weekday_weights_and_holiday_lift() -> None:
    profile = learn_day_profile(_history(), pd.Timestamp("2026-11-20"), WINDOWS)
    weekend = profile.weekday_weight[5] / profile.weekday_weight[0]
    assert weekend == pytest.approx(1.4)
    # Black Friday x3, the weekend and Cyber Monday x1: the window's lift is their mix.
    assert profile.holiday_lift["holiday:bf"] == pytest.approx(
        (300 + 140 + 140 + 100) / 480, rel=0.1
    )


def test_spread_weeks_adds_up_to_the_week() -> None:
    profile = learn_day_profile(_history(), pd.Timestamp("2026-11-20"), WINDOWS)
    starts = pd.DatetimeIndex(["2026-11-21", "2026-11-28"])
    weekly = pd.DataFrame(
        {
            "forecast": [700.0, 1400.0],
            "lower_80": [600.0, 1200.0],
            "upper_80": [800.0, 1600.0],
            "lower_95": [500.0, 1000.0],
            "upper_95": [900.0, 1800.0],
        }
    )
    days = spread_weeks(starts, weekly, profile, WINDOWS, 14)
    assert days["forecast"].iloc[:7].sum() == pytest.approx(700)
    assert days["forecast"].iloc[7:].sum() == pytest.approx(1400)
    by_day = days.set_index("day")["forecast"]
    # Black Friday 2026 (27 November) is lifted above the Monday of its week; the next
    # Friday, an ordinary day, sells like the Thursday before it.
    assert by_day["2026-11-27"] > 1.3 * by_day["2026-11-23"]
    assert by_day["2026-12-04"] == pytest.approx(by_day["2026-12-03"], rel=0.01)
    assert (days["lower_80"] <= days["forecast"]).all() and (
        days["upper_95"] >= days["upper_80"]
    ).all()

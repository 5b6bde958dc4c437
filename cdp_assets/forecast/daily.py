"""The daily forecast of the next days: each week's forecast spread over its days by the
series' learned day-of-week profile and holiday lifts, with intervals that add the spread of
day shares to the week's own uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.config.analytics import HolidayWindow
from cdp_assets.forecast.holidays import holiday_days

PROFILE_DAYS = 364  # day-of-week shares from the last year
Z = {"80": 1.2816, "95": 1.9600}


@dataclass(frozen=True)
class DayProfile:
    """Day-of-week weights (Monday=0, mean 1), their week-to-week spread and a lift per
    holiday window (1: sells like any day of its weekday)."""

    weekday_weight: np.ndarray
    weekday_share_sd: np.ndarray
    holiday_lift: dict[str, float]

    def shares(self, days: pd.DatetimeIndex, holidays: pd.DataFrame) -> np.ndarray:
        """Each day's weight relative to the other days of its 7-day block (not normalised)."""
        weight = self.weekday_weight[days.day_of_week]
        for column, lift in self.holiday_lift.items():
            weight = np.where(holidays[column].to_numpy(), weight * lift, weight)
        return weight


def learn_day_profile(
    daily: pd.Series, as_of: pd.Timestamp, windows: Sequence[HolidayWindow]
) -> DayProfile:
    """`daily`: one value per day (index: days, zeros included) up to `as_of`."""
    days = pd.DatetimeIndex(daily.index)
    values = daily.to_numpy(dtype=float)
    holidays = holiday_days(days, windows)
    any_holiday = holidays.any(axis=1).to_numpy()
    recent = (days > as_of - pd.Timedelta(days=PROFILE_DAYS)) & ~any_holiday
    weekday = days.day_of_week.to_numpy()
    sums = np.array([values[recent & (weekday == d)].sum() for d in range(7)])
    counts = np.array([(recent & (weekday == d)).sum() for d in range(7)])
    means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    weight = np.ones(7) if means.sum() <= 0 or np.any(means < 0) else means / means.mean()
    block = (days - days[0]).days // 7
    week_total = pd.Series(values).groupby(block).transform("sum").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(week_total > 0, values / week_total, np.nan)
    share_sd = np.zeros(7)
    for d in range(7):
        known = share[recent & (weekday == d) & np.isfinite(share)]
        share_sd[d] = float(np.std(known)) if len(known) > 1 else 0.0
    # A holiday day against the ordinary days of its own week: what its weekday would have
    # sold at that week's level.
    ordinary = pd.Series(np.where(any_holiday, 0.0, values)).groupby(block).transform("sum")
    ordinary_weight = pd.Series(np.where(any_holiday, 0.0, weight[weekday]))
    ordinary_weight = ordinary_weight.groupby(block).transform("sum").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(ordinary_weight > 0, ordinary.to_numpy() / ordinary_weight, np.nan)
    expected_day = weight[weekday] * level
    lift: dict[str, float] = {}
    for column in holidays.columns:
        inside = holidays[column].to_numpy() & np.isfinite(expected_day)
        expected = expected_day[inside].sum()
        actual = values[inside].sum()
        lift[column] = float(actual / expected) if expected > 0 and actual > 0 else 1.0
    return DayProfile(weight, share_sd, lift)


def spread_weeks(
    week_starts: pd.DatetimeIndex,
    weekly: pd.DataFrame,
    profile: DayProfile,
    windows: Sequence[HolidayWindow],
    days_ahead: int,
) -> pd.DataFrame:
    """Daily rows for the first `days_ahead` days of the forecast weeks. `weekly`: columns
    forecast, lower_80, upper_80, lower_95, upper_95, one row per week."""
    days = pd.DatetimeIndex(
        np.repeat(week_starts.to_numpy(), 7)
        + np.tile(np.arange(7), len(week_starts)) * np.timedelta64(1, "D")
    )
    holidays = holiday_days(days, windows)
    weight = profile.shares(days, holidays).reshape(len(week_starts), 7)
    share = (
        weight
        / np.where(weight.sum(axis=1, keepdims=True) > 0, weight.sum(axis=1, keepdims=True), 1.0)
    ).ravel()
    week = np.repeat(np.arange(len(week_starts)), 7)
    forecast = weekly["forecast"].to_numpy()[week]
    out = pd.DataFrame({"day": days, "forecast": share * forecast})
    share_sd = profile.weekday_share_sd[days.day_of_week]
    for level, z in Z.items():
        below = share * (forecast - weekly[f"lower_{level}"].to_numpy()[week])
        above = share * (weekly[f"upper_{level}"].to_numpy()[week] - forecast)
        day_noise = z * share_sd * np.abs(forecast)
        out[f"lower_{level}"] = out["forecast"] - np.hypot(below, day_noise)
        out[f"upper_{level}"] = out["forecast"] + np.hypot(above, day_noise)
    return out.iloc[:days_ahead].reset_index(drop=True)

"""Holiday features of days and weeks from the configured holiday windows
(`analytics.holiday_windows`): the same windows the cohort analysis uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cdp_assets.analytics.cohorts import in_holiday_window
from cdp_assets.config.analytics import HolidayWindow


def window_column(window: HolidayWindow) -> str:
    return f"holiday:{window.name}"


def holiday_days(days: pd.DatetimeIndex, windows: Sequence[HolidayWindow]) -> pd.DataFrame:
    """One boolean column per window: whether each day falls inside it."""
    dates = pd.Series(days.normalize())
    return pd.DataFrame(
        {window_column(w): in_holiday_window(dates, w) for w in windows}, index=days
    )


def holiday_week_days(
    week_starts: pd.DatetimeIndex, windows: Sequence[HolidayWindow]
) -> pd.DataFrame:
    """Per 7-day week (by start day) and window, how many of its days fall inside the window
    (0 to 7): a week holding Black Friday counts 4 when the whole weekend to Cyber Monday is
    in it."""
    days = pd.DatetimeIndex(
        np.repeat(week_starts.to_numpy(), 7)
        + np.tile(np.arange(7), len(week_starts)) * np.timedelta64(1, "D")
    )
    inside = holiday_days(days, windows).to_numpy(dtype=float)
    counts = inside.reshape(len(week_starts), 7, len(windows)).sum(axis=1)
    return pd.DataFrame(counts, index=week_starts, columns=[window_column(w) for w in windows])

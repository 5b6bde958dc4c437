"""What the forecasting modules share: series keys, periods anchored on the analysis date, the
daily sales they start from, the rows they publish, and the customer-based forecaster.

Weeks are 7-day periods anchored on the analysis date: the last history week ends on `as_of`
and the first forecast week starts the day after, so a forecast as of any day uses whole
weeks of facts known by that day and nothing later (a backtest origin is just another
`as_of`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

TOTAL = "total"  # the level of the whole business
ALL = "all"  # the total level's only member
OTHER = "other"  # members too small to forecast on their own, rolled together

# One row per local day and (channel, store, category) with what was sold: the input of every
# forecast. Category figures are the order's net revenue and order count allocated by line
# value share, so members of a level add up to the total for every metric.
DAILY_SALES_COLUMNS: tuple[str, ...] = (
    "day",  # local calendar date (datetime64, no tz)
    "channel",
    "store",  # null off the store channel
    "category",
    "net_revenue",  # base currency
    "orders",  # may be fractional at category level (allocated)
    "units",
)

# The rows of `ml.sales_forecast`.
SALES_FORECAST_COLUMNS: dict[str, str] = {
    "as_of": "datetime64[us]",
    "level": "string",
    "member": "string",
    "metric": "string",
    "frequency": "string",  # "week" or "day"
    "period_start": "datetime64[us]",
    "period_end": "datetime64[us]",
    "model": "string",
    "forecast": "float64",
    "lower_80": "float64",
    "upper_80": "float64",
    "lower_95": "float64",
    "upper_95": "float64",
}


@dataclass(frozen=True, order=True)
class SeriesKey:
    """One forecast series: a member of a level and a metric (`total`/`all`/`orders`)."""

    level: str
    member: str
    metric: str

    def label(self) -> str:
        return (
            f"{self.metric} {self.level}"
            if self.level == TOTAL
            else (f"{self.metric} {self.level}={self.member}")
        )


def week_index(as_of: dt.date, weeks_back: int) -> pd.DatetimeIndex:
    """Start days of the `weeks_back` history weeks, oldest first; the last ends on `as_of`."""
    last_start = pd.Timestamp(as_of) - pd.Timedelta(days=6)
    return pd.DatetimeIndex(last_start - pd.to_timedelta(7 * np.arange(weeks_back)[::-1], "D"))


def future_weeks(as_of: dt.date, weeks: int) -> pd.DatetimeIndex:
    """Start days of the `weeks` forecast weeks; the first starts the day after `as_of`."""
    first = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return pd.DatetimeIndex(first + pd.to_timedelta(7 * np.arange(weeks), "D"))


def week_start(days: pd.Series, as_of: dt.date) -> pd.Series:
    """The start of the anchored week each day falls in (days after `as_of` included)."""
    anchor = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    offset = (pd.to_datetime(days) - anchor).dt.days
    return anchor + pd.to_timedelta((offset // 7) * 7, "D")


class CustomerBasedForecaster(Protocol):
    """Orders and net revenue forecast from the customers themselves: existing customers'
    expected purchases and spend (the lifetime-value purchase models) plus new customers."""

    def weekly(self, origin: dt.date, weeks: int) -> pd.DataFrame:
        """For the `weeks` periods after `origin` (`future_weeks(origin, weeks)`), from facts on
        or before `origin` only: columns period_start, orders, net_revenue (each the sum of
        the existing customers' and the new customers' parts, also given as existing_orders,
        new_orders, existing_revenue, new_revenue)."""
        ...


def local_days(instants: pd.Series, timezone: str) -> pd.Series:
    """The local calendar day (midnight, no time zone) of each UTC instant in `timezone`."""
    local = pd.to_datetime(instants, utc=True).dt.tz_convert(timezone)
    return local.dt.tz_localize(None).dt.normalize()

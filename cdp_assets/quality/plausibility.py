"""Plausibility of parsed values: dates in time, ages, amounts, quantities and scores.

Each function takes a typed column and returns a rule column (NA where plausible or null).

Time window. `now` is the wall clock when the rows are staged (UTC); `now` plus
`future_tolerance_hours` is the latest plausible instant. A timestamp after that is a
`future_date`; a calendar date is one when the day starts at or after that instant (with the
default 24 h tolerance, tomorrow's date passes and the day after does not). Anything before
`earliest_date` (midnight UTC) is `date_too_early`. The analysis date plays no part: a fact
dated after it is ordinary data (a warehouse holds what happened since), which the as-of
computations leave out by event time.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cdp_assets.quality.checked import no_rule

FUTURE_DATE = "future_date"
DATE_TOO_EARLY = "date_too_early"
IMPLAUSIBLE_BIRTH_DATE = "implausible_birth_date"
NEGATIVE_AMOUNT = "negative_amount"
AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
INVALID_QUANTITY = "invalid_quantity"
NPS_OUT_OF_RANGE = "nps_out_of_range"
CSAT_OUT_OF_RANGE = "csat_out_of_range"

NPS_RANGE = (0, 10)
CSAT_RANGE = (1, 5)


def utc_instant(now: dt.datetime) -> pd.Timestamp:
    """`now` as a UTC timestamp; a naive `now` is refused (whose clock would it be?)."""
    if now.tzinfo is None:
        raise ValueError(f"the staging clock {now!r} has no time zone: give it in UTC")
    return pd.Timestamp(now).tz_convert("UTC")


def latest_plausible(now: dt.datetime, future_tolerance_hours: float) -> pd.Timestamp:
    """The last plausible instant (UTC): the wall clock `now` plus the tolerance."""
    return utc_instant(now) + pd.Timedelta(hours=future_tolerance_hours)


def time_window_rule(
    values: pd.Series,
    now: dt.datetime,
    earliest: dt.date,
    future_tolerance_hours: float,
) -> pd.Series:
    """`future_date` / `date_too_early` for a timestamp (UTC) or calendar-date column."""
    limit = latest_plausible(now, future_tolerance_hours)
    start = pd.Timestamp(earliest, tz="UTC")
    if getattr(values.dt, "tz", None) is None:  # calendar dates: compare their day's start
        instants = values.dt.tz_localize("UTC")
        future = (instants >= limit).fillna(False)
    else:
        instants = values
        future = (instants > limit).fillna(False)
    early = (instants < start).fillna(False)
    return no_rule(values.index).mask(future, FUTURE_DATE).mask(early, DATE_TOO_EARLY)


def age_in_years(birth_dates: pd.Series, as_of: dt.date) -> pd.Series:
    """Completed years at the date `as_of` (Int64; negative for births after it)."""
    years = birth_dates.dt.year
    before_birthday = (birth_dates.dt.month > as_of.month) | (
        (birth_dates.dt.month == as_of.month) & (birth_dates.dt.day > as_of.day)
    )
    age = as_of.year - years - before_birthday.astype("Int64")
    return age.astype("Int64")


def birth_date_rule(
    birth_dates: pd.Series, today: dt.date, min_age: int, max_age: int
) -> pd.Series:
    """`implausible_birth_date` when the age on `today` (the staging day, UTC) is outside
    [min_age, max_age]."""
    age = age_in_years(birth_dates, today)
    bad = ((age < min_age) | (age > max_age)).fillna(False).astype(bool)
    return no_rule(birth_dates.index).mask(bad, IMPLAUSIBLE_BIRTH_DATE)


def below_rule(values: pd.Series, limit: float, rule: str) -> pd.Series:
    bad = (values < limit).astype("boolean").fillna(False).astype(bool)
    return no_rule(values.index).mask(bad, rule)


def above_rule(values: pd.Series, limit: float, rule: str) -> pd.Series:
    bad = (values > limit).astype("boolean").fillna(False).astype(bool)
    return no_rule(values.index).mask(bad, rule)


def outside_rule(values: pd.Series, low: float, high: float, rule: str) -> pd.Series:
    """`rule` where a non-null value is outside [low, high]."""
    bad = ((values < low) | (values > high)).astype("boolean").fillna(False).astype(bool)
    return no_rule(values.index).mask(bad, rule)

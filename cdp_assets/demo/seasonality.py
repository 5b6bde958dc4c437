"""Shopping seasons: a daily demand weight per country, and drawing days in proportion to it.

Peaks: Black Friday to Cyber Monday, the weeks before Christmas (quiet on the days themselves),
January sales, summer sales; in China Singles' Day (11.11) and 6.18, and a dip at the Spring
Festival. Weekends are a little busier. Weights average about 1 over a year, so a purchase
rate per year keeps its meaning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from cdp_assets.demo.places import COUNTRIES

EPOCH = dt.date(1970, 1, 1)

# Spring Festival (Chinese New Year) dates.
_SPRING_FESTIVAL = {
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
}


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + dt.timedelta(days=1)


@dataclass(frozen=True)
class DemandCalendar:
    """Daily weights per country over [first_day, last_day] and their running sums."""

    first_day: int  # day number of index 0
    weights: np.ndarray  # (countries, days)
    cumulative: np.ndarray  # (countries, days + 1), cumulative[:, 0] == 0

    @property
    def days(self) -> int:
        return self.weights.shape[1]

    def mass(self, country: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Sum of weights over [start, stop) days (day numbers, clipped to the calendar)."""
        a = np.clip(np.asarray(start) - self.first_day, 0, self.days)
        b = np.clip(np.asarray(stop) - self.first_day, 0, self.days)
        return self.cumulative[country, b] - self.cumulative[country, a]

    def draw_days(
        self, rng: np.random.Generator, country: np.ndarray, start: np.ndarray, stop: np.ndarray
    ) -> np.ndarray:
        """A day in [start, stop) per row, in proportion to the country's demand."""
        a = np.clip(np.asarray(start) - self.first_day, 0, self.days)
        b = np.clip(np.asarray(stop) - self.first_day, 0, self.days)
        out = np.empty(len(country), dtype=np.int64)
        u = rng.random(len(country))
        for c in range(len(COUNTRIES)):
            rows = np.flatnonzero(country == c)
            if not len(rows):
                continue
            cum = self.cumulative[c]
            lo, hi = cum[a[rows]], cum[b[rows]]
            target = lo + u[rows] * (hi - lo)
            idx = np.searchsorted(cum, target, side="right") - 1
            out[rows] = np.clip(idx, a[rows], np.maximum(b[rows] - 1, a[rows]))
        return out + self.first_day


def build_calendar(first: dt.date, last: dt.date) -> DemandCalendar:
    n = (last - first).days + 1
    days = [first + dt.timedelta(days=i) for i in range(n)]
    weekday = np.array([d.weekday() for d in days])
    base = np.where(weekday >= 5, 1.15, 0.95)
    weights = np.tile(base, (len(COUNTRIES), 1))
    index = {d: i for i, d in enumerate(days)}

    def boost(country: int | None, start: dt.date, length: int, factor: float) -> None:
        for k in range(length):
            i = index.get(start + dt.timedelta(days=k))
            if i is None:
                continue
            if country is None:
                weights[:, i] *= factor
            else:
                weights[country, i] *= factor

    cn = COUNTRIES.index("CN")
    western = [c for c in range(len(COUNTRIES)) if c != cn]
    for year in range(first.year, last.year + 1):
        bf = black_friday(year)
        for c in western:
            boost(c, bf - dt.timedelta(days=7), 7, 1.4)  # early deals
            boost(c, bf, 4, 3.2)  # Black Friday weekend to Cyber Monday
            boost(c, dt.date(year, 12, 1), 21, 1.7)  # Christmas shopping
            boost(c, dt.date(year, 12, 24), 3, 0.45)
            boost(c, dt.date(year, 1, 2), 10, 1.3)  # January sales
            boost(c, dt.date(year, 7, 1), 14, 1.2)  # summer sales
        boost(cn, dt.date(year, 11, 1), 10, 1.5)  # Singles' Day pre-sales
        boost(cn, dt.date(year, 11, 11), 1, 6.0)
        boost(cn, dt.date(year, 6, 18), 1, 3.0)
        boost(cn, dt.date(year, 12, 1), 21, 1.2)
        festival = _SPRING_FESTIVAL.get(year)
        if festival is not None:
            boost(cn, festival - dt.timedelta(days=3), 10, 0.5)
    # Normalise: a year's weights average 1.
    weights /= weights.mean(axis=1, keepdims=True)
    cumulative = np.concatenate([np.zeros((len(COUNTRIES), 1)), np.cumsum(weights, axis=1)], axis=1)
    return DemandCalendar(day_number(first), weights, cumulative)


def seasonal_factor(calendar: DemandCalendar, country: np.ndarray, day: np.ndarray) -> np.ndarray:
    idx = np.clip(np.asarray(day) - calendar.first_day, 0, calendar.days - 1)
    return calendar.weights[country, idx]

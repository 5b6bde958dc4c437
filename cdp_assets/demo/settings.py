"""What a demo set is made of: its size, seed, time span and defect rates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cdp_assets.demo.seasonality import day_number

DEFAULT_PEOPLE = 5_000
DEFAULT_SEED = 42
DEFAULT_END_DATE = dt.date(2026, 11, 20)
HISTORY_DAYS = 730  # about two years of history end at the end date (`make demo` asks for 1095)
MIN_HISTORY_DAYS = 90  # shorter leaves too few orders and monthly files for a useful demo
LEGACY_DAYS = 365  # accounts migrated from before the history start


@dataclass(frozen=True)
class DemoSettings:
    people: int = DEFAULT_PEOPLE
    seed: int = DEFAULT_SEED
    end_date: dt.date = DEFAULT_END_DATE
    history_days: int = HISTORY_DAYS

    def __post_init__(self) -> None:
        if self.people < 1:
            raise ValueError("people must be at least 1")
        if self.history_days < MIN_HISTORY_DAYS:
            raise ValueError(f"history_days must be at least {MIN_HISTORY_DAYS}")

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.history_days)

    @property
    def end_day(self) -> int:
        """Day number (days since 1970-01-01) of the end date."""
        return day_number(self.end_date)

    @property
    def start_day(self) -> int:
        return day_number(self.start_date)

    @property
    def first_day(self) -> int:
        """Earliest day anything happens (legacy accounts)."""
        return self.start_day - LEGACY_DAYS

    @property
    def end_second(self) -> int:
        """The last second of the end date (UTC): nothing clean happens after it."""
        return (self.end_day + 1) * 86_400 - 1

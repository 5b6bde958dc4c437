"""Which assets are past their freshness window: the rule of Dagster's time-window freshness
policy (stale once the last materialization is `fail_window` old or older)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StaleAsset:
    asset: str
    last_materialized: dt.datetime
    fail_window: dt.timedelta

    @property
    def reason(self) -> str:
        return (
            f"last materialized {self.last_materialized.isoformat(timespec='minutes')}, "
            f"more than {_hours(self.fail_window)} ago (its freshness window)"
        )


def _hours(window: dt.timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{window.total_seconds() / 60:g} minutes"


def stale_assets(
    fail_windows: Mapping[str, dt.timedelta],
    last_materialized: Mapping[str, dt.datetime | None],
    now: dt.datetime,
) -> list[StaleAsset]:
    """Assets whose last materialization is at least their fail window before `now`. An asset
    never materialized is not stale: its freshness is unknown (Dagster says UNKNOWN too), and
    the run that should have built it raises its own alert."""
    stale = []
    for asset, window in sorted(fail_windows.items()):
        last = last_materialized.get(asset)
        if last is not None and now - last >= window:
            stale.append(StaleAsset(asset, last, window))
    return stale

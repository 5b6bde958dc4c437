"""Weekly series per level member and metric from the daily sales: members too small to
forecast on their own are rolled into 'other', missing weeks are zeros, negative weeks (more
refunds than sales) are kept as they are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.forecast.daily_sales import UNKNOWN
from cdp_assets.forecast.periods import ALL, OTHER, TOTAL, SeriesKey, week_index, week_start

STORE_CHANNEL = "store"  # the channel whose orders the store level splits


@dataclass
class SalesSeries:
    """Weekly values (one column per series, one row per anchored week, oldest first) and the
    labelled daily sales they come from."""

    weekly: pd.DataFrame  # index: week start; columns: SeriesKey
    daily: pd.DataFrame  # DAILY_SALES_COLUMNS + one `member:<level>` column per level
    members: dict[str, list[str]]  # level -> its members, total included
    metrics: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[SeriesKey]:
        return list(self.weekly.columns)

    def first_week(self, key: SeriesKey) -> int:
        """Position of the series' first week with sales (earlier weeks are zeros before the
        member existed)."""
        nonzero = np.flatnonzero(self.weekly[key].to_numpy() != 0)
        return int(nonzero[0]) if len(nonzero) else len(self.weekly)


def member_column(level: str) -> str:
    return f"member:{level}"


def _raw_members(daily: pd.DataFrame, level: str) -> pd.Series:
    """The member of each daily row at `level` (NA: the row is not part of the level)."""
    if level == "channel":
        return daily["channel"].fillna(UNKNOWN)
    if level == "category":
        return daily["category"].fillna(UNKNOWN)
    if level == "store":
        store_channel = daily["channel"] == STORE_CHANNEL
        in_level = store_channel if store_channel.any() else daily["store"].notna()
        return daily["store"].fillna(UNKNOWN).where(in_level.fillna(False))
    raise ValueError(f"models.forecast.levels: unknown level {level!r}")


def _rolled_members(
    raw: pd.Series, orders: pd.Series, min_orders: int, max_members: int
) -> tuple[pd.Series, list[str]]:
    """Members with fewer than `min_orders` orders, and beyond the `max_members` largest,
    become 'other'; returns the mapped members and the names rolled up."""
    sizes = orders.groupby(raw).sum().sort_values(ascending=False, kind="stable")
    kept = [m for m in sizes.index[:max_members] if sizes[m] >= min_orders and m != OTHER]
    rolled = [m for m in sizes.index if m not in kept]
    mapped = raw.where(raw.isin(kept) | raw.isna(), OTHER)
    return mapped, rolled


def build_sales_series(
    daily: pd.DataFrame,
    as_of: dt.date,
    levels: Sequence[str],
    metrics: Sequence[str],
    min_orders_per_member: int,
    max_members_per_level: int,
) -> SalesSeries:
    """Weekly series for the total and each configured level, from the first whole week with
    sales to the week ending on `as_of`."""
    notes: list[str] = []
    daily = daily.loc[daily["day"] <= pd.Timestamp(as_of)].copy()
    metrics = tuple(metrics)
    if "units" in metrics and daily["units"].isna().all():
        metrics = tuple(m for m in metrics if m != "units")
        notes.append("units: no order items configured, units are not forecast")
    levels = list(levels)
    if "category" in levels and daily["category"].isna().all():
        levels.remove("category")
        notes.append("category: no order items configured, the category level is skipped")
    daily[member_column(TOTAL)] = ALL
    members: dict[str, list[str]] = {TOTAL: [ALL]}
    for level in levels:
        raw = _raw_members(daily, level)
        mapped, rolled = _rolled_members(
            raw, daily["orders"], min_orders_per_member, max_members_per_level
        )
        daily[member_column(level)] = mapped
        present = sorted(set(mapped.dropna()) - {OTHER}) + ([OTHER] if rolled else [])
        if not present:
            notes.append(f"{level}: no sales in this level, skipped")
            continue
        members[level] = present
        if rolled:
            notes.append(
                f"{level}: {len(rolled)} member(s) with fewer than {min_orders_per_member} "
                f"orders or beyond the {max_members_per_level} largest rolled into '{OTHER}'"
            )
    weekly = _weekly_frame(daily, as_of, members, metrics)
    return SalesSeries(weekly, daily, members, metrics, notes)


def weeks_ending_on(series: SalesSeries, end: dt.date) -> SalesSeries:
    """`series` with its weeks anchored on `end` (on or before the analysis date) instead:
    the same members and daily sales, the last week ending on `end`, days after it left out."""
    daily = series.daily.loc[series.daily["day"] <= pd.Timestamp(end)]
    weekly = _weekly_frame(daily, end, series.members, series.metrics)
    weekly = weekly.reindex(columns=series.keys, fill_value=0.0).astype("float64")
    return SalesSeries(weekly, daily, series.members, series.metrics, series.notes)


def _weekly_frame(
    daily: pd.DataFrame, as_of: dt.date, members: dict[str, list[str]], metrics: Sequence[str]
) -> pd.DataFrame:
    if daily.empty:
        return pd.DataFrame(index=week_index(as_of, 0))
    first_day = daily["day"].min()
    first_week = week_start(pd.Series([first_day]), as_of).iloc[0]
    if first_week < first_day:  # a partial first week would look like a slump
        first_week += pd.Timedelta(days=7)
    weeks = max(int((pd.Timestamp(as_of) - first_week).days + 1) // 7, 0)
    index = week_index(as_of, weeks)
    starts = week_start(daily["day"], as_of)
    columns: dict[SeriesKey, pd.Series] = {}
    for level, names in members.items():
        label = daily[member_column(level)]
        sums = daily.groupby([starts.rename("week"), label.rename("member")])[list(metrics)].sum()
        for metric in metrics:
            table = sums[metric].unstack("member").reindex(index=index, columns=names)
            for member in names:
                columns[SeriesKey(level, member, metric)] = table[member].fillna(0.0)
    return pd.DataFrame(columns, index=index).astype("float64")

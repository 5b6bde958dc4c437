"""Training examples of the uplift model from past randomised campaigns: one row per assigned
customer whose conversion window has closed, with what they did in it and their features as
of the day before they were assigned (point in time: nothing after the assignment leaks in)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

OUTCOME_COLUMNS = ("campaign", "customer_id", "arm", "assigned_at", "converted", "revenue")


def feature_day(assigned_at: pd.Series, timezone: str) -> pd.Series:
    """The analysis date whose run assigned each customer: the window opens at the end of
    that day in the project's time zone (see activation.campaign_assignment)."""
    local = pd.to_datetime(assigned_at, utc=True).dt.tz_convert(timezone)
    return (local - pd.Timedelta(days=1)).dt.date


def campaign_outcomes(
    assignments: pd.DataFrame,
    orders: pd.DataFrame,
    windows: Mapping[str, int],
    as_of: dt.date,
) -> pd.DataFrame:
    """Per assignment (campaign, customer_id, arm, assigned_at) of a campaign in `windows`
    (campaign → conversion window in days) whose window closed by the end of `as_of`:
    `converted` (a purchase in [assigned_at, assigned_at + window)) and `revenue` (the net
    amount of those purchases). `orders`: customer_id, ordered_at, net_amount_base,
    is_purchase."""
    end = pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    rows = assignments[assignments["campaign"].isin(list(windows))].copy()
    rows["assigned_at"] = pd.to_datetime(rows["assigned_at"], utc=True)
    rows["closes_at"] = rows["assigned_at"] + pd.to_timedelta(
        rows["campaign"].map(windows).astype("int64"), unit="D"
    )
    rows = rows[rows["closes_at"] <= end].reset_index(drop=True)
    bought = orders[orders["is_purchase"].fillna(False).astype(bool)]
    bought = bought.assign(ordered_at=pd.to_datetime(bought["ordered_at"], utc=True))
    pairs = rows.reset_index().merge(
        bought[["customer_id", "ordered_at", "net_amount_base"]], on="customer_id"
    )
    inside = pairs[
        (pairs["ordered_at"] >= pairs["assigned_at"]) & (pairs["ordered_at"] < pairs["closes_at"])
    ]
    revenue = inside.groupby("index")["net_amount_base"].sum()
    rows["converted"] = rows.index.isin(revenue.index)
    rows["revenue"] = rows.index.map(revenue).fillna(0.0).astype("float64")
    return rows[list(OUTCOME_COLUMNS)]


def uplift_examples(
    outcomes: pd.DataFrame, features_by_day: Mapping[dt.date, pd.DataFrame], timezone: str
) -> pd.DataFrame:
    """`outcomes` with each customer's features as of the day before their assignment
    (`features_by_day`: analysis date → customer features of that date). Customers without
    features that day (not known yet) are left out."""
    days = feature_day(outcomes["assigned_at"], timezone)
    parts = []
    for day, rows in outcomes.groupby(days, sort=True):
        features = features_by_day.get(day)
        if features is None or features.empty:
            continue
        parts.append(rows.merge(features, on="customer_id", how="inner"))
    if not parts:
        return outcomes.iloc[:0].copy()
    return pd.concat(parts, ignore_index=True)

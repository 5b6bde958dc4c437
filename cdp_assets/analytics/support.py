"""Service insight: ticket volume by category and channel, resolution time, SLA breaches, open
tickets and the most common issues, as of the end of the analysis day.

A ticket counts when opened before the end of `as_of` (UTC). It is resolved at `as_of` when
its `resolved_at` is before that instant — or, lacking a `resolved_at`, when its status is
resolved or closed (resolution time then unknown). Its SLA is breached when it took longer
than `sla_hours` to resolve, or is still open and older than that; an open ticket younger than
the SLA, or a resolved one of unknown (or negative) resolution time, is not yet decided and
stays out of the breach rate.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cdp_assets.analytics.nps import day_end_utc, utc_timestamps

SUMMARY_COLUMNS: tuple[str, ...] = (
    "breakdown",  # overall | category | channel
    "group",  # all | the category | the channel
    "rank",  # 1 = most tickets within the breakdown
    "tickets",
    "share",  # of all tickets
    "open_tickets",
    "resolved_tickets",
    "median_resolution_hours",
    "sla_decided",  # tickets whose SLA outcome is known
    "sla_breaches",
    "sla_breach_rate",  # sla_breaches / sla_decided
)
RESOLVED_STATUSES: tuple[str, ...] = ("resolved", "closed")
UNKNOWN = "unknown"


def ticket_outcomes(tickets: pd.DataFrame, as_of: dt.date, sla_hours: float) -> pd.DataFrame:
    """One row per ticket opened by the end of `as_of`: (ticket_id, category, channel,
    is_open, resolution_hours, age_hours, sla_breach); `sla_breach` is null while undecided."""
    end = day_end_utc(as_of)
    opened = utc_timestamps(tickets["opened_at"])
    in_scope = (opened < end).to_numpy(dtype=bool)
    frame = tickets.loc[in_scope]
    opened = opened[in_scope]
    resolved_at = utc_timestamps(frame["resolved_at"])
    resolved_in_time = resolved_at.notna() & (resolved_at < end)
    closed_without_time = resolved_at.isna() & frame["status"].astype("string").str.lower().isin(
        RESOLVED_STATUSES
    ).fillna(False)
    is_open = ~(resolved_in_time | closed_without_time)

    hours = (resolved_at - opened) / pd.Timedelta(hours=1)
    resolution_hours = hours.where(resolved_in_time & (hours >= 0))
    age_hours = ((end - opened) / pd.Timedelta(hours=1)).where(is_open)
    decided = resolution_hours.notna() | (age_hours > sla_hours)
    breach = (resolution_hours > sla_hours) | (age_hours > sla_hours)
    return pd.DataFrame(
        {
            "ticket_id": frame["ticket_id"].astype("string").to_numpy(),
            "category": _label(frame["category"]),
            "channel": _label(frame["channel"]),
            "is_open": is_open.to_numpy(dtype=bool),
            "resolution_hours": resolution_hours.to_numpy(dtype="float64", na_value=np.nan),
            "age_hours": age_hours.to_numpy(dtype="float64", na_value=np.nan),
            "sla_breach": pd.array(breach.where(decided).to_numpy(), dtype="boolean"),
        }
    )


def support_summary(tickets: pd.DataFrame, as_of: dt.date, sla_hours: float = 24.0) -> pd.DataFrame:
    """Ticket figures overall, by category and by channel (SUMMARY_COLUMNS), each breakdown
    ordered by volume; the category rows are the most common issues."""
    outcomes = ticket_outcomes(tickets, as_of, sla_hours)
    total = len(outcomes)
    parts = [
        _summarise(outcomes.assign(group="all"), "overall", total),
        _summarise(outcomes.assign(group=outcomes["category"]), "category", total),
        _summarise(outcomes.assign(group=outcomes["channel"]), "channel", total),
    ]
    return pd.concat(parts, ignore_index=True).loc[:, list(SUMMARY_COLUMNS)]


def most_common_issues(summary: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The `n` categories with the most tickets, from a `support_summary` frame."""
    categories = summary[summary["breakdown"] == "category"]
    return categories.sort_values("rank").head(n).reset_index(drop=True)


def _summarise(outcomes: pd.DataFrame, breakdown: str, total: int) -> pd.DataFrame:
    """One row per `group`; the overall breakdown always has its 'all' row."""
    flags = pd.DataFrame(
        {
            "group": outcomes["group"].astype("string"),
            "tickets": 1,
            "open_tickets": outcomes["is_open"].astype("int64"),
            "sla_decided": outcomes["sla_breach"].notna().astype("int64"),
            "sla_breaches": outcomes["sla_breach"].fillna(False).astype("int64"),
            "resolution_hours": outcomes["resolution_hours"],
        }
    )
    grouped = flags.groupby("group", sort=False)
    counts = grouped[["tickets", "open_tickets", "sla_decided", "sla_breaches"]].sum()
    counts["median_resolution_hours"] = grouped["resolution_hours"].median()
    if breakdown == "overall" and counts.empty:
        counts = counts.reindex(pd.Index(["all"], dtype="string", name="group"), fill_value=0)
        counts["median_resolution_hours"] = np.nan
    counts["resolved_tickets"] = counts["tickets"] - counts["open_tickets"]
    counts["share"] = counts["tickets"] / total if total else np.nan
    counts["sla_breach_rate"] = counts["sla_breaches"] / counts["sla_decided"].where(
        counts["sla_decided"] > 0
    )
    counts = counts.reset_index().sort_values(["tickets", "group"], ascending=[False, True])
    counts["rank"] = np.arange(1, len(counts) + 1)
    counts["breakdown"] = breakdown
    integer = ["rank", "tickets", "open_tickets", "resolved_tickets", "sla_decided", "sla_breaches"]
    floats = ["share", "median_resolution_hours", "sla_breach_rate"]
    return counts.astype(
        {
            "breakdown": "string",
            "group": "string",
            **dict.fromkeys(integer, "int64"),
            **dict.fromkeys(floats, "float64"),
        }
    )


def _label(values: pd.Series) -> np.ndarray:
    """Category or channel names, trimmed; missing ones as 'unknown'."""
    labels = values.astype("string").str.strip().replace("", pd.NA).fillna(UNKNOWN)
    return labels.to_numpy(dtype=object)

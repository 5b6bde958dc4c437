"""Cohort retention (the heatmap of `analytics.cohorts`) and acquisition value (holiday-acquired
against other customers, loyalty members against non-members: `analytics.acquisition_value`)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cdp_assets.analytics.cohorts import COHORT_DTYPES, COMPARISON_DTYPES, retention_heatmap
from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import count, money, percent
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import TableRef, WarehouseSession

COHORTS = TableRef("analytics", "cohorts")
ACQUISITION = TableRef("analytics", "acquisition_value")
COHORT_NAME, COHORT_TITLE = "cohorts", "Cohort retention"
ACQUISITION_NAME, ACQUISITION_TITLE = "acquisition", "Acquisition value"
COMPARISON_LABELS = {
    "holiday_acquisition": "Holiday-acquired vs other",
    "loyalty": "Members vs not",
}


def second_month_retention(cohorts: pd.DataFrame, as_of: dt.date) -> float | None:
    """The share of customers buying again in the month after their first, over the cohorts
    whose following month has ended by `as_of` (weighted by cohort size)."""
    current = pd.Timestamp(as_of.year, as_of.month, 1)
    month_one = cohorts.loc[cohorts["months_since_first"] == 1]
    complete = month_one.loc[month_one["cohort_month"] + pd.DateOffset(months=1) < current]
    customers = int(complete["cohort_customers"].sum())
    return int(complete["active_customers"].sum()) / customers if customers else None


def cohorts_section(cohorts: pd.DataFrame, as_of: dt.date) -> Section:
    if cohorts.empty:
        return missing(COHORT_NAME, COHORT_TITLE, "No purchases yet, so there are no cohorts.")
    source = charts.markdown_image_source(retention_heatmap(cohorts))
    rate = second_month_retention(cohorts, as_of)
    body = page.image(source, "retention heatmap by acquisition month") if source else ""
    body += page.paragraph(
        f"Across the cohorts with a complete second month, {percent(rate)} bought again in the "
        "month after their first purchase."
    )
    figures: dict[str, float | int | str] = {"cohorts": int(cohorts["cohort_month"].nunique())}
    if rate is not None:
        figures["second_month_retention"] = round(rate, 4)
    return Section(
        COHORT_NAME,
        COHORT_TITLE,
        "rendered",
        "Each row is the customers who first bought in a month; each cell is the share of them "
        "who bought again so many months later (the first column shows how many there were).",
        body,
        figures,
    )


def acquisition_section(comparison: pd.DataFrame, currency: str) -> Section:
    shown = comparison.loc[comparison["customers"] > 0]
    if shown.empty:
        return missing(
            ACQUISITION_NAME,
            ACQUISITION_TITLE,
            "No customer has been with us long enough to compare acquisition groups yet.",
        )
    rows = [
        (
            COMPARISON_LABELS.get(r.comparison, r.comparison),
            r.group,
            f"{r.horizon_days} days",
            count(r.customers),
            money(r.mean_value, currency, 2),
            percent(r.repeat_rate),
        )
        for r in shown.sort_values(["comparison", "horizon_days", "group"]).itertuples()
    ]
    longest = int(shown["horizon_days"].max())
    at_longest = shown.loc[shown["horizon_days"] == longest]
    chart = charts.bar_chart(
        [str(g) for g in at_longest["group"]],
        list(at_longest["mean_value"]),
        f"mean net value in the first {longest} days ({currency})",
    )
    body = page.image(chart, f"mean value in the first {longest} days by group") + page.table(
        ("comparison", "group", "within", "customers", "mean value", "repeat rate"), rows
    )
    return Section(
        ACQUISITION_NAME,
        ACQUISITION_TITLE,
        "rendered",
        "What a new customer is worth in their first days, and how often they buy again, for "
        "holiday-acquired customers against the others and loyalty members against non-members.",
        body,
        {"groups": int(shown["group"].nunique())},
    )


def build_cohorts(session: WarehouseSession, as_of: dt.date) -> Section:
    if not session.table_exists(COHORTS):
        return missing(
            COHORT_NAME, COHORT_TITLE, "No cohort table yet (analytics.cohorts needs orders)."
        )
    return cohorts_section(session.read_table(COHORTS, dtypes=COHORT_DTYPES), as_of)


def build_acquisition(session: WarehouseSession, currency: str) -> Section:
    if not session.table_exists(ACQUISITION):
        return missing(
            ACQUISITION_NAME,
            ACQUISITION_TITLE,
            "No acquisition comparison yet (analytics.acquisition_value needs orders).",
        )
    return acquisition_section(session.read_table(ACQUISITION, dtypes=COMPARISON_DTYPES), currency)

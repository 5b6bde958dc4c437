"""Campaign results (`analytics.campaign_results`): each arm against its control, with the
uplift of the primary metric and its 95 % interval."""

from __future__ import annotations

import pandas as pd

from cdp_assets.analytics.campaign_results import uplift_plot
from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import DASH, count, money, percent
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import TableRef, WarehouseSession

NAME, TITLE = "campaigns", "Campaign results"
RESULTS = TableRef("analytics", "campaign_results")


def uplift_text(metric: object, uplift: object, low: object, high: object, currency: str) -> str:
    """'+2.1 pp [+0.4, +3.8]' for conversion, '+1.20 USD [-0.30, +2.70]' for revenue."""
    if pd.isna(uplift):
        return DASH
    if metric == "conversion":
        bounds = "" if pd.isna(low) else f" [{100 * float(low):+.1f}, {100 * float(high):+.1f}]"
        return f"{100 * float(uplift):+.1f} pp{bounds}"
    bounds = "" if pd.isna(low) else f" [{float(low):+.2f}, {float(high):+.2f}]"
    return f"{float(uplift):+.2f} {currency}{bounds}"


def verdict(low: object, high: object) -> str:
    """Plain words for an interval: above zero, below zero, or not distinguishable from it."""
    if pd.isna(low) or pd.isna(high):
        return ""
    if float(low) > 0:
        return "better than control"
    if float(high) < 0:
        return "worse than control"
    return "no clear difference"


def campaigns_section(results: pd.DataFrame, currency: str) -> Section:
    rows = [
        (
            r.campaign,
            r.arm,
            count(r.assigned),
            percent(r.conversion_rate),
            money(r.revenue_per_assigned, currency, 2),
            r.primary_metric,
            uplift_text(
                r.primary_metric, r.primary_uplift, r.primary_low, r.primary_high, currency
            ),
            verdict(r.primary_low, r.primary_high),
            "" if pd.isna(r.note) else r.note,
        )
        for r in results.itertuples()
    ]
    source = charts.markdown_image_source(uplift_plot(results))
    body = (
        page.image(source, "uplift of each arm with its interval") if source else ""
    ) + page.table(
        (
            "campaign",
            "arm",
            "customers assigned",
            "converted",
            "revenue per customer",
            "measured on",
            "uplift vs control [95 % interval]",
            "verdict",
            "note",
        ),
        rows,
    )
    better = sum(
        verdict(r.primary_low, r.primary_high) == "better than control"
        for r in results.itertuples()
    )
    return Section(
        NAME,
        TITLE,
        "rendered",
        "What each campaign arm did against its control group: the difference it made to "
        "conversion or revenue, with the range the true effect most likely lies in.",
        body,
        {"campaigns": int(results["campaign"].nunique()), "arms_better_than_control": better},
    )


def build(session: WarehouseSession, currency: str) -> Section:
    if not session.table_exists(RESULTS):
        return missing(NAME, TITLE, "No campaigns are configured (no analytics.campaign_results).")
    results = session.read_table(RESULTS)
    if results.empty:
        return missing(
            NAME, TITLE, "No campaign results yet: no campaign has started by this date."
        )
    return campaigns_section(results, currency)

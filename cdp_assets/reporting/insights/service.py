"""What customers say and how they are served: the NPS/CSAT trend with the themes of
promoters' and detractors' comments (`analytics.nps`, `analytics.nps_themes`), and the support
SLA trend by month a ticket was opened (from `core.support_tickets`, with the same ticket
outcomes as `analytics.support_summary`)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cdp_assets.analytics.nps import day_end_utc, utc_timestamps
from cdp_assets.analytics.support import ticket_outcomes
from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import count, number, percent
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.reporting.markdown import mask_pii_text
from cdp_assets.warehouse import TableRef, WarehouseSession

SURVEY_NAME, SURVEY_TITLE = "surveys", "NPS and CSAT"
SUPPORT_NAME, SUPPORT_TITLE = "support", "Support service level"
NPS = TableRef("analytics", "nps")
THEMES = TableRef("analytics", "nps_themes")
TICKETS = TableRef("core", "support_tickets")
TREND_MONTHS = 12  # the trend charts show the last year, month by month
THEMES_PER_GROUP = 5


def nps_trend(summary: pd.DataFrame, months: int = TREND_MONTHS) -> pd.DataFrame:
    """The monthly rows of an `nps_summary` frame, the latest `months`, oldest first."""
    monthly = summary.loc[summary["breakdown"] == "month"].sort_values("group")
    return monthly.tail(months).reset_index(drop=True)


def surveys_section(summary: pd.DataFrame, themes: pd.DataFrame | None) -> Section:
    trend = nps_trend(summary)
    overall = summary.loc[summary["breakdown"] == "overall"]
    if trend.empty or overall.empty or int(overall["responses"].iloc[0]) == 0:
        return missing(SURVEY_NAME, SURVEY_TITLE, "No survey answers yet.")
    chart = charts.trend_chart(
        list(trend["group"]), {"NPS (-100 to 100)": list(trend["nps"])}, "NPS"
    )
    rows = [
        (r.group, count(r.responses), number(r.nps), number(r.csat_mean, 2))
        for r in trend.itertuples()
    ]
    body = page.image(chart, "NPS by month") + page.table(
        ("month", "responses", "NPS", "CSAT (1-5)"), rows
    )
    if themes is not None and len(themes):
        top = themes.sort_values(["group", "score"], ascending=[True, False])
        top = top.groupby("group", sort=True).head(THEMES_PER_GROUP)
        body += page.table(
            ("who", "theme (words in their comments)", "comments using it"),
            [(r.group, mask_pii_text(str(r.term)), count(r.responses)) for r in top.itertuples()],
            "What promoters and detractors write about most",
        )
    else:
        body += page.paragraph("No comments to draw themes from yet.")
    nps = overall["nps"].iloc[0]
    figures: dict[str, float | int | str] = {"survey_responses": int(overall["responses"].iloc[0])}
    if pd.notna(nps):
        figures["nps"] = round(float(nps), 1)
    return Section(
        SURVEY_NAME,
        SURVEY_TITLE,
        "rendered",
        "Net Promoter Score (share of promoters minus share of detractors) and mean satisfaction "
        "by month, with the words promoters and detractors use most in their comments.",
        body,
        figures,
    )


def sla_trend(
    tickets: pd.DataFrame, as_of: dt.date, sla_hours: float, months: int = TREND_MONTHS
) -> pd.DataFrame:
    """By month opened (UTC), the `months` months up to the one of `as_of`, months without
    tickets included: tickets, SLA outcomes decided, breaches, breach rate (breaches / decided;
    null without a decided ticket) and median resolution hours, as of the end of `as_of`."""
    opened = utc_timestamps(tickets["opened_at"])
    in_scope = (opened < day_end_utc(as_of)).to_numpy(dtype=bool)
    outcomes = ticket_outcomes(tickets, as_of, sla_hours)
    frame = pd.DataFrame(
        {
            "month": opened[in_scope].dt.strftime("%Y-%m").to_numpy(),
            "decided": outcomes["sla_breach"].notna().to_numpy(dtype=bool),
            "breach": outcomes["sla_breach"].fillna(False).to_numpy(dtype=bool),
            "resolution_hours": outcomes["resolution_hours"].to_numpy(),
        }
    )
    shown = pd.period_range(end=pd.Period(as_of, freq="M"), periods=months, freq="M")
    grouped = frame.groupby("month", sort=True)
    trend = pd.DataFrame(
        {
            "tickets": grouped.size(),
            "sla_decided": grouped["decided"].sum(),
            "sla_breaches": grouped["breach"].sum(),
            "median_resolution_hours": grouped["resolution_hours"].median(),
        }
    ).reindex(shown.strftime("%Y-%m"))
    counts = ["tickets", "sla_decided", "sla_breaches"]
    trend[counts] = trend[counts].fillna(0).astype("int64")
    decided = trend["sla_decided"].where(trend["sla_decided"] > 0)
    trend["sla_breach_rate"] = trend["sla_breaches"] / decided
    return trend.rename_axis("month").reset_index()


def support_section(trend: pd.DataFrame, sla_hours: float) -> Section:
    if int(trend["tickets"].sum()) == 0:
        return missing(
            SUPPORT_NAME, SUPPORT_TITLE, f"No support tickets in the last {len(trend)} months."
        )
    chart = charts.trend_chart(
        list(trend["month"]),
        {"SLA breach rate": list(trend["sla_breach_rate"])},
        "tickets over the SLA",
        percent_axis=True,
    )
    rows = [
        (
            r.month,
            count(r.tickets),
            percent(r.sla_breach_rate),
            number(r.median_resolution_hours),
        )
        for r in trend.itertuples()
    ]
    body = page.image(chart, "SLA breach rate by month") + page.table(
        ("month opened", "tickets", "over the SLA", "median hours to resolve"), rows
    )
    latest = trend.iloc[-1]
    figures: dict[str, float | int | str] = {"tickets_latest_month": int(latest["tickets"])}
    if pd.notna(latest["sla_breach_rate"]):
        figures["sla_breach_rate_latest_month"] = round(float(latest["sla_breach_rate"]), 4)
    return Section(
        SUPPORT_NAME,
        SUPPORT_TITLE,
        "rendered",
        f"Support tickets by month opened and the share that took longer than the "
        f"{number(sla_hours, 0)}-hour service level to resolve (open ones count once they pass it).",
        body,
        figures,
    )


def build_surveys(session: WarehouseSession) -> Section:
    if not session.table_exists(NPS):
        return missing(SURVEY_NAME, SURVEY_TITLE, "No surveys are configured (no analytics.nps).")
    themes = session.read_table(THEMES) if session.table_exists(THEMES) else None
    return surveys_section(session.read_table(NPS), themes)


def build_support(session: WarehouseSession, as_of: dt.date, sla_hours: float) -> Section:
    if not session.table_exists(TICKETS):
        return missing(
            SUPPORT_NAME,
            SUPPORT_TITLE,
            "No support tickets are configured (no core.support_tickets).",
        )
    tickets = session.read_table(
        TICKETS, columns=["ticket_id", "opened_at", "resolved_at", "status", "category", "channel"]
    )
    return support_section(sla_trend(tickets, as_of, sla_hours), sla_hours)

"""NPS/CSAT trend with themes, and the support SLA trend, on hand-made responses and tickets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cdp_assets.analytics.nps import nps_summary
from cdp_assets.reporting.insights import service
from cdp_assets.reporting.insights.service import sla_trend
from cdp_assets_tests.analytics.warehouse_fixtures import surveys, tickets

AS_OF = dt.date(2025, 2, 28)
TICKETS = tickets(
    [
        ("A", "2025-01-05 10:00", "2025-01-05 20:00"),  # 10 h: within the 24 h SLA
        ("B", "2025-01-10 10:00", "2025-01-12 10:00"),  # 48 h: breach
        ("C", "2025-02-01 10:00", None),  # open for four weeks: breach
        ("D", "2025-02-28 20:00", None),  # open 4 h at the end of the day: not decided yet
        ("E", "2025-03-05 10:00", None),  # after the analysis date
    ]
)


def test_sla_trend_by_month_opened() -> None:
    trend = sla_trend(TICKETS, AS_OF, 24.0, months=3)
    assert list(trend["month"]) == ["2024-12", "2025-01", "2025-02"]  # December: no tickets
    assert list(trend["tickets"]) == [0, 2, 2]
    assert list(trend["sla_decided"]) == [0, 2, 1]
    assert list(trend["sla_breaches"]) == [0, 1, 1]
    assert trend["sla_breach_rate"].tolist()[1:] == [0.5, 1.0]
    assert np.isnan(trend["sla_breach_rate"].iloc[0])
    assert trend["median_resolution_hours"].iloc[1] == 29.0
    assert np.isnan(trend["median_resolution_hours"].iloc[2])
    assert len(sla_trend(TICKETS, AS_OF, 24.0)) == 12


def test_support_section_says_what_the_sla_is() -> None:
    section = service.support_section(sla_trend(TICKETS, AS_OF, 24.0, months=2), 24.0)
    assert section.status == "rendered" and "24-hour" in section.sentence
    assert "50.0 %" in section.body and "100.0 %" in section.body
    assert section.figures == {"tickets_latest_month": 2, "sla_breach_rate_latest_month": 1.0}
    quiet = service.support_section(sla_trend(TICKETS.iloc[0:0], AS_OF, 24.0), 24.0)
    assert (
        quiet.status == "missing" and quiet.sentence == "No support tickets in the last 12 months."
    )


def _responses() -> pd.DataFrame:
    return surveys(
        [
            ("A", "2025-01-05 10:00", 10, 5),
            ("B", "2025-01-06 10:00", 3, 2),
            ("C", "2025-02-01 10:00", 9, 4),
            ("D", "2025-02-02 10:00", 8, None),
        ]
    )


def test_surveys_section_trend_and_escaped_themes() -> None:
    summary = nps_summary(_responses(), None, AS_OF)
    themes = pd.DataFrame(
        {
            "group": ["detractors", "promoters"],
            "term": ["<script>alert('x')</script>", "fast delivery"],
            "score": [0.5, 0.4],
            "responses": [1, 2],
        }
    )
    section = service.surveys_section(summary, themes)
    assert section.status == "rendered"
    assert section.figures == {"survey_responses": 4, "nps": 25.0}  # 2 promoters, 1 detractor
    assert "<script>" not in section.body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in section.body
    # January: one promoter, one detractor (NPS 0, CSAT 3.5); February: NPS 50, CSAT 4
    figures = '<td class="n">{}</td><td class="n">{}</td><td class="n">{}</td>'
    assert "<td>2025-01</td>" + figures.format(2, "0.0", "3.50") in section.body
    assert "<td>2025-02</td>" + figures.format(2, "50.0", "4.00") in section.body


def test_no_survey_answers_say_so() -> None:
    summary = nps_summary(_responses().iloc[0:0], None, AS_OF)
    section = service.surveys_section(summary, None)
    assert section.status == "missing" and section.sentence == "No survey answers yet."

"""Support figures on a hand-made set of tickets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.analytics.support import (
    SUMMARY_COLUMNS,
    most_common_issues,
    support_summary,
    ticket_outcomes,
)

AS_OF = dt.date(2024, 3, 10)  # facts before 2024-03-11T00:00Z count


@pytest.fixture
def tickets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8"],
            "opened_at": pd.to_datetime(
                [
                    "2024-03-01T00:00Z",  # resolved in 10 h
                    "2024-03-01T00:00Z",  # resolved in 48 h: breach
                    "2024-03-09T12:00Z",  # open 36 h at the end of as_of: breach
                    "2024-03-10T06:00Z",  # open 18 h: SLA not decided yet
                    "2024-03-02T00:00Z",  # closed without a time: not decided
                    "2024-03-11T00:00Z",  # after as_of: left out
                    "2024-03-05T00:00Z",  # resolved in exactly 24 h: no breach
                    "2024-03-09T00:00Z",  # resolved after as_of: open 48 h, breach
                ]
            ),
            "resolved_at": pd.to_datetime(
                [
                    "2024-03-01T10:00Z",
                    "2024-03-03T00:00Z",
                    None,
                    None,
                    None,
                    None,
                    "2024-03-06T00:00Z",
                    "2024-03-12T00:00Z",
                ]
            ),
            "category": [
                "delivery",
                "delivery",
                "returns",
                None,
                "delivery",
                "payment",
                "returns",
                "delivery",
            ],
            "channel": ["email", "chat", "email", "phone", "email", "chat", "chat", "email"],
            "status": [
                "resolved",
                "closed",
                "open",
                "pending",
                "closed",
                "open",
                "resolved",
                "resolved",
            ],
        }
    )


def test_ticket_outcomes(tickets: pd.DataFrame) -> None:
    outcomes = ticket_outcomes(tickets, AS_OF, sla_hours=24)
    assert outcomes["ticket_id"].tolist() == ["T1", "T2", "T3", "T4", "T5", "T7", "T8"]
    assert outcomes["is_open"].tolist() == [False, False, True, True, False, False, True]
    np.testing.assert_allclose(
        outcomes["resolution_hours"], [10, 48, np.nan, np.nan, np.nan, 24, np.nan]
    )
    np.testing.assert_allclose(outcomes["age_hours"], [np.nan, np.nan, 36, 18, np.nan, np.nan, 48])
    assert outcomes["sla_breach"].tolist() == [False, True, True, pd.NA, pd.NA, False, True]
    assert outcomes["category"].tolist()[3] == "unknown"


def test_overall_figures(tickets: pd.DataFrame) -> None:
    summary = support_summary(tickets, AS_OF, sla_hours=24)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    overall = summary.iloc[0]
    assert (overall["breakdown"], overall["group"]) == ("overall", "all")
    assert overall["tickets"] == 7
    assert overall["open_tickets"] == 3
    assert overall["resolved_tickets"] == 4
    assert overall["median_resolution_hours"] == pytest.approx(24.0)  # of 10, 24, 48
    assert overall["sla_decided"] == 5
    assert overall["sla_breaches"] == 3
    assert overall["sla_breach_rate"] == pytest.approx(0.6)
    assert overall["share"] == 1.0


def test_by_category_and_channel(tickets: pd.DataFrame) -> None:
    summary = support_summary(tickets, AS_OF, sla_hours=24)
    categories = summary[summary["breakdown"] == "category"].set_index("group")
    assert categories.index.tolist() == ["delivery", "returns", "unknown"]
    assert categories["rank"].tolist() == [1, 2, 3]
    assert categories["tickets"].tolist() == [4, 2, 1]
    assert categories["share"].tolist() == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert categories.loc["delivery", "median_resolution_hours"] == pytest.approx(29.0)
    assert categories.loc["delivery", "sla_breach_rate"] == pytest.approx(2 / 3)
    assert categories.loc["returns", "sla_breach_rate"] == pytest.approx(0.5)
    assert np.isnan(categories.loc["unknown", "sla_breach_rate"])

    channels = summary[summary["breakdown"] == "channel"].set_index("group")
    assert channels.index.tolist() == ["email", "chat", "phone"]
    assert channels["tickets"].tolist() == [4, 2, 1]
    assert channels["open_tickets"].tolist() == [2, 0, 1]
    assert channels.loc["chat", "median_resolution_hours"] == pytest.approx(36.0)


def test_most_common_issues(tickets: pd.DataFrame) -> None:
    top = most_common_issues(support_summary(tickets, AS_OF), n=2)
    assert top["group"].tolist() == ["delivery", "returns"]


def test_a_longer_sla_changes_the_breaches(tickets: pd.DataFrame) -> None:
    overall = support_summary(tickets, AS_OF, sla_hours=40).iloc[0]
    # breaches: T2 (48 h), T8 (open 48 h); decided: T1, T2, T7, T8
    assert (overall["sla_breaches"], overall["sla_decided"]) == (2, 4)


def test_no_tickets_give_an_empty_overall_row(tickets: pd.DataFrame) -> None:
    summary = support_summary(tickets.iloc[:0], AS_OF)
    assert summary["breakdown"].tolist() == ["overall"]
    assert summary.iloc[0]["tickets"] == 0
    assert np.isnan(summary.iloc[0]["sla_breach_rate"])

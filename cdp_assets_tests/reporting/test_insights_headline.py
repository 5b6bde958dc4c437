"""Headline figures: the last 30 days against the 30 before, on hand-made orders whose figures
are counted by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from cdp_assets.analytics.features import existing_core_tables
from cdp_assets.reporting.insights import headline
from cdp_assets.reporting.insights.formatting import (
    money,
    percent,
    point_change,
    relative_change,
    signed_percent,
)
from cdp_assets.reporting.insights.headline import PeriodFigures, period_figures
from cdp_assets_tests.analytics.warehouse_fixtures import orders, profiles, ts, write_core

AS_OF = dt.date(2025, 3, 31)  # last 30 days: 2 Mar - 31 Mar; the 30 before: 31 Jan - 1 Mar
ORDERS = orders(
    [
        ("A", "A1", "2025-01-10 10:00", 100.0),  # before both periods
        ("A", "A2", "2025-03-05 10:00", 50.0),  # returning now
        ("B", "B1", "2025-02-10 10:00", 200.0),  # new in the period before
        ("B", "B2", "2025-03-10 10:00", 30.0),  # returning now
        ("C", "C1", "2025-03-20 10:00", 80.0),  # new now
        ("C", "C2", "2025-03-25 10:00", 500.0, "cancelled"),  # not a purchase
        ("D", "D1", "2025-04-02 10:00", 70.0),  # after the analysis date
        ("E", "E1", "2025-02-15 10:00", 40.0),  # new in the period before, twice
        ("E", "E2", "2025-02-20 10:00", 60.0),
        (None, "G1", "2025-03-30 10:00", 25.0),  # a guest purchase: revenue, no customer
    ]
)
PROFILES = profiles(
    *(
        {"customer_id": c, "first_seen": ts(seen)}
        for c, seen in (
            ("A", "2025-01-01 09:00"),
            ("B", "2025-02-01 09:00"),
            ("C", "2025-03-15 09:00"),
            ("D", "2025-04-02 09:00"),  # unknown on the analysis date
            ("E", "2025-02-14 09:00"),
        )
    )
)


def _figures(warehouse_url: str) -> tuple[PeriodFigures, PeriodFigures]:
    warehouse = write_core(warehouse_url, orders=ORDERS, customer_profiles=PROFILES)
    with warehouse.transaction() as session:
        tables = existing_core_tables(session)
        now = period_figures(session, AS_OF, 30, tables)
        before = period_figures(session, AS_OF - dt.timedelta(days=30), 30, tables)
    return now, before


def test_period_figures_match_hand_counts(warehouse_url: str) -> None:
    now, before = _figures(warehouse_url)
    assert now == PeriodFigures(customers=4, active=3, new=1, returning=2, orders=4, revenue=185.0)
    assert now.repeat_rate == pytest.approx(2 / 3)
    assert before == PeriodFigures(
        customers=3, active=2, new=2, returning=0, orders=3, revenue=300.0
    )
    assert before.repeat_rate == 0.0


def test_headline_section_shows_changes_with_units(warehouse_url: str) -> None:
    now, before = _figures(warehouse_url)
    section = headline.headline_section(now, before, 30, "EUR")
    assert section.status == "rendered"
    for text in ("185 EUR", "+33.3 %", "+50.0 %", "-38.3 %", "66.7 %", "+66.7 pp", "-50.0 %"):
        assert text in section.body, text
    assert section.figures == {
        "customers": 4,
        "active_customers": 3,
        "new_customers": 1,
        "revenue": 185.0,
        "repeat_rate": 0.6667,
    }


def test_no_purchases_and_no_customers_say_so(warehouse_url: str) -> None:
    warehouse = write_core(warehouse_url, customer_profiles=profiles())
    with warehouse.transaction() as session:
        section = headline.build(session, AS_OF, 30, "USD", existing_core_tables(session))
    assert section.status == "missing" and "nothing to count" in section.sentence


def test_formatting_of_money_shares_and_changes() -> None:
    assert money(448386.9207, "USD") == "448,387 USD"
    assert money(448386.9207, "USD", 2) == "448,386.92 USD"
    assert percent(0.1551) == "15.5 %"
    assert signed_percent(relative_change(112.5, 100)) == "+12.5 %"
    assert relative_change(5, 0) is None and signed_percent(None) == "–"
    assert point_change(0.30, 0.25) == "+5.0 pp"
    assert percent(float("nan")) == "–"

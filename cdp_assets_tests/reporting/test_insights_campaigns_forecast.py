"""Campaign results and the sales forecast sections on hand-made tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cdp_assets.analytics.features import existing_core_tables
from cdp_assets.forecast.periods import SALES_FORECAST_COLUMNS
from cdp_assets.reporting.insights import campaigns, forecast
from cdp_assets.reporting.insights.campaigns import uplift_text, verdict
from cdp_assets.reporting.insights.forecast import total_forecast, weekly_history
from cdp_assets.warehouse import TableRef
from cdp_assets_tests.analytics.warehouse_fixtures import orders, write_core


def test_uplift_in_points_or_money_with_its_interval() -> None:
    assert uplift_text("conversion", 0.021, 0.004, 0.038, "USD") == "+2.1 pp [+0.4, +3.8]"
    assert uplift_text("revenue", 1.2, -0.3, 2.7, "EUR") == "+1.20 EUR [-0.30, +2.70]"
    assert uplift_text("revenue", np.nan, np.nan, np.nan, "EUR") == "–"
    assert verdict(0.004, 0.038) == "better than control"
    assert verdict(-0.3, 2.7) == "no clear difference"
    assert verdict(-0.3, -0.1) == "worse than control"


def _results(name: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign": [name, name],
            "arm": ["offer", "control"],
            "is_control": [False, True],
            "assigned": [800, 200],
            "conversion_rate": [0.12, 0.08],
            "revenue_per_assigned": [10.5, 7.25],
            "primary_metric": ["conversion", "conversion"],
            "primary_uplift": [0.04, np.nan],
            "primary_low": [0.01, np.nan],
            "primary_high": [0.07, np.nan],
            "note": [None, "control arm: the baseline of the uplifts"],
        }
    )


def test_campaign_section_escapes_names_and_counts_winners() -> None:
    section = campaigns.campaigns_section(_results("<img src=x onerror=alert(1)>"), "USD")
    assert section.status == "rendered"
    assert "<img src=x" not in section.body and "&lt;img src=x onerror=alert(1)&gt;" in section.body
    assert "+4.0 pp [+1.0, +7.0]" in section.body and "better than control" in section.body
    assert section.figures == {"campaigns": 1, "arms_better_than_control": 1}


AS_OF = dt.date(2025, 3, 31)


def _forecast_rows() -> pd.DataFrame:
    weeks = pd.date_range("2025-04-01", periods=3, freq="7D")
    rows = []
    for as_of, level, member, metric, freq in (
        (AS_OF, "total", "all", "net_revenue", "week"),
        (AS_OF, "total", "all", "orders", "week"),  # another metric
        (AS_OF, "channel", "web", "net_revenue", "week"),  # another level
        (AS_OF - dt.timedelta(days=7), "total", "all", "net_revenue", "week"),  # older
    ):
        for i, start in enumerate(weeks):
            value = 1000.0 + 100 * i
            rows.append(
                {
                    "as_of": pd.Timestamp(as_of),
                    "level": level,
                    "member": member,
                    "metric": metric,
                    "frequency": freq,
                    "period_start": start,
                    "period_end": start + pd.Timedelta(days=6),
                    "model": "ets",
                    "forecast": value,
                    "lower_80": value - 100,
                    "upper_80": value + 100,
                    "lower_95": value - 200,
                    "upper_95": value + 200,
                }
            )
    return pd.DataFrame(rows).astype(SALES_FORECAST_COLUMNS)


def test_total_forecast_keeps_the_latest_weekly_total_net_revenue() -> None:
    chosen = total_forecast(_forecast_rows())
    assert len(chosen) == 3
    assert set(chosen["metric"]) == {"net_revenue"} and set(chosen["level"]) == {"total"}
    assert set(chosen["as_of"]) == {pd.Timestamp(AS_OF)}


def test_weekly_history_uses_the_forecast_weeks() -> None:
    daily = pd.DataFrame(
        {
            "day": pd.to_datetime(["2025-03-25", "2025-03-31", "2025-03-24", "2025-03-18"]),
            "value": [10.0, 20.0, 5.0, 1.0],
        }
    )
    weekly = weekly_history(daily, AS_OF, weeks=3)  # weeks end on 31 March: 25-31, 18-24 March
    assert weekly["period_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-03-11",
        "2025-03-18",
        "2025-03-25",
    ]
    assert weekly["value"].tolist() == [0.0, 6.0, 30.0]


def test_forecast_section_from_the_warehouse(warehouse_url: str) -> None:
    rows = [
        ("A", "A1", "2025-03-30 10:00", 40.0),
        ("A", "A2", "2025-03-20 10:00", 60.0),
        ("B", "B1", "2025-03-26 10:00", 25.0, "cancelled"),
    ]
    warehouse = write_core(warehouse_url, orders=orders(rows))
    with warehouse.transaction() as session:
        tables = existing_core_tables(session)
        assert forecast.build(session, "UTC", "USD", tables).status == "missing"
        session.replace_table(TableRef("ml", "sales_forecast"), _forecast_rows())
        section = forecast.build(session, "UTC", "USD", tables)
    assert section.status == "rendered"
    assert section.figures == {"forecast_weeks": 3, "forecast_net_revenue": 3300.0}
    assert (
        '<td>2025-04-08</td><td class="n">1,100 USD</td><td>1,000 USD – 1,200 USD</td>'
        in section.body
    )
    assert "last 26 weeks" in section.sentence and "next 3" in section.sentence

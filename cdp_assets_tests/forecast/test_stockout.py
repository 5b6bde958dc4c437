"""Stock-out risk on hand-made counts and forecasts whose answers are known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cdp_assets.forecast.demand import ProductForecast
from cdp_assets.forecast.periods import future_weeks
from cdp_assets.forecast.stockout import (
    cover_weeks,
    latest_counts,
    location_shares,
    p_demand_at_least,
    stockout_risk,
)

AS_OF = dt.date(2026, 11, 20)
CUTOFF = pd.Timestamp("2026-11-21", tz="UTC")


def flat_forecast(rates: dict[str, float], weeks: int = 8, phi: float = 0.0) -> ProductForecast:
    periods = future_weeks(AS_OF, weeks)
    products = pd.Index(list(rates))
    return ProductForecast(
        as_of=AS_OF,
        periods=periods,
        mean=pd.DataFrame(
            np.repeat(np.array(list(rates.values()))[:, None], weeks, axis=1),
            index=products,
            columns=periods,
        ),
        dispersion=pd.Series(phi, index=products),
        recent_rate=pd.Series(rates),
        history_weeks=pd.Series(52, index=products),
        notes=pd.Series("", index=products),
        category_notes=(),
    )


def counts(rows: list[tuple[str, str | None, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["product_id", "store_id", "on_hand_units", "counted_at"])


def test_the_latest_count_at_or_before_the_cutoff_wins() -> None:
    inventory = counts(
        [
            ("P", "S1", 10, "2026-11-10T22:00:00Z"),
            ("P", "S1", 7, "2026-11-20T22:00:00Z"),
            ("P", "S1", 99, "2026-11-25T22:00:00Z"),  # after the analysis date
            ("P", None, 40, "2026-11-01T22:00:00Z"),
        ]
    )
    latest = latest_counts(inventory, CUTOFF).sort_values("on_hand_units")
    assert latest["on_hand_units"].tolist() == [7.0, 40.0]
    assert latest["store_id"].isna().tolist() == [False, True]


def test_cover_is_where_cumulative_demand_meets_the_stock() -> None:
    weekly = np.array([[10.0, 10.0, 10.0]] * 4 + [[0.0, 0.0, 0.0]])
    cover = cover_weeks(np.array([25.0, 0.0, 50.0, 30.0, 5.0]), weekly)
    assert cover[:4] == pytest.approx([2.5, 0.0, 5.0, 3.0])  # 50: 3 weeks + 20 at 10 a week
    assert np.isinf(cover[4])


def test_probability_of_running_out_is_the_demand_tail() -> None:
    p = p_demand_at_least(np.array([15.0, 0.0, 15.0]), np.array([10.0, 10.0, 10.0]),
                          np.array([10.0, 10.0, 60.0]))  # fmt: skip
    assert p[0] == pytest.approx(stats.poisson.sf(14, 10.0))
    assert p[1] == 1.0
    # variance 60 = 10 + 10^2 / size: size 2
    assert p[2] == pytest.approx(stats.nbinom.sf(14, 2.0, 2.0 / 12.0))


def test_store_demand_is_the_product_demand_times_the_store_share() -> None:
    """P sells 10 a week, 3/4 at S1 and 1/4 online. S1 holds 15 units: 2 weeks of cover, at
    risk for a 4-week lead time; online holds 100: 40 weeks, safe."""
    latest = counts(
        [("P", "S1", 15, "2026-11-20T22:00:00Z"), ("P", None, 100, "2026-11-20T22:00:00Z")]
    )
    latest = latest_counts(latest, CUTOFF)
    shares = pd.DataFrame(
        {
            "product_id": ["P", "P"],
            "store_id": pd.array(["S1", pd.NA], "string"),
            "share": [0.75, 0.25],
        }
    )
    risk = stockout_risk(latest, flat_forecast({"P": 10.0}), shares, lead_time_weeks=4.0)
    store = risk.loc[risk["store_id"] == "S1"].iloc[0]
    online = risk.loc[risk["store_id"].isna()].iloc[0]
    assert store["weeks_of_cover"] == pytest.approx(2.0)
    assert store["run_out_date"] == pd.Timestamp("2026-12-04")
    assert store["lead_time_demand"] == pytest.approx(30.0)
    assert store["p_stockout_before_lead_time"] == pytest.approx(stats.poisson.sf(14, 30.0))
    assert bool(store["at_risk"])
    assert online["weeks_of_cover"] == pytest.approx(40.0)
    assert not bool(online["at_risk"])
    assert "beyond the forecast horizon" in online["note"]
    assert risk["store_id"].iloc[0] == "S1"  # most at risk first


def test_without_store_sales_the_counts_of_a_product_add_up() -> None:
    latest = latest_counts(
        counts([("P", "S1", 15, "2026-11-20T22:00:00Z"), ("P", "S2", 25, "2026-11-20T22:00:00Z")]),
        CUTOFF,
    )
    risk = stockout_risk(latest, flat_forecast({"P": 10.0}), None, lead_time_weeks=2.0)
    assert len(risk) == 1
    assert risk["on_hand_units"].iloc[0] == 40.0
    assert risk["weeks_of_cover"].iloc[0] == pytest.approx(4.0)
    assert not bool(risk["at_risk"].iloc[0])


def test_a_product_without_a_forecast_says_so() -> None:
    latest = latest_counts(counts([("NEW", "S1", 5, "2026-11-20T22:00:00Z")]), CUTOFF)
    risk = stockout_risk(latest, flat_forecast({"P": 10.0}), None, lead_time_weeks=2.0)
    assert np.isnan(risk["p_stockout_before_lead_time"].iloc[0])
    assert risk["at_risk"].isna().iloc[0]
    assert "no demand forecast" in risk["note"].iloc[0]


def test_location_shares_over_the_last_26_weeks() -> None:
    sales = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-11-19", "2026-11-18", "2026-10-01", "2025-01-01"]),
            "product_id": ["P", "P", "P", "P"],
            "store_id": pd.array(["S1", None, "S1", None], "string"),
            "units": [3, 1, 4, 100],  # the last is older than 26 weeks
        }
    )
    shares = location_shares(sales, AS_OF).sort_values("share")
    assert shares["share"].tolist() == pytest.approx([0.125, 0.875])


def test_missing_inventory_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"inventory: missing column\(s\) \['counted_at'\]"):
        latest_counts(pd.DataFrame({"product_id": [], "store_id": [], "on_hand_units": []}), CUTOFF)

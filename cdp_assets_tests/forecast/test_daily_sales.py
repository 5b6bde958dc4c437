"""The daily sales SQL on the warehouse: local days, point in time, category allocation."""

import datetime as dt

import pandas as pd
import pytest

from cdp_assets.forecast.daily_sales import ORDER_ITEMS, ORDERS, load_daily_sales
from cdp_assets.warehouse import Warehouse


def _orders() -> pd.DataFrame:
    rows = [
        # order, ordered_at (UTC), channel, store, net, purchase
        ("o1", "2026-03-02 15:00", "web", None, 100.0, True),
        # 03:00 UTC on the 3rd is still the 2nd in New York
        ("o2", "2026-03-03 03:00", "web", None, 60.0, True),
        ("o3", "2026-03-03 15:00", "store", "s1", 40.0, True),
        ("o4", "2026-03-03 16:00", "web", None, 0.0, False),  # cancelled: not a sale
        ("o5", "2026-03-05 12:00", "web", None, 10.0, True),  # after the analysis date
        ("o6", "2026-03-03 17:00", "web", None, 30.0, True),  # no lines
    ]
    frame = pd.DataFrame(
        rows, columns=["order_id", "ordered_at", "channel", "store_id", "net", "is_purchase"]
    )
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"]).dt.tz_localize("UTC")
    frame["net_amount_base"] = frame.pop("net")
    frame["customer_id"] = "c1"
    return frame


def _items() -> pd.DataFrame:
    rows = [
        ("o1", "Apparel", 1, 30.0),  # value 30 of 80: 3/8 of the order
        ("o1", "Beauty", 2, 25.0),  # value 50 of 80: 5/8
        ("o2", "Apparel", 3, 10.0),
        ("o3", "Toys", 1, 40.0),
        ("o4", "Toys", 1, 5.0),
        ("o5", "Toys", 1, 10.0),
    ]
    return pd.DataFrame(rows, columns=["order_id", "category", "quantity", "unit_price_base"])


@pytest.fixture
def warehouse(warehouse_url: str) -> Warehouse:
    warehouse = Warehouse(warehouse_url)
    with warehouse.transaction() as session:
        session.replace_table(ORDERS, _orders())
        session.replace_table(ORDER_ITEMS, _items())
    return warehouse


def test_daily_sales_by_local_day_with_categories_allocated(warehouse: Warehouse) -> None:
    with warehouse.transaction() as session:
        daily = load_daily_sales(session, dt.date(2026, 3, 4), "America/New_York", True)
    got = {
        (str(r.day.date()), r.channel, r.category): (r.net_revenue, r.orders, r.units)
        for r in daily.itertuples()
    }
    assert got == {
        ("2026-03-02", "web", "Apparel"): (
            pytest.approx(100 * 3 / 8 + 60),
            pytest.approx(1 + 3 / 8),
            4,
        ),
        ("2026-03-02", "web", "Beauty"): (pytest.approx(100 * 5 / 8), pytest.approx(5 / 8), 2),
        ("2026-03-03", "store", "Toys"): (40, 1, 1),
        ("2026-03-03", "web", "unknown"): (30, 1, 0),
    }
    assert daily.loc[daily["channel"] == "store", "store"].tolist() == ["s1"]
    # Members add up to the total: every sold order counted once, all its revenue kept.
    assert daily["orders"].sum() == pytest.approx(4)
    assert daily["net_revenue"].sum() == pytest.approx(230)


def test_orders_only_has_no_category_and_no_units(warehouse: Warehouse) -> None:
    with warehouse.transaction() as session:
        daily = load_daily_sales(session, dt.date(2026, 3, 2), "UTC", False)
    assert daily["category"].isna().all() and daily["units"].isna().all()
    assert daily["orders"].sum() == 1 and daily["net_revenue"].sum() == 100

"""The daily sales every forecast starts from, computed in the warehouse (DuckDB or
PostgreSQL) from `core.orders` and `core.order_items`.

Days are local calendar days in the configured time zone, and only days up to the analysis
date count: a forecast as of a past day reads what was known by the end of that day. An
order's net revenue and its count of one are allocated to its categories by the share of
line value (quantity x unit price) in each, so a level's members add up to the total; an
order without lines, or whose lines carry no value, is shared by line count or kept whole
under the category 'unknown'.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from cdp_assets.forecast.periods import DAILY_SALES_COLUMNS
from cdp_assets.warehouse import TableRef, WarehouseSession

ORDERS = TableRef("core", "orders")
ORDER_ITEMS = TableRef("core", "order_items")
UNKNOWN = "unknown"
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]+$")


def _local_day(column: str, timezone: str) -> str:
    if not _TIMEZONE.match(timezone):
        raise ValueError(f"timezone: {timezone!r} is not a time zone name")
    return f"CAST(({column} AT TIME ZONE '{timezone}') AS DATE)"


# Sums of amounts in exact decimals: a floating-point SUM depends on the order the engine adds
# rows in, which varies between runs (DuckDB aggregates in parallel), and the backtest's cache
# needs the same weeks to give the same bits every night. Each value is rounded to 1e-9 first.
EXACT = "DECIMAL(38, 9)"


def _exact_sum(expression: str) -> str:
    return f"CAST(SUM(CAST({expression} AS {EXACT})) AS DOUBLE PRECISION)"


def _orders_cte(as_of: dt.date, timezone: str) -> str:
    day = _local_day("ordered_at", timezone)
    return (
        f"o AS (SELECT order_id, {day} AS day, COALESCE(channel, '{UNKNOWN}') AS channel, "
        "store_id, CAST(COALESCE(net_amount_base, 0) AS DOUBLE PRECISION) AS net "
        f"FROM {ORDERS.sql} WHERE is_purchase AND ordered_at IS NOT NULL "
        f"AND {day} <= CAST('{as_of.isoformat()}' AS DATE))"
    )


def daily_sales_sql(as_of: dt.date, timezone: str, with_items: bool) -> str:
    """SELECT of the daily sales (DAILY_SALES_COLUMNS) up to `as_of`; without order items
    the category is null and units are null."""
    if not with_items:
        return (
            f"WITH {_orders_cte(as_of, timezone)} "
            "SELECT day, channel, store_id AS store, CAST(NULL AS VARCHAR) AS category, "
            f"{_exact_sum('net')} AS net_revenue, CAST(COUNT(*) AS DOUBLE PRECISION) AS orders, "
            "CAST(NULL AS DOUBLE PRECISION) AS units "
            "FROM o GROUP BY day, channel, store_id"
        )
    return f"""WITH {_orders_cte(as_of, timezone)},
lines AS (
    SELECT i.order_id, COALESCE(i.category, '{UNKNOWN}') AS category,
        CAST(COALESCE(i.quantity, 0) AS DOUBLE PRECISION) AS quantity,
        CAST(COALESCE(i.quantity * i.unit_price_base, 0) AS {EXACT}) AS value
    FROM {ORDER_ITEMS.sql} i JOIN (SELECT DISTINCT order_id FROM o) k ON k.order_id = i.order_id
),
by_category AS (
    SELECT order_id, category, SUM(quantity) AS units, SUM(value) AS value,
        CAST(COUNT(*) AS DOUBLE PRECISION) AS n_lines
    FROM lines GROUP BY order_id, category
),
by_order AS (
    SELECT order_id, SUM(value) AS value, SUM(n_lines) AS n_lines,
        MIN(value) AS min_value
    FROM by_category GROUP BY order_id
),
shares AS (
    SELECT c.order_id, c.category, c.units,
        CASE WHEN t.value > 0 AND t.min_value >= 0 THEN c.value / t.value
            ELSE c.n_lines / t.n_lines END AS share
    FROM by_category c JOIN by_order t ON t.order_id = c.order_id
)
SELECT o.day, o.channel, o.store_id AS store, COALESCE(s.category, '{UNKNOWN}') AS category,
    {_exact_sum("o.net * COALESCE(s.share, 1.0)")} AS net_revenue,
    {_exact_sum("COALESCE(s.share, 1.0)")} AS orders,
    SUM(COALESCE(s.units, 0.0)) AS units
FROM o LEFT JOIN shares s ON s.order_id = o.order_id
GROUP BY o.day, o.channel, o.store_id, COALESCE(s.category, '{UNKNOWN}')"""


def load_daily_sales(
    session: WarehouseSession, as_of: dt.date, timezone: str, with_items: bool
) -> pd.DataFrame:
    """The daily sales up to `as_of` (DAILY_SALES_COLUMNS), sorted by day."""
    frame = session.query(daily_sales_sql(as_of, timezone, with_items))
    return tidy_daily_sales(frame)


def tidy_daily_sales(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in the contract's order and types: day as datetime64 (no time zone)."""
    missing = [c for c in DAILY_SALES_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"daily sales: missing columns {missing}")
    out = frame.loc[:, list(DAILY_SALES_COLUMNS)].copy()
    out["day"] = pd.to_datetime(out["day"]).astype("datetime64[us]")
    for column in ("channel", "store", "category"):
        out[column] = out[column].astype("string")
    for column in ("net_revenue", "orders", "units"):
        out[column] = pd.to_numeric(out[column]).astype("float64")
    return out.sort_values(["day", "channel", "store", "category"]).reset_index(drop=True)

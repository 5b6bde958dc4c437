"""Headline figures of the last `days` days against the `days` before them.

A period is the `days` days ending with the analysis day (UTC). Its figures, from purchases
(completed and partially refunded orders, net of refunds, base currency) before the period's
end only, so the previous period is computed exactly as the report of that day would have:

    customers    profiles that existed by the period's end
    active       customers with a purchase in the period
    new          active customers whose first purchase is in the period
    revenue      net revenue of the period's purchases
    repeat rate  share of active customers who had bought before the period (returning)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from cdp_assets.analytics.features import AsOf, core_input_sql, known_by
from cdp_assets.reporting.insights import page
from cdp_assets.reporting.insights.formatting import (
    count,
    money,
    percent,
    point_change,
    relative_change,
    signed_percent,
)
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import WarehouseSession

NAME, TITLE = "headline", "Headline figures"


@dataclass(frozen=True)
class PeriodFigures:
    customers: int
    active: int
    new: int
    returning: int
    orders: int
    revenue: float

    @property
    def repeat_rate(self) -> float | None:
        return self.returning / self.active if self.active else None


def period_sql(as_of: dt.date, days: int, tables: Collection[str]) -> str:
    """One row: customers, active, new, returning, orders, revenue of the `days` days ending
    with `as_of`."""
    at = AsOf(as_of)
    end, start = at.instant(), at.instant(days_before_cutoff=days)
    return f"""WITH
src_orders AS ({core_input_sql("orders", tables)}),
src_profiles AS ({core_input_sql("customer_profiles", tables)}),
purchases AS (
    SELECT customer_id, ordered_at, COALESCE(net_amount_base, 0) AS net
    FROM src_orders WHERE is_purchase AND ordered_at < {end}
),
firsts AS (
    SELECT customer_id, MIN(ordered_at) AS first_at FROM purchases
    WHERE customer_id IS NOT NULL GROUP BY customer_id
),
in_period AS (
    SELECT p.customer_id, p.net, f.first_at FROM purchases p
    LEFT JOIN firsts f ON f.customer_id = p.customer_id
    WHERE p.ordered_at >= {start}
)
SELECT
    (SELECT COUNT(*) FROM src_profiles p WHERE {known_by(at, "p")}) AS customers,
    COUNT(DISTINCT customer_id) AS active,
    COUNT(DISTINCT CASE WHEN first_at >= {start} THEN customer_id END) AS new_customers,
    COUNT(DISTINCT CASE WHEN first_at < {start} THEN customer_id END) AS returning_customers,
    COUNT(*) AS orders,
    CAST(COALESCE(SUM(net), 0) AS DOUBLE PRECISION) AS revenue
FROM in_period"""


def period_figures(
    session: WarehouseSession, as_of: dt.date, days: int, tables: Collection[str]
) -> PeriodFigures:
    row = session.query(period_sql(as_of, days, tables)).iloc[0]
    return PeriodFigures(
        customers=int(row["customers"]),
        active=int(row["active"]),
        new=int(row["new_customers"]),
        returning=int(row["returning_customers"]),
        orders=int(row["orders"]),
        revenue=float(row["revenue"]),
    )


def headline_section(
    now: PeriodFigures, before: PeriodFigures, days: int, currency: str
) -> Section:
    if now.customers == 0 and now.orders == 0 and before.orders == 0:
        return missing(NAME, TITLE, "No customers or purchases yet: there is nothing to count.")
    vs = f"vs previous {days} days"

    def change(a: float, b: float) -> str:
        return f"{signed_percent(relative_change(a, b))} {vs}"

    items = [
        ("Customers", count(now.customers), change(now.customers, before.customers)),
        (f"Active (bought in {days} days)", count(now.active), change(now.active, before.active)),
        ("New (first purchase)", count(now.new), change(now.new, before.new)),
        ("Revenue (net)", money(now.revenue, currency), change(now.revenue, before.revenue)),
        (
            "Repeat rate",
            percent(now.repeat_rate),
            f"{point_change(now.repeat_rate, before.repeat_rate)} {vs}",
        ),
    ]
    rows = [
        ("Customers (profiles)", count(now.customers), count(before.customers)),
        ("Active customers", count(now.active), count(before.active)),
        ("New customers", count(now.new), count(before.new)),
        ("Orders", count(now.orders), count(before.orders)),
        ("Revenue (net)", money(now.revenue, currency), money(before.revenue, currency)),
        ("Repeat rate", percent(now.repeat_rate), percent(before.repeat_rate)),
    ]
    body = page.cards(items) + page.table(
        ("figure", f"last {days} days", f"the {days} days before"), rows
    )
    return Section(
        NAME,
        TITLE,
        "rendered",
        f"The last {days} days against the {days} days before: how many customers we have, "
        "how many bought, how many were new, what they spent and the share who came back.",
        body,
        {
            "customers": now.customers,
            "active_customers": now.active,
            "new_customers": now.new,
            "revenue": round(now.revenue, 2),
            **({"repeat_rate": round(now.repeat_rate, 4)} if now.repeat_rate is not None else {}),
        },
    )


def build(
    session: WarehouseSession, as_of: dt.date, days: int, currency: str, tables: Collection[str]
) -> Section:
    if "orders" not in tables and "customer_profiles" not in tables:
        return missing(NAME, TITLE, "No core.orders or core.customer_profiles table yet.")
    now = period_figures(session, as_of, days, tables)
    before = period_figures(session, as_of - dt.timedelta(days=days), days, tables)
    return headline_section(now, before, days, currency)

"""Small hand-built `core` tables in a warehouse, for the analytics tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from cdp_assets.identity.facts import PURCHASE_STATUSES
from cdp_assets.warehouse import TableRef, Warehouse

# The columns (and dtypes) of the core tables, as the identity layer publishes them.
CORE_DTYPES: dict[str, dict[str, str]] = {
    "customer_profiles": {
        "customer_id": "string",
        "loyalty_id": "string",
        "loyalty_tier": "string",
        "loyalty_points": "Int64",
        "email_consent": "boolean",
        "sms_consent": "boolean",
        "ads_consent": "boolean",
        "country": "string",
        "first_seen": "datetime64[us, UTC]",
    },
    "orders": {
        "customer_id": "string",
        "source": "string",
        "order_id": "string",
        "ordered_at": "datetime64[us, UTC]",
        "channel": "string",
        "store_id": "string",
        "status": "string",
        "currency": "string",
        "amount": "float64",
        "amount_base": "float64",
        "net_amount_base": "float64",
        "is_purchase": "boolean",
    },
    "order_items": {
        "customer_id": "string",
        "source": "string",
        "order_source": "string",
        "order_id": "string",
        "product_id": "string",
        "product_name": "string",
        "category": "string",
        "quantity": "Int64",
        "unit_price": "float64",
        "unit_price_base": "float64",
        "ordered_at": "datetime64[us, UTC]",
        "status": "string",
    },
    "events": {
        "customer_id": "string",
        "source": "string",
        "event_id": "string",
        "anonymous_id": "string",
        "event_type": "string",
        "occurred_at": "datetime64[us, UTC]",
        "product_id": "string",
        "session_id": "string",
    },
    "survey_responses": {
        "customer_id": "string",
        "source": "string",
        "response_id": "string",
        "submitted_at": "datetime64[us, UTC]",
        "nps": "Int64",
        "csat": "Int64",
        "comment": "string",
    },
    "support_tickets": {
        "customer_id": "string",
        "source": "string",
        "ticket_id": "string",
        "opened_at": "datetime64[us, UTC]",
        "resolved_at": "datetime64[us, UTC]",
        "category": "string",
        "channel": "string",
        "status": "string",
    },
}


def ts(text: str | None) -> pd.Timestamp | None:
    """A UTC instant from 'YYYY-MM-DD HH:MM' (None stays None)."""
    return None if text is None else pd.Timestamp(text, tz="UTC")


def frame(table: str, rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows (dicts of some columns) as a frame of the core table's columns and dtypes."""
    dtypes = CORE_DTYPES[table]
    df = pd.DataFrame(list(rows), columns=list(dtypes))
    for column, dtype in dtypes.items():
        if dtype.startswith("datetime64"):
            df[column] = pd.to_datetime(df[column], utc=True)
    return df.astype(dtypes)


def profiles(*customers: str | dict[str, Any]) -> pd.DataFrame:
    """Profiles from ids or dicts; consent False, ads consent True, country US by default."""
    rows = []
    for customer in customers:
        row = {"customer_id": customer} if isinstance(customer, str) else dict(customer)
        row.setdefault("email_consent", False)
        row.setdefault("sms_consent", False)
        row.setdefault("ads_consent", True)
        row.setdefault("country", "US")
        rows.append(row)
    return frame("customer_profiles", rows)


def orders(rows: Sequence[tuple]) -> pd.DataFrame:
    """(customer_id, order_id, ordered_at, amount_base[, status[, channel]]) tuples as
    core.orders, with net_amount_base and is_purchase derived as the identity layer does."""
    records = []
    for row in rows:
        customer, order_id, at, amount = row[:4]
        status = row[4] if len(row) > 4 else "completed"
        channel = row[5] if len(row) > 5 else "web"
        purchase = status is None or status in PURCHASE_STATUSES
        records.append(
            {
                "customer_id": customer,
                "source": "shop",
                "order_id": order_id,
                "ordered_at": ts(at),
                "channel": channel,
                "status": status,
                "currency": "USD",
                "amount": amount,
                "amount_base": amount,
                "net_amount_base": amount if purchase else 0.0,
                "is_purchase": purchase,
            }
        )
    return frame("orders", records)


def items(order_rows: pd.DataFrame, rows: Sequence[tuple]) -> pd.DataFrame:
    """(order_id, category, quantity) tuples as core.order_items of the given orders."""
    by_id = order_rows.set_index("order_id")
    records = []
    for order_id, category, quantity in rows:
        order = by_id.loc[order_id]
        records.append(
            {
                "customer_id": order["customer_id"],
                "source": "items",
                "order_source": "shop",
                "order_id": order_id,
                "category": category,
                "quantity": quantity,
                "ordered_at": order["ordered_at"],
                "status": order["status"],
            }
        )
    return frame("order_items", records)


def events(rows: Sequence[tuple]) -> pd.DataFrame:
    """(customer_id, session_id, event_type, occurred_at) tuples as core.events."""
    return frame(
        "events",
        (
            {
                "customer_id": c,
                "source": "web",
                "event_id": f"E{i}",
                "session_id": s,
                "event_type": e,
                "occurred_at": ts(at),
            }
            for i, (c, s, e, at) in enumerate(rows)
        ),
    )


def tickets(rows: Sequence[tuple]) -> pd.DataFrame:
    """(customer_id, opened_at, resolved_at) tuples as core.support_tickets."""
    return frame(
        "support_tickets",
        (
            {
                "customer_id": c,
                "source": "desk",
                "ticket_id": f"T{i}",
                "opened_at": ts(opened),
                "resolved_at": ts(resolved),
                "category": "delivery",
                "channel": "email",
                "status": "open" if resolved is None else "resolved",
            }
            for i, (c, opened, resolved) in enumerate(rows)
        ),
    )


def surveys(rows: Sequence[tuple]) -> pd.DataFrame:
    """(customer_id, submitted_at, nps, csat) tuples as core.survey_responses."""
    return frame(
        "survey_responses",
        (
            {
                "customer_id": c,
                "source": "survey",
                "response_id": f"R{i}",
                "submitted_at": ts(at),
                "nps": nps,
                "csat": csat,
            }
            for i, (c, at, nps, csat) in enumerate(rows)
        ),
    )


def write_core(url: str, **tables: pd.DataFrame) -> Warehouse:
    """A warehouse at `url` holding the given core tables (keyword = table name)."""
    warehouse = Warehouse(url)
    with warehouse.transaction() as session:
        for name, df in tables.items():
            session.replace_table(TableRef("core", name), df)
    return warehouse

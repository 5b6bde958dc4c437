"""Resolved facts: SQL that gives every staged fact row its customer id inside the warehouse.

Fact tables are the big ones (tens of millions of web events), so the join of each row to its
identity happens in SQL against `core.fact_identities` (one row per distinct identity
combination, see `identity.nodes`), on DuckDB and PostgreSQL alike. Combination columns are
compared with COALESCE(.., '') so that NULLs match NULLs and the join stays a hash join.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.canonical import field_names
from cdp_assets.identity.nodes import FACT_KEY_COLUMNS
from cdp_assets.warehouse import TableRef
from cdp_assets.warehouse.warehouse import quote_ident

FACT_IDENTITIES = TableRef("core", "fact_identities")
IDENTITY_KINDS: tuple[str, ...] = (
    "orders",
    "events",
    "survey_responses",
    "support_tickets",
    "campaign_events",
)
# The kinds whose rows are something the customer did: first and last seen span them (a send
# of a campaign is the brand's doing).
ACTIVITY_KINDS: tuple[str, ...] = ("orders", "events", "survey_responses", "support_tickets")

# Per kind: the core table and the staged columns it keeps (no email or phone: those live in
# the profile, so facts carry no contact data of their own).
FACT_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "orders": (
        "orders",
        (
            "order_id",
            "ordered_at",
            "channel",
            "store_id",
            "status",
            "currency",
            "amount",
            "amount_base",
            "coupon_code",
        ),
    ),
    "events": (
        "events",
        (
            "event_id",
            "anonymous_id",
            "event_type",
            "occurred_at",
            "product_id",
            "session_id",
            "url",
            "utm_source",
            "utm_medium",
            "utm_campaign",
        ),
    ),
    "survey_responses": (
        "survey_responses",
        ("response_id", "submitted_at", "nps", "csat", "purchase_for", "comment"),
    ),
    "support_tickets": (
        "support_tickets",
        ("ticket_id", "opened_at", "resolved_at", "category", "channel", "status"),
    ),
    "campaign_events": (
        "campaign_events",
        ("event_id", "campaign_id", "event_type", "occurred_at"),
    ),
}
FACT_TIME: dict[str, str] = {
    "orders": "ordered_at",
    "events": "occurred_at",
    "survey_responses": "submitted_at",
    "support_tickets": "opened_at",
    "campaign_events": "occurred_at",
}
# Statuses whose money the brand keeps; cancelled and fully refunded orders count nothing.
PURCHASE_STATUSES: tuple[str, ...] = ("completed", "partially_refunded")


def _key_expr(kind: str, column: str, alias: str) -> str:
    if column in field_names(kind) or column == "email_key":
        return f"COALESCE({alias}.{quote_ident(column)}, '')"
    return "''"


def combos_sql(kind: str, source: str) -> str:
    """Distinct identity combinations of one staged fact source."""
    ref = TableRef("staging", source)
    columns = ", ".join(
        f"{quote_ident(c)}"
        if c in field_names(kind) or c == "email_key"
        else f"CAST(NULL AS VARCHAR) AS {quote_ident(c)}"
        for c in FACT_KEY_COLUMNS
    )
    return f"SELECT DISTINCT '{source}' AS source, {columns} FROM {ref.sql}"


def density_sql(kind: str, source: str) -> str | None:
    """Max fact rows per day per identifier value, for orders (where tills type placeholders)."""
    if kind != "orders":
        return None
    ref = TableRef("staging", source)
    day = f"CAST({quote_ident(FACT_TIME[kind])} AS DATE)"
    parts = [
        f"SELECT '{c}' AS type, {quote_ident(c)} AS value, {day} AS day FROM {ref.sql} "
        f"WHERE {quote_ident(c)} IS NOT NULL"
        for c in ("email_key", "phone", "loyalty_id")
    ]
    union = " UNION ALL ".join(parts)
    return (
        "SELECT type, value, MAX(n) AS max_rows_per_day FROM "
        f"(SELECT type, value, day, COUNT(*) AS n FROM ({union}) r GROUP BY type, value, day) d "
        "GROUP BY type, value"
    )


def _select_source(kind: str, source: str, columns: tuple[str, ...]) -> str:
    ref = TableRef("staging", source)
    join = " AND ".join(
        f"{_key_expr(kind, c, 's')} = COALESCE(m.{quote_ident(c)}, '')" for c in FACT_KEY_COLUMNS
    )
    selected = ", ".join(f"s.{quote_ident(c)}" for c in columns)
    return (
        f"SELECT m.customer_id, '{source}' AS source, {selected} FROM {ref.sql} s "
        f"LEFT JOIN {FACT_IDENTITIES.sql} m ON m.source = '{source}' AND {join}"
    )


def resolved_fact_sql(kind: str, config: CDPConfig) -> str | None:
    """SELECT of the unified core table of `kind` over every staged source of it."""
    sources = [s.name for s in config.sources_of_kind(kind)]
    if not sources:
        return None
    _, columns = FACT_COLUMNS[kind]
    union = " UNION ALL ".join(_select_source(kind, s, columns) for s in sources)
    if kind != "orders":
        return f"SELECT * FROM ({union}) f"
    statuses = ", ".join(f"'{s}'" for s in PURCHASE_STATUSES)
    return (
        "SELECT f.*, CASE WHEN f.status IS NULL OR f.status IN ("
        f"{statuses}) THEN f.amount_base ELSE 0 END AS net_amount_base, "
        f"(f.status IS NULL OR f.status IN ({statuses})) AS is_purchase "
        f"FROM ({union}) f"
    )


def order_items_sql(config: CDPConfig) -> str | None:
    """Items of every order_items source joined to core.orders by order id, with prices in the
    base currency at their order's rate."""
    sources = [s.name for s in config.sources_of_kind("order_items")]
    if not sources or not config.sources_of_kind("orders"):
        return None
    union = " UNION ALL ".join(
        f"SELECT '{s}' AS source, order_id, product_id, product_name, category, quantity, "
        f"unit_price FROM {TableRef('staging', s).sql}"
        for s in sources
    )
    return (
        "SELECT o.customer_id, i.source, o.source AS order_source, i.order_id, i.product_id, "
        "i.product_name, i.category, i.quantity, i.unit_price, "
        "CASE WHEN o.amount IS NULL OR o.amount = 0 THEN NULL "
        "ELSE i.unit_price * o.amount_base / o.amount END AS unit_price_base, "
        "o.ordered_at, o.status "
        f"FROM ({union}) i LEFT JOIN core.orders o ON o.order_id = i.order_id"
    )


def activity_sql(kinds: Iterable[str]) -> str | None:
    """SQL for customer_id, first_at, last_at over the core fact tables of `kinds` (their
    earliest and latest event time per resolved customer); None without a fact kind."""
    parts = [
        f"SELECT customer_id, MIN({FACT_TIME[kind]}) AS first_at, "
        f"MAX({FACT_TIME[kind]}) AS last_at FROM core.{table} "
        "WHERE customer_id IS NOT NULL GROUP BY customer_id"
        for kind, (table, _) in FACT_COLUMNS.items()
        if kind in set(kinds) and kind in ACTIVITY_KINDS
    ]
    if not parts:
        return None
    union = " UNION ALL ".join(parts)
    return (
        "SELECT customer_id, MIN(first_at) AS first_at, MAX(last_at) AS last_at "
        f"FROM ({union}) a GROUP BY customer_id"
    )

"""`analytics.customer_features`: one row per customer, computed in the warehouse as of a date.

The whole computation is one SQL SELECT (CTEs, `COUNT(*) FILTER`, window functions) that
runs unchanged on DuckDB and PostgreSQL, so the heavy joins and aggregations over orders,
items, events, tickets and surveys never leave the warehouse. Only facts strictly before the
*cutoff* — UTC midnight after `as_of` — are read; the same SQL therefore gives the features
of any past date. Time differences are taken on epoch seconds (`EXTRACT(EPOCH FROM ..)`),
which makes them independent of the session time zone on both engines.

Every `core` table except the profiles is optional (an orders-only configuration has no
events, tickets or surveys): a table that is absent is replaced by an empty, typed CTE.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from cdp_assets.analytics.support import RESOLVED_STATUSES
from cdp_assets.contracts.features import FEATURE_COLUMNS, FEATURE_DTYPES
from cdp_assets.identity.facts import PURCHASE_STATUSES
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame

# The columns each analytics query reads from its `core` tables, with the SQL type an
# empty stand-in gives them when the table does not exist.
CORE_INPUTS: dict[str, dict[str, str]] = {
    "customer_profiles": {
        "customer_id": "VARCHAR",
        "loyalty_id": "VARCHAR",
        "loyalty_tier": "VARCHAR",
        "loyalty_points": "BIGINT",
        "email_consent": "BOOLEAN",
        "sms_consent": "BOOLEAN",
        "ads_consent": "BOOLEAN",
        "country": "VARCHAR",
        "first_seen": "TIMESTAMP WITH TIME ZONE",
    },
    "orders": {
        "customer_id": "VARCHAR",
        "ordered_at": "TIMESTAMP WITH TIME ZONE",
        "channel": "VARCHAR",
        "status": "VARCHAR",
        "net_amount_base": "DOUBLE PRECISION",
        "is_purchase": "BOOLEAN",
    },
    "order_items": {
        "customer_id": "VARCHAR",
        "category": "VARCHAR",
        "quantity": "BIGINT",
        "ordered_at": "TIMESTAMP WITH TIME ZONE",
        "status": "VARCHAR",
    },
    "events": {
        "customer_id": "VARCHAR",
        "event_type": "VARCHAR",
        "occurred_at": "TIMESTAMP WITH TIME ZONE",
        "session_id": "VARCHAR",
    },
    "survey_responses": {
        "customer_id": "VARCHAR",
        "response_id": "VARCHAR",
        "submitted_at": "TIMESTAMP WITH TIME ZONE",
        "nps": "BIGINT",
        "csat": "BIGINT",
    },
    "support_tickets": {
        "customer_id": "VARCHAR",
        "opened_at": "TIMESTAMP WITH TIME ZONE",
        "resolved_at": "TIMESTAMP WITH TIME ZONE",
        "status": "VARCHAR",
    },
}
CANCELLED_STATUSES: tuple[str, ...] = ("cancelled", "refunded")
COUNT_COLUMNS: tuple[str, ...] = tuple(
    name for name, (dtype, _) in FEATURE_COLUMNS.items() if dtype == "int64"
)
# Sessions last minutes, not days: events this long before the 90-day window are still read,
# so that a purchase early in a session that straddles the window start is seen.
_SESSION_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True)
class AsOf:
    """The analysis date and the instants derived from it, as SQL literals."""

    date: dt.date

    @property
    def cutoff(self) -> dt.datetime:
        """UTC midnight after `date`: facts at or after it are ignored."""
        return dt.datetime.combine(self.date + dt.timedelta(days=1), dt.time(), dt.UTC)

    @property
    def cutoff_epoch(self) -> int:
        return int(self.cutoff.timestamp())

    def instant(self, days_before_cutoff: float = 0, extra: dt.timedelta | None = None) -> str:
        """A TIMESTAMPTZ literal `days_before_cutoff` days (plus `extra`) before the cutoff."""
        moment = self.cutoff - dt.timedelta(days=days_before_cutoff) - (extra or dt.timedelta())
        return f"CAST('{moment.isoformat()}' AS TIMESTAMP WITH TIME ZONE)"

    @property
    def date_literal(self) -> str:
        return f"CAST('{self.date.isoformat()}' AS TIMESTAMP)"


def existing_core_tables(session: WarehouseSession) -> frozenset[str]:
    """The names of the `core` tables analytics reads that exist in the warehouse."""
    return frozenset(name for name in CORE_INPUTS if session.table_exists(TableRef("core", name)))


def core_input_sql(table: str, tables: Collection[str] | None) -> str:
    """SELECT of the columns analytics reads from `core.<table>`, or an empty typed stand-in
    when `table` is not among the existing `tables` (None: all exist)."""
    columns = CORE_INPUTS[table]
    if tables is None or table in tables:
        return f"SELECT {', '.join(columns)} FROM {TableRef('core', table).sql}"
    typed = ", ".join(f"CAST(NULL AS {sql_type}) AS {name}" for name, sql_type in columns.items())
    return f"SELECT {typed} WHERE 1 = 0"


def _statuses(statuses: tuple[str, ...]) -> str:
    return ", ".join(f"'{s}'" for s in statuses)


def _epoch(expr: str) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {expr}) AS DOUBLE PRECISION)"


def _order_ctes(at: AsOf) -> str:
    cutoff = at.instant()
    return f"""
order_facts AS (
    SELECT customer_id, ordered_at, channel, status, net_amount_base, is_purchase
    FROM src_orders WHERE customer_id IS NOT NULL AND ordered_at < {cutoff}
),
order_stats AS (
    SELECT customer_id,
        MIN(ordered_at) FILTER (WHERE is_purchase) AS first_order_at,
        MAX(ordered_at) FILTER (WHERE is_purchase) AS last_order_at,
        COUNT(*) FILTER (WHERE is_purchase) AS frequency,
        SUM(net_amount_base) FILTER (WHERE is_purchase) AS monetary,
        COUNT(*) FILTER (WHERE status IN ({_statuses(CANCELLED_STATUSES)})) AS cancelled_orders,
        COUNT(*) FILTER (WHERE is_purchase AND channel = 'web') AS web_orders,
        COUNT(*) FILTER (WHERE is_purchase AND channel = 'app') AS app_orders,
        COUNT(*) FILTER (WHERE is_purchase AND channel = 'store') AS store_orders
    FROM order_facts GROUP BY customer_id
),
order_gaps AS (
    SELECT customer_id, STDDEV_SAMP(gap_days) AS std_days_between_orders
    FROM (
        SELECT customer_id,
            ({_epoch("ordered_at")} - {_epoch("LAG(ordered_at) OVER w")}) / 86400.0 AS gap_days
        FROM order_facts WHERE is_purchase
        WINDOW w AS (PARTITION BY customer_id ORDER BY ordered_at)
    ) g
    GROUP BY customer_id
),
category_units AS (
    SELECT customer_id, category, SUM(COALESCE(quantity, 1)) AS units
    FROM src_order_items
    WHERE customer_id IS NOT NULL AND category IS NOT NULL AND ordered_at < {cutoff}
        AND (status IS NULL OR status IN ({_statuses(PURCHASE_STATUSES)}))
    GROUP BY customer_id, category
),
category_stats AS (
    SELECT customer_id,
        COUNT(*) AS category_count,
        SUM(units) AS total_units,
        MIN(CASE WHEN rank_by_units = 1 THEN category END) AS top_category,
        MAX(CASE WHEN rank_by_units = 1 THEN units END) AS top_units
    FROM (
        SELECT customer_id, category, units,
            ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY units DESC, category) AS rank_by_units
        FROM category_units
    ) c
    GROUP BY customer_id
)"""


def _web_ctes(at: AsOf) -> str:
    since_30, since_90 = at.instant(30), at.instant(90)
    return f"""
session_stats AS (
    SELECT customer_id, session_id,
        MAX(occurred_at) AS last_event_at,
        COUNT(*) FILTER (WHERE event_type = 'product_view' AND occurred_at >= {since_30}) AS views_30,
        COUNT(*) FILTER (WHERE event_type = 'product_view' AND occurred_at >= {since_90}) AS views_90,
        COUNT(*) FILTER (WHERE event_type = 'add_to_cart' AND occurred_at >= {since_30}) AS adds_30,
        COUNT(*) FILTER (WHERE event_type = 'add_to_cart' AND occurred_at >= {since_90}) AS adds_90,
        MAX(occurred_at) FILTER (WHERE event_type = 'add_to_cart') AS last_add_at,
        COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchase_events
    FROM src_events
    WHERE customer_id IS NOT NULL AND occurred_at < {at.instant()}
        AND occurred_at >= {at.instant(90, _SESSION_MARGIN)}
    GROUP BY customer_id, session_id
),
abandoned AS (
    SELECT customer_id, last_add_at AS abandoned_at FROM session_stats
    WHERE session_id IS NOT NULL AND last_add_at >= {since_90} AND purchase_events = 0
),
web_stats AS (
    SELECT customer_id,
        COUNT(*) FILTER (WHERE session_id IS NOT NULL AND last_event_at >= {since_30}) AS sessions_30d,
        COUNT(*) FILTER (WHERE session_id IS NOT NULL AND last_event_at >= {since_90}) AS sessions_90d,
        SUM(views_30) AS product_views_30d,
        SUM(views_90) AS product_views_90d,
        SUM(adds_30) AS add_to_carts_30d,
        SUM(adds_90) AS add_to_carts_90d
    FROM session_stats GROUP BY customer_id
),
abandoned_stats AS (
    SELECT customer_id,
        COUNT(*) FILTER (WHERE abandoned_at >= {since_30}) AS abandoned_carts_30d,
        COUNT(*) AS abandoned_carts_90d,
        MAX(abandoned_at) AS last_abandoned_at
    FROM abandoned GROUP BY customer_id
)"""


def _service_ctes(at: AsOf, sla_hours: float) -> str:
    cutoff = at.instant()
    # A ticket is open until it is resolved or, if that is after the cutoff, until the cutoff.
    open_until = f"LEAST(COALESCE(resolved_at, {cutoff}), {cutoff})"
    # Closed without a resolution time (as support.ticket_outcomes counts it): resolved at an
    # unknown time, so neither open nor a breach.
    closed = ", ".join(f"'{s}'" for s in RESOLVED_STATUSES)
    unknown_time = f"(resolved_at IS NULL AND LOWER(status) IN ({closed}))"
    return f"""
ticket_stats AS (
    SELECT customer_id,
        COUNT(*) FILTER (WHERE opened_at >= {at.instant(90)}) AS tickets_90d,
        COUNT(*) AS tickets_total,
        COUNT(*) FILTER (
            WHERE (resolved_at IS NULL OR resolved_at >= {cutoff}) AND NOT {unknown_time}
        ) AS unresolved_tickets,
        COUNT(*) FILTER (
            WHERE NOT {unknown_time}
            AND {_epoch(open_until)} - {_epoch("opened_at")} > {float(sla_hours) * 3600.0}
        ) AS sla_breaches
    FROM src_support_tickets WHERE customer_id IS NOT NULL AND opened_at < {cutoff}
    GROUP BY customer_id
),
{_latest_answer("nps", cutoff)},
{_latest_answer("csat", cutoff)}"""


def _latest_answer(column: str, cutoff: str) -> str:
    return f"""latest_{column} AS (
    SELECT customer_id, {column} FROM (
        SELECT customer_id, {column}, ROW_NUMBER() OVER (
            PARTITION BY customer_id ORDER BY submitted_at DESC, response_id DESC) AS n
        FROM src_survey_responses
        WHERE customer_id IS NOT NULL AND submitted_at < {cutoff} AND {column} IS NOT NULL
    ) s WHERE n = 1
)"""


def known_by(at: AsOf, alias: str) -> str:
    """SQL condition: the profile `alias` existed by the cutoff. A customer whose every record
    and fact is later did not exist then, so no as-of output has them; an unknown first_seen
    (no dated record or fact) counts as known."""
    return f"({alias}.first_seen IS NULL OR {alias}.first_seen < {at.instant()})"


def _days_to_cutoff(at: AsOf, column: str) -> str:
    return f"CAST(FLOOR(({at.cutoff_epoch} - {_epoch(column)}) / 86400.0) AS BIGINT)"


def _whole_periods(days: str, period_days: int) -> str:
    return f"CAST(FLOOR(({days}) / {float(period_days)}) AS BIGINT)"


def _select(at: AsOf) -> str:
    double = "DOUBLE PRECISION"
    span_days = f"({_epoch('o.last_order_at')} - {_epoch('o.first_order_at')}) / 86400.0"
    return f"""
SELECT
    p.customer_id,
    {at.date_literal} AS as_of,
    o.first_order_at,
    o.last_order_at,
    {_days_to_cutoff(at, "o.last_order_at")} AS recency_days,
    {_whole_periods(_days_to_cutoff(at, "o.last_order_at"), 7)} AS recency_weeks,
    CAST(COALESCE(o.frequency, 0) AS BIGINT) AS frequency,
    CAST(COALESCE(o.monetary, 0) AS {double}) AS monetary,
    CAST(COALESCE(o.monetary, 0) / NULLIF(o.frequency, 0) AS {double}) AS average_order_value,
    {_days_to_cutoff(at, "o.first_order_at")} AS tenure_days,
    {_whole_periods(_days_to_cutoff(at, "o.first_order_at"), 30)} AS tenure_months,
    CAST(CASE WHEN o.frequency >= 2 THEN {span_days} / (o.frequency - 1) END AS {double})
        AS mean_days_between_orders,
    CAST(g.std_days_between_orders AS {double}) AS std_days_between_orders,
    CAST(COALESCE(o.cancelled_orders, 0) AS BIGINT) AS cancelled_orders,
    c.top_category,
    CAST(COALESCE(c.category_count, 0) AS BIGINT) AS category_count,
    CAST(CAST(c.top_units AS {double}) / NULLIF(CAST(c.total_units AS {double}), 0) AS {double})
        AS top_category_share,
    CAST(COALESCE(o.web_orders, 0) AS BIGINT) AS web_orders,
    CAST(COALESCE(o.app_orders, 0) AS BIGINT) AS app_orders,
    CAST(COALESCE(o.store_orders, 0) AS BIGINT) AS store_orders,
    CAST(CAST(o.store_orders AS {double}) / NULLIF(o.frequency, 0) AS {double}) AS store_share,
    CAST(COALESCE(w.sessions_30d, 0) AS BIGINT) AS sessions_30d,
    CAST(COALESCE(w.sessions_90d, 0) AS BIGINT) AS sessions_90d,
    CAST(COALESCE(w.product_views_30d, 0) AS BIGINT) AS product_views_30d,
    CAST(COALESCE(w.product_views_90d, 0) AS BIGINT) AS product_views_90d,
    CAST(COALESCE(w.add_to_carts_30d, 0) AS BIGINT) AS add_to_carts_30d,
    CAST(COALESCE(w.add_to_carts_90d, 0) AS BIGINT) AS add_to_carts_90d,
    CAST(COALESCE(a.abandoned_carts_30d, 0) AS BIGINT) AS abandoned_carts_30d,
    CAST(COALESCE(a.abandoned_carts_90d, 0) AS BIGINT) AS abandoned_carts_90d,
    CAST(({at.cutoff_epoch} - {_epoch("a.last_abandoned_at")}) / 3600.0 AS {double})
        AS hours_since_abandoned_cart,
    CAST(COALESCE(t.tickets_90d, 0) AS BIGINT) AS tickets_90d,
    CAST(COALESCE(t.tickets_total, 0) AS BIGINT) AS tickets_total,
    CAST(COALESCE(t.unresolved_tickets, 0) AS BIGINT) AS unresolved_tickets,
    CAST(COALESCE(t.sla_breaches, 0) AS BIGINT) AS sla_breaches,
    CAST(n.nps AS BIGINT) AS latest_nps,
    CAST(s.csat AS BIGINT) AS latest_csat,
    p.loyalty_tier,
    CAST(p.loyalty_points AS BIGINT) AS loyalty_points,
    p.loyalty_id IS NOT NULL AS is_loyalty_member,
    p.email_consent,
    p.sms_consent,
    p.ads_consent,
    p.country
FROM src_customer_profiles p
LEFT JOIN order_stats o ON o.customer_id = p.customer_id
LEFT JOIN order_gaps g ON g.customer_id = p.customer_id
LEFT JOIN category_stats c ON c.customer_id = p.customer_id
LEFT JOIN web_stats w ON w.customer_id = p.customer_id
LEFT JOIN abandoned_stats a ON a.customer_id = p.customer_id
LEFT JOIN ticket_stats t ON t.customer_id = p.customer_id
LEFT JOIN latest_nps n ON n.customer_id = p.customer_id
LEFT JOIN latest_csat s ON s.customer_id = p.customer_id
WHERE {known_by(at, "p")}
ORDER BY p.customer_id"""


def customer_features_sql(
    as_of: dt.date,
    dialect: str = "duckdb",
    sla_hours: float = 24.0,
    tables: Collection[str] | None = None,
) -> str:
    """One SELECT giving the FEATURE_COLUMNS of every customer in `core.customer_profiles`
    first seen by the end of `as_of` (UTC), as of then.

    `tables`: the `core` tables that exist (see `existing_core_tables`); the others are read
    as empty. None means all of them. `dialect` ("duckdb" or "postgresql") is accepted for
    symmetry with the warehouse: the SQL is the same on both.
    """
    if dialect not in ("duckdb", "postgresql"):
        raise ValueError(f"customer features: unsupported SQL dialect {dialect!r}")
    at = AsOf(as_of)
    sources = ",\n".join(
        f"src_{table} AS ({core_input_sql(table, tables)})" for table in CORE_INPUTS
    )
    ctes = ",".join((_order_ctes(at), _web_ctes(at), _service_ctes(at, sla_hours)))
    return f"WITH\n{sources},{ctes}{_select(at)}"


def type_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A query result shaped to FEATURE_DTYPES: contract order and dtypes, null counts as 0."""
    frame = frame.copy()
    for column in COUNT_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column]).fillna(0)
    return coerce_frame(frame, FEATURE_DTYPES).reset_index(drop=True)


def customer_features(
    session: WarehouseSession,
    as_of: dt.date,
    sla_hours: float = 24.0,
    tables: Collection[str] | None = None,
) -> pd.DataFrame:
    """The features of every customer as of `as_of`, typed as FEATURE_DTYPES.

    `tables` defaults to the `core` tables that exist in the warehouse.
    """
    if tables is None:
        tables = existing_core_tables(session)
    sql = customer_features_sql(as_of, session.dialect, sla_hours, tables)
    return type_features(session.query(sql))


def known_customers_sql(as_of: dt.date) -> str:
    """SELECT customer_id of the profiles that existed by the end of `as_of`."""
    profiles = TableRef("core", "customer_profiles").sql
    return f"SELECT p.customer_id FROM {profiles} p WHERE {known_by(AsOf(as_of), 'p')}"


def known_profiles(session: WarehouseSession, as_of: dt.date) -> int:
    """How many customer profiles existed by the end of `as_of`: the rows features must have."""
    sql = f"SELECT COUNT(*) AS n FROM ({known_customers_sql(as_of)}) known"
    return int(session.query(sql)["n"].iloc[0])

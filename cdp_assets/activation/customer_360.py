"""`activation.customer_360` in SQL: the golden profile joined to features, RFM, scores,
recommendations, audiences and consent, one row per customer (see `contract`).

Every input but the profiles is optional (an orders-only setup has no lead scores, a fresh
install no promoted model yet): a missing table gives null columns, not an error.
"""

from __future__ import annotations

import datetime as dt

from cdp_assets.analytics.features import AsOf, known_by
from cdp_assets.contracts.customer_360 import CUSTOMER_360_COLUMNS
from cdp_assets.warehouse.warehouse import sql_type

PROFILES = "core.customer_profiles"
FEATURES = "analytics.customer_features"
RFM = "analytics.rfm"
CHURN = "ml.churn_scores"
LTV = "ml.customer_ltv"
LEADS = "ml.lead_scores"
RECOMMENDATIONS = "ml.product_recommendations"
MEMBERSHIP = "activation.audience_membership"
TOP_RECOMMENDATIONS = 5

# contract column → (table it comes from, SQL expression over that table's alias)
_SOURCES: dict[str, tuple[str, str]] = {
    "first_name": (PROFILES, "p.first_name"),
    "last_name": (PROFILES, "p.last_name"),
    "email": (PROFILES, "p.email"),
    "phone": (PROFILES, "p.phone"),
    "city": (PROFILES, "p.city"),
    "region": (PROFILES, "p.region"),
    "postal_code": (PROFILES, "p.postal_code"),
    "country": (PROFILES, "p.country"),
    "loyalty_tier": (PROFILES, "p.loyalty_tier"),
    "loyalty_points": (PROFILES, "p.loyalty_points"),
    "first_seen": (PROFILES, "p.first_seen"),
    "last_seen": (PROFILES, "p.last_seen"),
    "source_count": (PROFILES, "p.source_count"),
    "email_consent": (PROFILES, "p.email_consent"),
    "sms_consent": (PROFILES, "p.sms_consent"),
    "ads_consent": (PROFILES, "p.ads_consent"),
    "first_order_at": (FEATURES, "f.first_order_at"),
    "last_order_at": (FEATURES, "f.last_order_at"),
    "recency_days": (FEATURES, "f.recency_days"),
    "frequency": (FEATURES, "f.frequency"),
    "monetary": (FEATURES, "f.monetary"),
    "average_order_value": (FEATURES, "f.average_order_value"),
    "top_category": (FEATURES, "f.top_category"),
    "sessions_90d": (FEATURES, "f.sessions_90d"),
    "latest_nps": (FEATURES, "f.latest_nps"),
    "unresolved_tickets": (FEATURES, "f.unresolved_tickets"),
    "rfm_score": (RFM, "r.rfm_score"),
    "rfm_segment": (RFM, "r.rfm_segment"),
    "churn_probability": (CHURN, "c.churn_probability"),
    "churn_risk_band": (CHURN, "c.risk_band"),
    "churn_top_reason": (CHURN, "c.top_reason_1"),
    "predicted_ltv": (LTV, "l.predicted_revenue"),
    "ltv_horizon_days": (LTV, "l.horizon_days"),
    "p_alive": (LTV, "l.p_alive"),
    "expected_next_order_date": (LTV, "l.expected_next_order_date"),
    "lead_probability": (LEADS, "ld.lead_probability"),
    "top_recommendations": (RECOMMENDATIONS, "rec.products"),
    "audiences": (MEMBERSHIP, "aud.audiences"),
}

_JOINS: dict[str, str] = {
    FEATURES: f"LEFT JOIN {FEATURES} AS f ON f.customer_id = p.customer_id",
    RFM: f"LEFT JOIN {RFM} AS r ON r.customer_id = p.customer_id",
    CHURN: f"LEFT JOIN {CHURN} AS c ON c.customer_id = p.customer_id",
    LTV: f"LEFT JOIN {LTV} AS l ON l.customer_id = p.customer_id",
    LEADS: f"LEFT JOIN {LEADS} AS ld ON ld.customer_id = p.customer_id",
    RECOMMENDATIONS: (
        "LEFT JOIN (SELECT customer_id, STRING_AGG(product_id, '|' ORDER BY rank) AS products "
        f"FROM {RECOMMENDATIONS} WHERE rank <= {TOP_RECOMMENDATIONS} GROUP BY customer_id) "
        "AS rec ON rec.customer_id = p.customer_id"
    ),
    MEMBERSHIP: (
        "LEFT JOIN (SELECT customer_id, STRING_AGG(audience, '|' ORDER BY audience) AS audiences "
        # the membership of this analysis date: after a backfill the latest is another one's
        f"FROM {MEMBERSHIP} WHERE as_of = CAST('{{as_of}}' AS TIMESTAMP) "
        "GROUP BY customer_id) AS aud ON aud.customer_id = p.customer_id"
    ),
}


def missing_inputs(existing: set[str]) -> list[str]:
    """The optional input tables (each one joined to the profiles) absent from `existing`,
    sorted: their columns are null in the table."""
    return sorted(set(_JOINS) - existing)


def customer_360_sql(existing: set[str], as_of: str, dialect: str) -> str:
    """The SELECT building the table; `existing`: the qualified names of the input tables
    present; `as_of`: ISO date of the analysis."""
    if PROFILES not in existing:
        raise ValueError(f"customer 360: {PROFILES} does not exist; materialize it first")
    columns = []
    for column in CUSTOMER_360_COLUMNS:
        kind = sql_type(column.dtype, dialect)
        if column.name == "customer_id":
            expression = "p.customer_id"
        elif column.name == "as_of":
            expression = f"'{as_of}'"
        else:
            table, expression = _SOURCES[column.name]
            if table not in existing:
                expression = "NULL"
        columns.append(f"CAST({expression} AS {kind}) AS {column.name}")
    joins = [join.replace("{as_of}", as_of) for table, join in _JOINS.items() if table in existing]
    known = known_by(AsOf(dt.date.fromisoformat(as_of)), "p")
    return (
        "SELECT "
        + ",\n       ".join(columns)
        + f"\nFROM {PROFILES} AS p\n"
        + "\n".join(joins)
        + f"\nWHERE {known}"  # customers first seen later did not exist on the analysis date
        + "\nORDER BY p.customer_id"
    )

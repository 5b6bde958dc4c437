"""The `activation.customer_360` contract: one wide row per customer for downstream jobs.

Downstream jobs read this table by column name, so the columns below are a versioned
contract: adding a column is a minor version, renaming or removing one a major version.
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER_360_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class ContractColumn:
    name: str
    dtype: str  # pandas dtype the table is shaped to
    description: str
    pii: bool = False


def _c(name: str, dtype: str, description: str, pii: bool = False) -> ContractColumn:
    return ContractColumn(name, dtype, description, pii)


CUSTOMER_360_COLUMNS: tuple[ContractColumn, ...] = (
    _c("customer_id", "string", "stable customer id (core.customer_profiles)"),
    _c("as_of", "datetime64[us]", "analysis date the row describes"),
    # golden profile
    _c("first_name", "string", "golden first name", pii=True),
    _c("last_name", "string", "golden last name", pii=True),
    _c("email", "string", "golden email address, normalised", pii=True),
    _c("phone", "string", "golden phone number, E.164", pii=True),
    _c("city", "string", "golden address: city"),
    _c("region", "string", "golden address: region"),
    _c("postal_code", "string", "golden address: postal code", pii=True),
    _c("country", "string", "golden address: ISO 3166-1 alpha-2 country"),
    _c("loyalty_tier", "string", "loyalty tier, when a member"),
    _c("loyalty_points", "Int64", "loyalty points balance, when a member"),
    _c("first_seen", "datetime64[us, UTC]", "earliest record or fact of the customer"),
    _c("last_seen", "datetime64[us, UTC]", "latest record or fact of the customer"),
    _c("source_count", "Int64", "number of sources the customer appears in"),
    # key features
    _c("first_order_at", "datetime64[us, UTC]", "first completed order"),
    _c("last_order_at", "datetime64[us, UTC]", "latest completed order"),
    _c("recency_days", "Int64", "days from the last order to as_of"),
    _c("frequency", "Int64", "completed orders"),
    _c("monetary", "float64", "net revenue of all orders, base currency"),
    _c("average_order_value", "float64", "monetary / frequency"),
    _c("top_category", "string", "category with the most spend"),
    _c("sessions_90d", "Int64", "web/app sessions in the 90 days to as_of"),
    _c("latest_nps", "Int64", "latest NPS answer (0-10)"),
    _c("unresolved_tickets", "Int64", "support tickets not resolved"),
    # segments and scores
    _c("rfm_score", "string", "R, F and M scores (1-5) as a three-digit code"),
    _c("rfm_segment", "string", "RFM segment name (analytics.rfm)"),
    _c("churn_probability", "float64", "probability of no order in the churn horizon"),
    _c("churn_risk_band", "string", "low / medium / high churn risk"),
    _c("churn_top_reason", "string", "feature pushing the churn risk up the most"),
    _c("predicted_ltv", "float64", "revenue expected in the LTV horizon, base currency"),
    _c("ltv_horizon_days", "Int64", "the LTV forecast window in days"),
    _c("p_alive", "float64", "probability the customer still buys (BG/NBD)"),
    _c("expected_next_order_date", "datetime64[us]", "date by which one order is expected"),
    _c("lead_probability", "float64", "probability of a first order (people who never ordered)"),
    _c("top_recommendations", "string", "up to 5 recommended product ids, best first, '|'-joined"),
    _c("audiences", "string", "audiences the customer is in, sorted, '|'-joined"),
    # consent
    _c("email_consent", "boolean", "confirmed (double) opt-in to email marketing"),
    _c("sms_consent", "boolean", "confirmed opt-in to SMS marketing"),
    _c("ads_consent", "boolean", "not opted out of ad-platform matching"),
)

CUSTOMER_360_DTYPES: dict[str, str] = {c.name: c.dtype for c in CUSTOMER_360_COLUMNS}
CUSTOMER_360_PII: tuple[str, ...] = tuple(c.name for c in CUSTOMER_360_COLUMNS if c.pii)

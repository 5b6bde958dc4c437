"""The contract of `analytics.customer_features`: one row per customer as of a date.

Every figure is computed only from facts strictly before the end of the `as_of` day, so the
same code gives the features of any past date (model training uses that).
"""

from __future__ import annotations

# column -> (pandas dtype, description)
FEATURE_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("string", "the customer (core.customer_profiles)"),
    "as_of": ("datetime64[us]", "the analysis date; facts up to the end of this day count"),
    # orders (completed and partially refunded, net of refunds, base currency)
    "first_order_at": ("datetime64[us, UTC]", "first purchase"),
    "last_order_at": ("datetime64[us, UTC]", "latest purchase"),
    "recency_days": ("Int64", "days from the latest purchase to as_of (null: never bought)"),
    "recency_weeks": ("Int64", "whole weeks in recency_days (what the churn model reads)"),
    "frequency": ("int64", "purchases"),
    "monetary": ("float64", "net revenue of the purchases, base currency"),
    "average_order_value": ("float64", "monetary / frequency (null: never bought)"),
    "tenure_days": ("Int64", "days from the first purchase to as_of"),
    "tenure_months": ("Int64", "whole 30-day months in tenure_days (what the churn model reads)"),
    "mean_days_between_orders": ("float64", "mean gap between consecutive purchases"),
    "std_days_between_orders": ("float64", "standard deviation of those gaps"),
    "cancelled_orders": ("int64", "orders cancelled or fully refunded"),
    "top_category": ("string", "category with the most units bought"),
    "category_count": ("int64", "distinct categories bought"),
    "top_category_share": ("float64", "share of units in the top category"),
    "web_orders": ("int64", "purchases on the web channel"),
    "app_orders": ("int64", "purchases in the app"),
    "store_orders": ("int64", "purchases in stores"),
    "store_share": ("float64", "share of purchases made in stores"),
    # web engagement
    "sessions_30d": ("int64", "web sessions in the 30 days before as_of"),
    "sessions_90d": ("int64", "web sessions in the 90 days before as_of"),
    "product_views_30d": ("int64", "product views, 30 days"),
    "product_views_90d": ("int64", "product views, 90 days"),
    "add_to_carts_30d": ("int64", "add-to-cart events, 30 days"),
    "add_to_carts_90d": ("int64", "add-to-cart events, 90 days"),
    "abandoned_carts_30d": ("int64", "sessions with an add-to-cart and no purchase, 30 days"),
    "abandoned_carts_90d": ("int64", "the same, 90 days"),
    "hours_since_abandoned_cart": (
        "float64",
        "hours from the latest abandoned cart to the end of as_of (null: none in 90 days)",
    ),
    # service and surveys
    "tickets_90d": ("int64", "support tickets opened in the 90 days before as_of"),
    "tickets_total": ("int64", "support tickets ever"),
    "unresolved_tickets": ("int64", "tickets open (not resolved) at as_of"),
    "sla_breaches": ("int64", "tickets resolved after the SLA (or open longer than it) "),
    "latest_nps": ("Int64", "the latest NPS answer (0-10)"),
    "latest_csat": ("Int64", "the latest CSAT answer (1-5)"),
    # profile
    "loyalty_tier": ("string", "from the golden profile"),
    "loyalty_points": ("Int64", "from the golden profile"),
    "is_loyalty_member": ("boolean", "has a loyalty id"),
    "email_consent": ("boolean", "confirmed email opt-in"),
    "sms_consent": ("boolean", "confirmed SMS opt-in"),
    "ads_consent": ("boolean", "no ads opt-out"),
    "country": ("string", "from the golden profile"),
}

FEATURE_DTYPES: dict[str, str] = {name: dtype for name, (dtype, _) in FEATURE_COLUMNS.items()}
FEATURE_DESCRIPTIONS: dict[str, str] = {name: text for name, (_, text) in FEATURE_COLUMNS.items()}

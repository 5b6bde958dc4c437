"""Canonical schemas of the source kinds: the data contract of the `staging` layer.

Every configured source maps its columns onto the canonical fields of its kind. Staging tables
hold exactly the contract columns below (plus lineage), typed as declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SourceKind = Literal[
    "customers",
    "orders",
    "order_items",
    "events",
    "survey_responses",
    "support_tickets",
    "campaign_events",
    "erasure_requests",
    "inventory",
]
SOURCE_KINDS: tuple[str, ...] = (
    "customers",
    "orders",
    "order_items",
    "events",
    "survey_responses",
    "support_tickets",
    "campaign_events",
    "erasure_requests",
    "inventory",
)
# Kinds that hold no personal data: no identity resolution, no core fact table, no erasure.
NON_PERSONAL_KINDS: tuple[str, ...] = ("inventory",)

# Logical field types. Each maps to one pandas dtype and one SQL type in the warehouse.
FieldType = Literal[
    "string",  # free text, trimmed
    "id",  # identifier, trimmed string
    "email",  # lower-cased, trimmed address (plus a derived `email_key` column)
    "phone",  # E.164 string
    "date",  # calendar date (datetime64 at midnight, no tz)
    "timestamp",  # instant, UTC
    "decimal",  # float64
    "integer",  # Int64 (nullable)
    "boolean",  # boolean (nullable)
    "country",  # ISO 3166-1 alpha-2
    "currency",  # ISO 4217
    "postal_code",  # normalised per country
    "enum",  # one of `values`
]

PANDAS_DTYPES: dict[str, str] = {
    "string": "string",
    "id": "string",
    "email": "string",
    "phone": "string",
    "date": "datetime64[us]",
    "timestamp": "datetime64[us, UTC]",
    "decimal": "float64",
    "integer": "Int64",
    "boolean": "boolean",
    "country": "string",
    "currency": "string",
    "postal_code": "string",
    "enum": "string",
}


@dataclass(frozen=True)
class CanonicalField:
    name: str
    type: FieldType
    required: bool = False
    pii: bool = False
    values: tuple[str, ...] = ()
    description: str = ""


def _f(
    name: str,
    type_: FieldType,
    required: bool = False,
    pii: bool = False,
    values: tuple[str, ...] = (),
    description: str = "",
) -> CanonicalField:
    return CanonicalField(name, type_, required, pii, values, description)


ORDER_STATUSES = ("completed", "pending", "cancelled", "refunded", "partially_refunded")
ORDER_CHANNELS = ("web", "app", "store", "marketplace", "phone")
EVENT_TYPES = (
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "purchase",
    "login",
    "signup",
    "search",
    "identify",
)
TICKET_STATUSES = ("open", "pending", "resolved", "closed")
CAMPAIGN_EVENT_TYPES = (
    "send",
    "delivered",
    "open",
    "click",
    "bounce",
    "unsubscribe",
    "complaint",
)
# Campaign events that withdraw consent to the campaign's channel.
OPT_OUT_EVENT_TYPES = ("unsubscribe", "complaint")
TICKET_CHANNELS = ("email", "phone", "chat", "web", "store", "social")

CANONICAL_FIELDS: dict[str, tuple[CanonicalField, ...]] = {
    "customers": (
        _f("source_record_id", "id", required=True, description="the record's id in its source"),
        _f("email", "email", pii=True),
        _f("phone", "phone", pii=True),
        _f("first_name", "string", pii=True),
        _f("last_name", "string", pii=True),
        _f("full_name", "string", pii=True),
        _f("birth_date", "date", pii=True),
        _f("street", "string", pii=True),
        _f("city", "string"),
        _f("region", "string"),
        _f("postal_code", "postal_code", pii=True),
        _f("country", "country"),
        _f("loyalty_id", "id"),
        _f("loyalty_tier", "string"),
        _f("loyalty_points", "integer"),
        _f("created_at", "timestamp"),
        _f("updated_at", "timestamp"),
        _f("email_opt_in", "boolean"),
        _f("email_opt_in_confirmed_at", "timestamp"),
        _f("sms_opt_in", "boolean"),
        _f("sms_opt_in_confirmed_at", "timestamp"),
        _f("ads_opt_out", "boolean"),
    ),
    "orders": (
        _f("order_id", "id", required=True),
        _f("customer_ref", "id"),
        _f("email", "email", pii=True),
        _f("phone", "phone", pii=True),
        _f("loyalty_id", "id"),
        _f("ordered_at", "timestamp", required=True),
        _f("amount", "decimal", required=True, description="order total in `currency`"),
        _f("currency", "currency"),
        _f("status", "enum", values=ORDER_STATUSES),
        _f("channel", "enum", values=ORDER_CHANNELS),
        _f("store_id", "id"),
        _f("coupon_code", "string", description="coupon redeemed with the order"),
    ),
    "order_items": (
        _f("order_id", "id", required=True),
        _f("product_id", "id", required=True),
        _f("product_name", "string"),
        _f("category", "string"),
        _f("quantity", "integer"),
        _f("unit_price", "decimal"),
    ),
    "events": (
        _f("event_id", "id", required=True),
        _f("anonymous_id", "id"),
        _f("customer_ref", "id"),
        _f("email", "email", pii=True),
        _f("event_type", "enum", required=True, values=EVENT_TYPES),
        _f("occurred_at", "timestamp", required=True),
        _f("product_id", "id"),
        _f("session_id", "id"),
        _f("url", "string"),
        _f("utm_source", "string"),
        _f("utm_medium", "string"),
        _f("utm_campaign", "string"),
    ),
    "survey_responses": (
        _f("response_id", "id", required=True),
        _f("customer_ref", "id"),
        _f("email", "email", pii=True),
        _f("submitted_at", "timestamp", required=True),
        _f("nps", "integer"),
        _f("csat", "integer"),
        _f("purchase_for", "string"),
        _f("comment", "string", pii=True),
    ),
    "support_tickets": (
        _f("ticket_id", "id", required=True),
        _f("customer_ref", "id"),
        _f("email", "email", pii=True),
        _f("opened_at", "timestamp", required=True),
        _f("resolved_at", "timestamp"),
        _f("category", "string"),
        _f("channel", "enum", values=TICKET_CHANNELS),
        _f("status", "enum", values=TICKET_STATUSES),
    ),
    "campaign_events": (
        _f("event_id", "id", required=True),
        _f("campaign_id", "id", required=True, description="the campaign's name in cdp.yaml"),
        _f("event_type", "enum", required=True, values=CAMPAIGN_EVENT_TYPES),
        _f("occurred_at", "timestamp", required=True),
        _f("customer_ref", "id"),
        _f("email", "email", pii=True),
        _f("phone", "phone", pii=True),
    ),
    "erasure_requests": (
        _f("request_id", "id", required=True),
        _f("email", "email", pii=True),
        _f("phone", "phone", pii=True),
        _f("customer_id", "id"),
        _f("record_source", "string", description="the source of source_record_id"),
        _f("source_record_id", "id"),
        _f("requested_at", "timestamp", required=True),
    ),
    "inventory": (
        _f("count_id", "id", description="the stock count's id (derived from file and line)"),
        _f("product_id", "id", required=True),
        _f("store_id", "id", description="the store holding the stock; empty: online warehouse"),
        _f(
            "on_hand_units",
            "integer",
            required=True,
            description="units in stock at the location at `counted_at` "
            "(a negative count is quarantined)",
        ),
        _f("counted_at", "timestamp", required=True, description="the instant the count holds"),
        _f(
            "sku",
            "id",
            description="the source's own stock-keeping code for the product, when it sends "
            "one besides product_id; kept as sent (stock is matched to sales by product_id)",
        ),
        _f("product_name", "string"),
    ),
}

# The field that identifies a record within its source. When a source does not map it, the
# record id is derived deterministically from file and line.
RECORD_ID_FIELD: dict[str, str] = {
    "customers": "source_record_id",
    "orders": "order_id",
    "order_items": "order_id",  # items are keyed by (order_id, product_id), see RECORD_KEY
    "events": "event_id",
    "survey_responses": "response_id",
    "support_tickets": "ticket_id",
    "campaign_events": "event_id",
    "erasure_requests": "request_id",
    "inventory": "count_id",
}

# The instant by which a staged row of a kind ages (per-source `retention_days`). Kinds not
# listed (customer records, order items, erasure requests) are kept while their source is.
RETENTION_FIELD: dict[str, str] = {
    "orders": "ordered_at",
    "events": "occurred_at",
    "survey_responses": "submitted_at",
    "support_tickets": "opened_at",
    "campaign_events": "occurred_at",
}

# Columns that together are unique in a staging table.
RECORD_KEY: dict[str, tuple[str, ...]] = {
    "customers": ("source_record_id",),
    "orders": ("order_id",),
    "order_items": ("order_id", "product_id"),
    "events": ("event_id",),
    "survey_responses": ("response_id",),
    "support_tickets": ("ticket_id",),
    "campaign_events": ("event_id",),
    "erasure_requests": ("request_id",),
    "inventory": ("count_id",),
}

# Lineage columns carried from `raw` to `staging`.
LINEAGE_COLUMNS: tuple[str, ...] = ("_file", "_line", "_batch_id", "_ingested_at")

# Columns staging adds to every kind, in this order, before the canonical fields.
STAGING_PREFIX_COLUMNS: tuple[str, ...] = ("source", "record_id")


def fields_of(kind: str) -> tuple[CanonicalField, ...]:
    return CANONICAL_FIELDS[kind]


def field_names(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in CANONICAL_FIELDS[kind])


def derived_columns(kind: str) -> tuple[CanonicalField, ...]:
    """Columns staging derives from canonical fields (matching keys, base-currency amounts)."""
    names = field_names(kind)
    derived: list[CanonicalField] = []
    if "email" in names:
        derived.append(
            _f(
                "email_key",
                "string",
                pii=True,
                description="matching key: gmail dots and +tags removed",
            )
        )
    if kind == "orders":
        derived.append(_f("amount_base", "decimal", description="amount in the base currency"))
    return tuple(derived)


def staging_contract(kind: str) -> dict[str, str]:
    """Column name -> pandas dtype for a staging table of this kind, in column order."""
    contract: dict[str, str] = {"source": "string", "record_id": "string"}
    for f in CANONICAL_FIELDS[kind]:
        contract[f.name] = PANDAS_DTYPES[f.type]
    for f in derived_columns(kind):
        contract[f.name] = PANDAS_DTYPES[f.type]
    contract["attributes"] = "string"  # JSON object of unmapped source columns
    contract["_file"] = "string"
    contract["_line"] = "Int64"
    contract["_batch_id"] = "string"
    contract["_ingested_at"] = "datetime64[us, UTC]"
    return contract


def pii_columns(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in CANONICAL_FIELDS[kind] + derived_columns(kind) if f.pii)


# -- ops tables ---------------------------------------------------------------------------------
# Raw tables hold every source column as text (None for missing) plus these lineage columns.
RAW_LINEAGE_DTYPES: dict[str, str] = {
    "_file": "string",  # path relative to the landing folder, or `sql:<source name>`
    "_line": "Int64",  # 1-based physical line of the record (CSV header is line 1); row number for sql/parquet
    "_batch_id": "string",
    "_ingested_at": "datetime64[us, UTC]",
    "_row_hash": "Int64",  # hash of the source columns' values, for exact-duplicate detection
}

# ops.quarantine: rows that could not stand, from ingestion (stage='ingest') or staging.
QUARANTINE_DTYPES: dict[str, str] = {
    "source": "string",
    "stage": "string",  # ingest | staging
    "file": "string",
    "line": "Int64",
    "batch_id": "string",
    "record_id": "string",
    "raw_payload": "string",  # JSON object of the raw row, or the raw text of a malformed line
    "rule": "string",
    "reason": "string",
    "quarantined_at": "datetime64[us, UTC]",  # the batch's ingested_at, so re-runs are identical
}

# ops.data_quality_issues: a field nulled, flagged or a record superseded; the row was kept.
ISSUE_DTYPES: dict[str, str] = {
    "source": "string",
    "record_id": "string",
    "file": "string",
    "line": "Int64",
    "batch_id": "string",
    "field": "string",
    "value": "string",  # the raw value as read
    "rule": "string",
    "action": "string",  # nulled | flagged | superseded | set_false
    "reason": "string",
}

# ops.ingested_files: the file ledger, one row per file (or sql snapshot) seen per source.
LEDGER_DTYPES: dict[str, str] = {
    "source": "string",
    "file": "string",
    "content_hash": "string",  # sha256 of the bytes (of the result set, for sql)
    "size_bytes": "Int64",
    "modified_at": "datetime64[us, UTC]",
    "batch_id": "string",
    "ingested_at": "datetime64[us, UTC]",
    "status": "string",  # ingested | duplicate_file
    "duplicate_of": "string",  # for duplicate_file: the file first ingested with this content
    "encoding": "string",
    "rows_read": "Int64",
    "rows_loaded": "Int64",
    "rows_quarantined": "Int64",
    "exact_duplicates": "Int64",
    "rows_suppressed": "Int64",  # rows of erased people (ops.suppression_list), not loaded
}

"""What every column the platform publishes means, and whether it holds personal data.

One place for the column descriptions the UI shows (`dagster/column_schema`) and downstream
users read. A column with the same meaning in many tables (`customer_id`, `as_of`, lineage
columns) is described once in `SHARED_COLUMNS`; a table whose column means something of its
own overrides it in `TABLE_COLUMNS`. The table contracts' own descriptions and PII flags
(canonical fields, golden profile, features, lifetime values, uplift scores, customer 360)
are reused, not written again.

Times are UTC unless a column says otherwise; money is in the base currency (cdp.yaml
`base_currency`) unless it says `currency`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdp_assets.contracts.canonical import (
    CANONICAL_FIELDS,
    LINEAGE_COLUMNS,
    derived_columns,
)
from cdp_assets.contracts.customer_360 import CUSTOMER_360_COLUMNS
from cdp_assets.contracts.features import FEATURE_DESCRIPTIONS
from cdp_assets.contracts.golden_profile import PROFILE_PII
from cdp_assets.contracts.ltv import LTV_COLUMNS
from cdp_assets.contracts.uplift import UPLIFT_SCORE_COLUMNS

# The description of a column nobody has described yet. The Definitions test lists every
# column that carries it, so that a new table's columns get written up.
UNDESCRIBED = "(not yet described)"


@dataclass(frozen=True)
class ColumnDoc:
    description: str
    pii: bool = False

    @property
    def described(self) -> bool:
        return self.description != UNDESCRIBED


def _d(description: str, pii: bool = False) -> ColumnDoc:
    return ColumnDoc(description, pii)


# -- columns with one meaning wherever they appear ----------------------------------------------
SHARED_COLUMNS: dict[str, ColumnDoc] = {
    "customer_id": _d("the customer's stable id (core.customer_profiles)"),
    "as_of": _d("the analysis date: facts up to the end of this day (UTC) count"),
    "source": _d("the configured source (cdp.yaml `sources[].name`) the row comes from"),
    "record_id": _d("the record's id within its source (derived from file and line if unmapped)"),
    "attributes": _d(
        "JSON object of the source's columns not mapped to a canonical field", pii=True
    ),
    "_file": _d("lineage: the file the row was read from (relative to the landing folder)"),
    "_line": _d("lineage: 1-based line of the row in its file (row number for sql/parquet)"),
    "_batch_id": _d("lineage: the ingestion batch that loaded the row"),
    "_ingested_at": _d("lineage: when the batch was ingested (UTC)"),
    "_row_hash": _d("hash of the row's source values, to find exact duplicates"),
    "file": _d("the file the row was read from (relative to the landing folder)"),
    "line": _d("1-based line of the row in its file (row number for sql/parquet)"),
    "batch_id": _d("the ingestion batch"),
    "rule": _d("the rule that applied"),
    "reason": _d("why, in plain words"),
    "run_id": _d("the Dagster run that wrote the row"),
    "request_id": _d("the erasure request's id in its source"),
    "customer_ref": _d("the customer's account id in the source system (null: a guest)"),
    "anonymous_id": _d("the device or browser id of a web/app visitor"),
    "run_at": _d("when the run wrote the row (UTC)"),
    "model_version": _d("the model store version that scored"),
    "top_reason_1": _d("the feature pushing the probability up the most"),
    "top_reason_2": _d("the second feature pushing the probability up"),
    "top_reason_3": _d("the third feature pushing the probability up"),
    "campaign": _d("the campaign (cdp.yaml `campaigns[].name`)"),
    "arm": _d("the campaign arm (offer or control) the customer was assigned to"),
    "audience": _d("the audience (cdp.yaml `analytics.audiences[].name`)"),
    "breakdown": _d("how the rows are grouped: overall, or by the dimension named"),
    "group": _d("the group within the breakdown (`all` for overall)"),
    # person fields, wherever they are copied
    "email": _d("email address, lower-cased and trimmed", pii=True),
    "email_key": _d("email matching key: lower-cased, gmail dots and +tags removed", pii=True),
    "phone": _d("phone number in E.164 form (+ and digits)", pii=True),
    "first_name": _d("first name", pii=True),
    "last_name": _d("last name", pii=True),
    "full_name": _d("full name as given", pii=True),
    "birth_date": _d("date of birth", pii=True),
    "street": _d("street address", pii=True),
    "city": _d("city"),
    "region": _d("region, state or province"),
    "postal_code": _d("postal code, normalised per country", pii=True),
    "country": _d("country, ISO 3166-1 alpha-2 code"),
    "loyalty_id": _d("loyalty card or member number", pii=True),
    "loyalty_tier": _d("loyalty tier (null: not a member)"),
    "loyalty_points": _d("loyalty points balance (null: not a member)"),
}

# -- canonical fields (staging tables and the core facts that copy them) -----------------------
# Written once by field name; `_KIND_FIELDS` says it when a field means something of its kind.
CANONICAL_DESCRIPTIONS: dict[str, str] = {
    "source_record_id": "the record's id in its source",
    "customer_ref": "the customer's account id in the source system (null: a guest)",
    "created_at": "when the source created the record (UTC)",
    "updated_at": "when the source last changed the record (UTC)",
    "email_opt_in": "opted in to email marketing (null: unknown)",
    "email_opt_in_confirmed_at": "when the email opt-in was confirmed (double opt-in, UTC)",
    "sms_opt_in": "opted in to SMS marketing (null: unknown)",
    "sms_opt_in_confirmed_at": "when the SMS opt-in was confirmed (UTC)",
    "ads_opt_out": "opted out of ad-platform matching (null: unknown)",
    "order_id": "the order's id in its source",
    "ordered_at": "when the order was placed (UTC)",
    "amount": "order total in the order's `currency`",
    "amount_base": "order total in the base currency (cdp.yaml fx rates)",
    "currency": "currency of `amount`, ISO 4217 code",
    "channel": "sales or contact channel",
    "store_id": "the store of an in-store sale (null: not a store sale)",
    "coupon_code": "coupon redeemed with the order (null: none)",
    "product_id": "the product's id (SKU)",
    "product_name": "product name",
    "category": "product category",
    "quantity": "units",
    "unit_price": "price of one unit in the order's currency",
    "event_id": "the event's id in its source",
    "anonymous_id": "the device or browser id of the web/app visitor",
    "event_type": "what happened",
    "occurred_at": "when the event happened (UTC)",
    "session_id": "the web/app session",
    "url": "page address",
    "utm_source": "marketing source of the visit (utm_source)",
    "utm_medium": "marketing medium of the visit (utm_medium)",
    "utm_campaign": "marketing campaign of the visit (utm_campaign)",
    "response_id": "the survey response's id in its source",
    "submitted_at": "when the survey was answered (UTC)",
    "nps": "likelihood to recommend, 0-10 (null: not asked)",
    "csat": "satisfaction, 1-5 (null: not asked)",
    "purchase_for": "who the purchase was for, as answered",
    "comment": "free-text comment; may name people",
    "ticket_id": "the ticket's id in its source",
    "opened_at": "when the ticket was opened (UTC)",
    "resolved_at": "when the ticket was resolved (UTC; null: not yet)",
    "campaign_id": "the campaign's name in cdp.yaml",
    "request_id": "the erasure request's id in its source",
    "customer_id": "the customer id the request names (null: identified by email or phone)",
    "record_source": "the source of source_record_id",
    "requested_at": "when erasure was requested (UTC)",
}
_KIND_FIELDS: dict[tuple[str, str], str] = {
    ("orders", "status"): "order status: completed, pending, cancelled, refunded or "
    "partially_refunded",
    ("orders", "channel"): "where the order was placed: web, app, store, marketplace or phone",
    ("support_tickets", "status"): "ticket status: open, pending, resolved or closed",
    ("support_tickets", "channel"): "how the customer got in touch: email, phone, chat, web, "
    "store or social",
    ("support_tickets", "category"): "what the ticket is about",
    ("events", "event_type"): "what the visitor did: page_view, product_view, add_to_cart, "
    "checkout_started, purchase, login, signup, search, identify …",
    ("events", "product_id"): "the product viewed or carted (null: not a product event)",
    ("campaign_events", "event_type"): "send, delivered, open, click, bounce, unsubscribe or "
    "complaint",
    ("campaign_events", "event_id"): "the campaign event's id in its source",
}


def canonical_doc(kind: str, column: str) -> ColumnDoc | None:
    """A staged column of `kind`: a canonical field, or one staging derives from them."""
    fields = {f.name: f for f in CANONICAL_FIELDS.get(kind, ()) + derived_columns(kind)}
    field = fields.get(column)
    if field is None:
        return None
    text = (
        _KIND_FIELDS.get((kind, column))
        or field.description
        or CANONICAL_DESCRIPTIONS.get(column)
        or (SHARED_COLUMNS[column].description if column in SHARED_COLUMNS else None)
    )
    return ColumnDoc(text or UNDESCRIBED, field.pii)


# Customer-identifying columns of the contracts, whichever table carries them.
PII_COLUMNS: frozenset[str] = frozenset(
    {f.name for fields in CANONICAL_FIELDS.values() for f in fields if f.pii}
    | set(PROFILE_PII)
    | {c.name for c in CUSTOMER_360_COLUMNS if c.pii}
)


def _described(columns: Mapping[str, tuple[str, str]]) -> dict[str, ColumnDoc]:
    return {name: _d(text, name in PII_COLUMNS) for name, (_, text) in columns.items()}


_GROUP_SOURCE = "the source whose record supplied the {} fields (survivorship)"
_GROUP_RECORD = "the record (in that source) that supplied the {} fields"

# -- tables whose columns mean something of their own, "schema.table" -> column -> doc -------
# Shared by the forecast tables: the period a row forecasts and its prediction intervals.
_FORECAST_PERIOD_DOCS: dict[str, ColumnDoc] = {
    "period_start": _d("first day of the forecast period (local date; weeks end on as_of + 7k)"),
    "period_end": _d("last day of the forecast period (local date, inclusive)"),
}
_FORECAST_INTERVAL_DOCS: dict[str, ColumnDoc] = {
    f"{side}_{level}": _d(
        f"{'lower' if side == 'lower' else 'upper'} limit of the {level} % prediction interval"
    )
    for level in (80, 95)
    for side in ("lower", "upper")
}

TABLE_COLUMNS: dict[str, dict[str, ColumnDoc]] = {
    # ops
    "ops.quarantine": {
        "stage": _d("where the row was stopped: ingest (unreadable) or staging (failed a rule)"),
        "record_id": _d("the record's id, when it could be read"),
        "raw_payload": _d("the rejected row as read (JSON), or the raw text of a bad line", True),
        "rule": _d("the quality rule the row failed"),
        "reason": _d("why the row failed the rule, in plain words"),
        "quarantined_at": _d("when the row's batch was ingested (UTC)"),
    },
    "ops.data_quality_issues": {
        "field": _d("the canonical field with the issue"),
        "value": _d("the raw value as read", pii=True),
        "rule": _d("the quality rule that flagged the value"),
        "action": _d("what was done: nulled, flagged, superseded or set_false; the row was kept"),
    },
    "ops.ingested_files": {
        "content_hash": _d("SHA-256 of the file's bytes (of the result set, for sql)"),
        "size_bytes": _d("file size in bytes"),
        "modified_at": _d("the file's modification time (UTC)"),
        "ingested_at": _d("when the file was ingested (UTC)"),
        "status": _d("ingested, or duplicate_file when the same bytes were loaded before"),
        "duplicate_of": _d("for a duplicate file: the file first ingested with this content"),
        "encoding": _d("text encoding the file was read with"),
        "rows_read": _d("rows read from the file"),
        "rows_loaded": _d("rows loaded into the raw table"),
        "rows_quarantined": _d("rows quarantined at ingestion (ops.quarantine)"),
        "exact_duplicates": _d("rows dropped as exact duplicates of a loaded row"),
        "rows_suppressed": _d("rows of erased people (ops.suppression_list), not loaded"),
    },
    "ops.quality_summary": {
        "files_ingested": _d("files ingested"),
        "duplicate_files": _d("files skipped because the same bytes were loaded before"),
        "rows_read": _d("rows read from the source's files"),
        "exact_duplicates": _d("rows dropped as exact duplicates"),
        "rows_suppressed": _d("rows of erased people, not loaded"),
        "quarantined_ingest": _d("rows quarantined at ingestion (unreadable)"),
        "rows_loaded": _d("rows loaded into raw"),
        "quarantined_staging": _d("rows quarantined at staging (failed a rule)"),
        "records_superseded": _d("record versions replaced by a later version"),
        "rows_staged": _d("rows in the staging table"),
        "rows_removed": _d("raw rows deleted since loading (erasure requests and retention)"),
        "field_issues": _d("field values nulled or flagged (ops.data_quality_issues)"),
        "quarantine_share": _d("quarantined rows / rows read, a fraction 0-1"),
    },
    "ops.erasure_log": {
        "request_source": _d("the source the erasure request came from"),
        "identifier_hashes": _d("JSON list of the salted hashes of the identifiers erased", True),
        "identifiers": _d("identifiers the request named"),
        "customers_erased": _d("customers whose data was deleted"),
        "requested_at": _d("when erasure was requested (UTC)"),
        "completed_at": _d("when erasure finished (UTC)"),
        "status": _d("erased, no_match or ambiguous (the identifiers name several people)"),
        "rows_deleted": _d("rows deleted across all tables"),
        "tables_touched": _d("JSON object: table -> rows deleted"),
        "export_rows_removed": _d("rows removed from export files"),
        "people_matched": _d("people the request's identifiers name (ambiguous when over 1)"),
        "resolution_hint": _d("what would settle an ambiguous request (names no identifier)"),
    },
    "ops.retention_log": {
        "table": _d("the table rows were deleted from"),
        "retention_days": _d("the source's retention period in days (cdp.yaml)"),
        "cutoff": _d("rows older than this instant were deleted (UTC)"),
        "rows_deleted": _d("rows deleted"),
    },
    "ops.suppression_list": {
        "identifier_hash": _d("salted hash of an erased identifier (never loaded again)", True),
        "identifier_kind": _d("what the identifier is: email, phone, …"),
        "added_at": _d("when the identifier was suppressed (UTC)"),
        "salt_fingerprint": _d("fingerprint of the salt the hash was made with"),
    },
    # core
    "core.customer_profiles": {
        "full_name": _d("full name: the source's, or first and last name joined", True),
        **{
            f"{group}_source": _d(_GROUP_SOURCE.format(group.replace("_", " ")))
            for group in ("name", "email", "phone", "birth_date", "address", "loyalty")
        },
        **{
            f"{group}_record_id": _d(_GROUP_RECORD.format(group.replace("_", " ")))
            for group in ("name", "email", "phone", "birth_date", "address", "loyalty")
        },
        "email_consent": _d("confirmed (double) opt-in to email marketing"),
        "email_consent_at": _d("when the email consent was given or withdrawn (UTC)"),
        "email_consent_source": _d("the source that set the email consent"),
        "sms_consent": _d("confirmed opt-in to SMS marketing"),
        "sms_consent_at": _d("when the SMS consent was given or withdrawn (UTC)"),
        "sms_consent_source": _d("the source that set the SMS consent"),
        "ads_consent": _d("not opted out of ad-platform matching"),
        "first_seen": _d("earliest record or activity of the customer (UTC)"),
        "last_seen": _d("latest record or activity of the customer (UTC)"),
        "sources": _d("the sources the customer appears in, sorted, comma-separated"),
        "source_count": _d("number of sources the customer appears in"),
        "record_count": _d("number of customer records merged into the profile"),
    },
    "core.customer_xref": {
        "source_record_id": _d("the record's id in its source"),
        "identity_kind": _d("what was resolved: record, customer_ref, identifiers or anonymous_id"),
        "match_rule": _d("the strongest link joining it to the customer, or own_record"),
        "match_score": _d("that link's weight (higher is surer)"),
    },
    "core.identity_edges": {
        "left_source": _d("source of the first record of the link"),
        "left_record_id": _d("id of the first record of the link"),
        "left_kind": _d("what the first record is (record, customer_ref, …)"),
        "right_source": _d("source of the second record of the link"),
        "right_record_id": _d("id of the second record of the link"),
        "right_kind": _d("what the second record is"),
        "rule": _d("the matching rule that linked the two"),
        "weight": _d("the link's match weight (higher is surer)"),
        "evidence": _d(
            "the shared identifier value, or the compared fields' agreement levels", True
        ),
        "status": _d("linked, or cut (and why) by over-merge protection"),
    },
    "core.identity_merges": {
        "event": _d("new, merge, split or retired"),
        "customer_id": _d("the customer id after the event (the survivor, or the new part)"),
        "other_customer_id": _d("merge: the absorbed id; split: the id split from"),
        "nodes": _d("identity nodes in the resulting customer"),
        "evidence": _d("the links behind the event, with the identifiers they share", True),
    },
    "core.identity_nodes": {
        "node_key": _d("an identity node: a record or identifier the resolver joins"),
    },
    "core.customer_id_aliases": {
        "alias_id": _d("a superseded customer id"),
        "customer_id": _d("the current customer id it resolves to"),
        "reason": _d("why it was superseded (merged)"),
        "since": _d("when the alias was created (UTC)"),
    },
    "core.fact_identities": {
        "email_key": _d("email matching key found on facts", True),
        "phone": _d("phone number (E.164) found on facts", True),
        "loyalty_id": _d("loyalty id found on facts", True),
    },
    "core.shared_identifiers": {
        "type": _d("identifier type: email_key, phone, loyalty_id, …"),
        "value": _d("the identifier value shared by many records", True),
        "records": _d("customer records carrying the value"),
        "rule": _d("blocked_value, too_many_records, conflicting_people or dense_facts"),
        "reason": _d("why the value is not used to link records"),
    },
    "core.orders": {
        "net_amount_base": _d("amount_base if the order counts as a purchase, else 0"),
        "is_purchase": _d("the order counts as a purchase (completed or partially refunded)"),
    },
    "core.order_items": {
        "source": _d("the source of the order line"),
        "order_source": _d("the source of the order (core.orders)"),
        "unit_price_base": _d("unit price in the base currency, at the order's rate"),
        "ordered_at": _d("when the order was placed (UTC)"),
        "status": _d("the order's status"),
    },
    # analytics
    "analytics.rfm": {
        "recency_days": _d("days from the latest purchase to as_of"),
        "frequency": _d("purchases up to as_of"),
        "monetary": _d("net revenue of the purchases, base currency"),
        "r_score": _d("recency score 1-5 (5 = most recent quintile; ties share a score)"),
        "f_score": _d("frequency score 1-5 (5 = most purchases; ties share a score)"),
        "m_score": _d("monetary score 1-5 (5 = highest revenue; ties share a score)"),
        "rfm_score": _d("R, F and M scores as a three-digit code"),
        "rfm_segment": _d("the named segment of the R x F map (cdp.yaml analytics.rfm_segments)"),
    },
    "analytics.cohorts": {
        "cohort_month": _d("month of the customers' first purchase (first day, UTC)"),
        "months_since_first": _d("months after the cohort month (0 = the first month)"),
        "cohort_customers": _d("customers whose first purchase was in the cohort month"),
        "active_customers": _d("cohort customers with a purchase in this month"),
        "retention_rate": _d("active_customers / cohort_customers, a fraction 0-1"),
        "revenue": _d("net revenue of the cohort in this month, base currency"),
        "cumulative_revenue_per_customer": _d(
            "net revenue per cohort customer up to this month, base currency"
        ),
    },
    "analytics.acquisition_value": {
        "comparison": _d("what is compared: holiday-acquired vs other, or members vs not"),
        "group": _d("the group of the comparison"),
        "horizon_days": _d("days after the first purchase counted (60, 90, 180 by default)"),
        "customers": _d("customers of the group whose horizon has passed by as_of"),
        "mean_value": _d("mean net revenue per customer within the horizon, base currency"),
        "repeat_rate": _d("share of customers with a second purchase within the horizon, 0-1"),
    },
    "analytics.nps": {
        "breakdown": _d("overall, month or segment"),
        "group": _d("all, the month (YYYY-MM) or the RFM segment"),
        "responses": _d("survey responses"),
        "nps_responses": _d("responses with an NPS answer"),
        "promoters": _d("NPS answers of 9 or 10"),
        "passives": _d("NPS answers of 7 or 8"),
        "detractors": _d("NPS answers of 0 to 6"),
        "nps": _d("net promoter score: % promoters - % detractors, -100 to 100"),
        "csat_responses": _d("responses with a CSAT answer"),
        "csat_mean": _d("mean CSAT answer, 1-5"),
    },
    "analytics.nps_themes": {
        "group": _d("promoters or detractors"),
        "term": _d("a word or phrase frequent in the group's comments"),
        "score": _d("how characteristic the term is of the group (TF-IDF weight)"),
        "responses": _d("comments of the group containing the term"),
    },
    "analytics.support_summary": {
        "breakdown": _d("overall, category or channel"),
        "group": _d("all, the ticket category or the channel"),
        "rank": _d("1 = most tickets within the breakdown"),
        "tickets": _d("tickets opened"),
        "share": _d("share of all tickets, a fraction 0-1"),
        "open_tickets": _d("tickets not resolved at as_of"),
        "resolved_tickets": _d("tickets resolved by as_of"),
        "median_resolution_hours": _d("median hours from opening to resolution"),
        "sla_decided": _d("tickets whose SLA outcome is known"),
        "sla_breaches": _d("tickets resolved after the SLA, or open longer than it"),
        "sla_breach_rate": _d("sla_breaches / sla_decided, a fraction 0-1"),
    },
    # ml
    "ml.churn_scores": {
        "churn_probability": _d("probability of no purchase in the churn horizon, 0-1"),
        "risk_band": _d("low (under 0.3), medium (under 0.6) or high churn risk"),
        "model": _d("the classifier, or the purchase model (purchase_model:<name>) scoring"),
    },
    "ml.lead_scores": {
        "lead_probability": _d(
            "probability that a person who never bought makes a first purchase, 0-1"
        ),
    },
    "ml.product_recommendations": {
        "rank": _d("1 = the best recommendation for the customer"),
        "product_id": _d("the recommended product's id (SKU)"),
        "score": _d(
            "recommendation strength (higher is better); popular-product rows hold the share of "
            "recent buyers instead, so compare rows of the same reason kind only"
        ),
        "reason": _d(
            "why: bought with <product>, viewed with <product>, bought before (consumables) "
            "or popular in the last 90 days"
        ),
    },
    # activation
    "activation.audience_membership": {
        "entered_at": _d("the date the customer's current membership began"),
        "as_of": _d("the analysis date of the run that found the customer a member"),
    },
    "activation.audience_changes": {
        "change": _d("added or removed"),
        "as_of": _d("the analysis date of the run that saw the change"),
    },
    "activation.audience_exports": {
        "exported_at": _d("when the file was written (UTC)"),
        "destination": _d("the export destination (cdp.yaml exports)"),
        "channel": _d("the marketing channel of the export: email, sms or ads"),
        "format": _d("file format: csv or parquet"),
        "export_id": _d("the export file's id"),
        "unchanged": _d("the members did not change since the last export: no file written"),
        "members": _d("audience members"),
        "rows": _d("rows in the export file (consented members)"),
        "additions": _d("members added since the previous export"),
        "removals": _d("members removed since the previous export"),
        "excluded": _d("JSON object: why members were left out (no consent, …) -> count"),
        "manifest": _d("the manifest file that describes the export"),
    },
    "activation.campaign_assignments": {
        "assigned_at": _d("when the customer was assigned: the conversion window opens (UTC)"),
    },
    "activation.campaign_recipients": {
        "destination": _d("the export destination"),
        "first_exported_at": _d("when the customer was first exported for the arm (UTC)"),
    },
    # contracts with their own descriptions
    "analytics.customer_features": {
        name: _d(text, name in PII_COLUMNS) for name, text in FEATURE_DESCRIPTIONS.items()
    },
    "ml.sales_forecast": {
        "level": _d("total, or the level forecast: channel, category or store"),
        "member": _d(
            "the channel, category or store ('all' for the total, 'other' for the small ones)"
        ),
        "metric": _d("net_revenue (base currency), orders or units"),
        "frequency": _d("week (7-day periods ending on as_of + 7k) or day (the next days)"),
        **_FORECAST_PERIOD_DOCS,
        "model": _d("the model chosen for the series by the rolling-origin backtest"),
        "forecast": _d("expected value of the metric in the period, reconciled across levels"),
        **_FORECAST_INTERVAL_DOCS,
    },
    "ml.product_demand": {
        "product_id": _d("the product's id (SKU)"),
        "product_name": _d("the product's latest name in the order lines"),
        "category": _d("the product's category"),
        "rank": _d("1 = the product with the most units sold over the 13 weeks before as_of"),
        **_FORECAST_PERIOD_DOCS,
        "forecast": _d("expected units sold in the week (all channels and stores)"),
        **_FORECAST_INTERVAL_DOCS,
        "recent_weekly_units": _d("units sold per week over the 13 weeks before as_of"),
        "history_weeks": _d("weeks of the product's sales history before as_of"),
        "dispersion": _d(
            "negative binomial dispersion of the weekly units (0: Poisson); widens the intervals"
        ),
        "method": _d("how the forecast was made (recent rate x the category's season)"),
        "note": _d("why the product's forecast is simpler than usual, when it is"),
    },
    "ml.stockout_risk": {
        "product_id": _d("the product's id (SKU)"),
        "store_id": _d("the store holding the stock; null = the online warehouse"),
        "counted_at": _d("when the stock was counted (the latest count on or before as_of)"),
        "on_hand_units": _d("units on hand at the count"),
        "location_share": _d(
            "share of the product's units this location sold over the 26 weeks before as_of"
        ),
        "weekly_demand": _d("expected units per week at this location over the lead time"),
        "lead_time_demand": _d("expected units at this location over the lead time"),
        "weeks_of_cover": _d("weeks the stock on hand lasts at the expected demand"),
        "run_out_date": _d("the day the stock is expected to run out; null = after the horizon"),
        "p_stockout_before_lead_time": _d(
            "probability that demand over the lead time exceeds the stock on hand"
        ),
        "at_risk": _d("true when the stock lasts less than the lead time (models.forecast)"),
        "note": _d("why a figure is missing or simpler, when it is"),
    },
    "ml.customer_ltv": _described(LTV_COLUMNS),
    "ml.uplift_scores": _described(UPLIFT_SCORE_COLUMNS),
    "activation.customer_360": {c.name: _d(c.description, c.pii) for c in CUSTOMER_360_COLUMNS},
}
TABLE_COLUMNS["activation.campaign_exports"] = TABLE_COLUMNS["activation.audience_exports"]
TABLE_COLUMNS["core.orders"] |= {"amount": _d("order total in the order's `currency`")}


def raw_doc(column: str, fields: tuple[str, ...], kind: str) -> ColumnDoc:
    """A column of a raw table: a lineage column, or a source column as read (text), described
    by the canonical fields it is mapped to (none: unmapped). An unmapped column's content is
    unknown, so it is tagged as personal data, like staging's `attributes`."""
    if column in SHARED_COLUMNS and (column.startswith("_") or column in LINEAGE_COLUMNS):
        return SHARED_COLUMNS[column]
    if not fields:
        return ColumnDoc(
            "source column as read (text), not mapped: kept in staging `attributes`; may hold "
            "personal data",
            pii=True,
        )
    docs = [(field, canonical_doc(kind, field)) for field in fields]
    meanings = "; ".join(
        f"`{field}`: {doc.description if doc is not None and doc.described else field}"
        for field, doc in docs
    )
    pii = any(doc is not None and doc.pii for _, doc in docs)
    return ColumnDoc(f"as read (text); staged as {meanings}", pii)


def column_doc(
    schema: str,
    table: str,
    column: str,
    *,
    kind: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> ColumnDoc:
    """The description and PII flag of `schema.table.column`. `kind` is the canonical kind of
    a staging table's source or of a core fact table; `extra` holds descriptions the table's domain module writes next
    to its code (they win over the shared ones)."""
    own = TABLE_COLUMNS.get(f"{schema}.{table}", {})
    if column in own:
        return own[column]
    if extra and column in extra:
        return ColumnDoc(extra[column], column in PII_COLUMNS)
    if kind is not None:
        staged = canonical_doc(kind, column)
        if staged is not None:
            return staged
    if column in SHARED_COLUMNS:
        return SHARED_COLUMNS[column]
    return ColumnDoc(UNDESCRIBED, column in PII_COLUMNS)
